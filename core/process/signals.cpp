#include "core/process/signals.h"

#include <pthread.h>
#include <signal.h>

namespace plano::process {
namespace {

sigset_t termination_set() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  return set;
}

}  // namespace

void block_termination_signals() {
  auto set = termination_set();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

int wait_for_termination() {
  auto set = termination_set();
  int sig = 0;
  sigwait(&set, &sig);
  return sig;
}

}  // namespace plano::process
