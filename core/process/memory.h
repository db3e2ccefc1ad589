// Handing freed heap back to the system after a peak (a list, a large reconcile): glibc keeps
// freed memory mapped unless asked.
#pragma once

namespace plano::process {

// malloc_trim(0). A no-op under AddressSanitizer or ThreadSanitizer: their allocator owns the heap,
// and glibc's arenas, never set up there, are set up by the first malloc_trim without a lock, so two
// threads trimming at once crash.
void give_back_free_memory();

}  // namespace plano::process
