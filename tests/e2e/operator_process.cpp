#include "tests/e2e/operator_process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <fstream>
#include <regex>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace plano::testing {

OperatorProcess::OperatorProcess(const std::string& kubeconfig, std::vector<std::string> args, std::string log_path,
                                 const std::string& subcommand)
    : log_path_(std::move(log_path)) {
  std::vector<std::string> argv = {PLANO_BINARY, subcommand, "--kubeconfig", kubeconfig, "--probe-address", "127.0.0.1:0"};
  argv.insert(argv.end(), args.begin(), args.end());
  pid_ = fork();
  if (pid_ < 0) throw std::runtime_error("fork failed");
  if (pid_ == 0) {
    int fd = open(log_path_.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    dup2(fd, 1);
    dup2(fd, 2);
    std::vector<char*> cargs;
    for (auto& a : argv) cargs.push_back(a.data());
    cargs.push_back(nullptr);
    execv(cargs[0], cargs.data());
    _exit(127);
  }
}

OperatorProcess::~OperatorProcess() {
  if (running()) terminate();
}

void OperatorProcess::wait_exit(std::chrono::seconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ::kill(pid_, SIGKILL);
  waitpid(pid_, nullptr, 0);
  pid_ = -1;
}

void OperatorProcess::terminate() {
  if (!running()) return;
  ::kill(pid_, SIGTERM);
  wait_exit(std::chrono::seconds(15));
}

void OperatorProcess::kill9() {
  if (!running()) return;
  ::kill(pid_, SIGKILL);
  wait_exit(std::chrono::seconds(5));
}

std::string OperatorProcess::log() const {
  std::ifstream in(log_path_);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

int OperatorProcess::probe_port() const {
  // The operator's line, then the webhook's ("..., probes and metrics on HOST:PORT").
  static const std::regex line("(?:serving /metrics, /healthz, /readyz|probes and metrics) on [^:]+:([0-9]+)");
  std::smatch m;
  auto text = log();
  if (std::regex_search(text, m, line)) return std::stoi(m[1]);
  return 0;
}

double OperatorProcess::metric(const std::string& series) const {
  int port = probe_port();
  if (!port) return -1;
  std::string out;
  if (run_command("curl -sf http://127.0.0.1:" + std::to_string(port) + "/metrics", &out) != 0) return -1;
  std::istringstream lines(out);
  for (std::string l; std::getline(lines, l);) {
    if (l.rfind(series + " ", 0) == 0) return std::stod(l.substr(series.size() + 1));
  }
  return -1;
}

int run_command(const std::string& command, std::string* output) {
  std::string cmd = command + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return -1;
  std::array<char, 4096> buf;
  std::string out;
  while (auto n = fread(buf.data(), 1, buf.size(), p)) out.append(buf.data(), n);
  int status = pclose(p);
  if (output) *output = out;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

}  // namespace plano::testing
