// What the operator benchmarks share: a bare local control plane with the CRDs, the operator as a
// child process with its probe and metrics endpoints, and parallel creates.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/kube/client.h"

namespace plano::bench {

using Clock = std::chrono::steady_clock;

std::string root();
double ms_since(Clock::time_point t);
long rss_kib(pid_t pid);
std::string slurp(const std::string& path);
// Output of a shell command (curl for the probe endpoints keeps the benchmarks free of an HTTP client).
std::string run(const std::string& command);

// scripts/controlplane.sh up with PLANO_CP_BARE=1 (no controllers: the figures are the operator's
// alone), then the CRDs, established; returns the kubeconfig path. Throws when either fails.
std::string bare_control_plane_up(const std::string& dir);
void control_plane_down(const std::string& dir);
// Every thread of the control plane in `dir` (its *.pid files) onto `cpus`; an empty list is all of them.
void pin_control_plane(const std::string& dir, const std::vector<int>& cpus);

// `plano-operator operator` against the kubeconfig, no leader election, its output in log_path;
// SIGTERM and reaped when destroyed.
struct Operator {
  pid_t pid = -1;
  std::string log;
  Clock::time_point started;

  // cpus: the CPUs it may run on (empty: any).
  Operator(const std::string& binary, const std::string& kubeconfig, std::string log_path, const std::vector<int>& cpus = {});
  ~Operator();
  Operator(const Operator&) = delete;
  Operator& operator=(const Operator&) = delete;
  int probe_port() const;
  std::string get(const std::string& path) const;
  // Sum of the series in /metrics of a counter ("name") or of those with given labels ("name{kind=\"event\"").
  double counter(const std::string& name) const;
};

// Creates the objects from 8 clients at once.
void create_all(kube::Client& c, const kube::Resource& r, const std::vector<nlohmann::json>& objects);

}  // namespace plano::bench
