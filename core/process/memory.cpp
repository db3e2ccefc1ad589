#include "core/process/memory.h"

#include <malloc.h>

namespace plano::process {

void give_back_free_memory() {
#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
  malloc_trim(0);
#endif
}

}  // namespace plano::process
