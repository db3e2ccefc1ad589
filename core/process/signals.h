// Termination signals for long-running subcommands: every thread is started with SIGTERM and
// SIGINT blocked, and the main thread takes them synchronously, so shutdown runs in plain code.
#pragma once

namespace plano::process {

// Call first in main's thread, before any other thread starts.
void block_termination_signals();
// Blocks until SIGTERM or SIGINT arrives; returns the signal number.
int wait_for_termination();

}  // namespace plano::process
