// The real plano-operator binary as a child process (any server subcommand), for end-to-end tests.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <string>
#include <vector>

namespace plano::testing {

class OperatorProcess {
 public:
  // Starts `plano-operator <subcommand>` (operator or webhook) with `args` after --kubeconfig and
  // --probe-address 127.0.0.1:0; output goes to `log_path`.
  OperatorProcess(const std::string& kubeconfig, std::vector<std::string> args, std::string log_path,
                  const std::string& subcommand = "operator");
  ~OperatorProcess();
  OperatorProcess(const OperatorProcess&) = delete;
  OperatorProcess& operator=(const OperatorProcess&) = delete;

  void terminate();  // SIGTERM, then wait (SIGKILL after 15 s)
  void kill9();      // SIGKILL, then wait
  bool running() const { return pid_ > 0; }
  pid_t pid() const { return pid_; }
  std::string log() const;
  // The port of /metrics, read from the log once the server is up (0 if not yet).
  int probe_port() const;
  // GET /metrics and return the value of a sample line starting with `series` (-1 if absent).
  double metric(const std::string& series) const;

 private:
  void wait_exit(std::chrono::seconds timeout);
  pid_t pid_ = -1;
  std::string log_path_;
};

// Runs a command, returns its exit code; stdout+stderr into `output`.
int run_command(const std::string& command, std::string* output = nullptr);

}  // namespace plano::testing
