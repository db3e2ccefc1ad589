#include "bench/bench_support.h"

#include <sched.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace plano::bench {

std::string root() { return PLANO_SOURCE_DIR; }

double ms_since(Clock::time_point t) { return std::chrono::duration<double, std::milli>(Clock::now() - t).count(); }

long rss_kib(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  }
  return -1;
}

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string run(const std::string& command) {
  std::string out;
  if (FILE* p = popen(command.c_str(), "r")) {
    char buf[4096];
    for (std::size_t n; (n = fread(buf, 1, sizeof buf, p)) > 0;) out.append(buf, n);
    pclose(p);
  }
  return out;
}

std::string bare_control_plane_up(const std::string& dir) {
  if (std::system(("PLANO_CP_BARE=1 " + root() + "/scripts/controlplane.sh up " + dir + " >/dev/null").c_str()) != 0) {
    throw std::runtime_error("control plane did not start");
  }
  const std::string kubeconfig = dir + "/kubeconfig";
  if (std::system(("kubectl --kubeconfig " + kubeconfig + " apply -f " + root() + "/crds >/dev/null && kubectl --kubeconfig " +
                   kubeconfig + " wait --for condition=established crd --all --timeout=60s >/dev/null").c_str()) != 0) {
    throw std::runtime_error("CRDs not established");
  }
  return kubeconfig;
}

void control_plane_down(const std::string& dir) {
  if (std::system((root() + "/scripts/controlplane.sh down " + dir + " >/dev/null").c_str()) != 0) {
    std::fprintf(stderr, "control plane in %s did not stop cleanly\n", dir.c_str());
  }
}

namespace {

// The CPU set of `cpus`, or of every CPU when it is empty.
cpu_set_t cpu_set_of(const std::vector<int>& cpus) {
  cpu_set_t set;
  CPU_ZERO(&set);
  const int all = static_cast<int>(std::thread::hardware_concurrency());
  for (int cpu = 0; cpu < all; ++cpu) {
    if (cpus.empty() || std::find(cpus.begin(), cpus.end(), cpu) != cpus.end()) CPU_SET(cpu, &set);
  }
  return set;
}

}  // namespace

void pin_control_plane(const std::string& dir, const std::vector<int>& cpus) {
  const cpu_set_t set = cpu_set_of(cpus);
  for (const auto& file : std::filesystem::directory_iterator(dir)) {
    if (file.path().extension() != ".pid") continue;
    std::string pid = slurp(file.path());
    pid.erase(pid.find_last_not_of(" \n") + 1);
    std::error_code ec;
    for (const auto& task : std::filesystem::directory_iterator("/proc/" + pid + "/task", ec)) {
      if (sched_setaffinity(std::stoi(task.path().filename()), sizeof set, &set) != 0) {
        throw std::runtime_error("cannot set the CPUs of thread " + task.path().filename().string() + " of " + file.path().string());
      }
    }
    if (ec) throw std::runtime_error("no process " + pid + " (" + file.path().string() + "): " + ec.message());
  }
}

Operator::Operator(const std::string& binary, const std::string& kubeconfig, std::string log_path, const std::vector<int>& cpus)
    : log(std::move(log_path)) {
  const cpu_set_t set = cpu_set_of(cpus);
  started = Clock::now();
  pid = fork();
  if (pid == 0) {
    if (sched_setaffinity(0, sizeof set, &set) != 0) _exit(125);
    if (!freopen(log.c_str(), "w", stderr) || !freopen(log.c_str(), "a", stdout)) _exit(126);
    execl(binary.c_str(), binary.c_str(), "operator", "--kubeconfig", kubeconfig.c_str(), "--probe-address",
          "127.0.0.1:0", "--leader-elect=false", nullptr);
    _exit(127);
  }
}

Operator::~Operator() {
  kill(pid, SIGTERM);
  waitpid(pid, nullptr, 0);
}

int Operator::probe_port() const {
  static const std::regex line("/readyz on [^:]+:([0-9]+)");
  std::smatch m;
  const auto text = slurp(log);
  return std::regex_search(text, m, line) ? std::stoi(m[1]) : 0;
}

std::string Operator::get(const std::string& path) const {
  const int port = probe_port();
  if (!port) return "";
  return run("curl -s -o /dev/stdout -w ' HTTP%{http_code}' http://127.0.0.1:" + std::to_string(port) + path + " 2>/dev/null");
}

double Operator::counter(const std::string& name) const {
  const auto prefix = name.find('{') == std::string::npos ? name + "{" : name;
  double total = 0;
  std::istringstream in(get("/metrics"));
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(prefix, 0) == 0) total += std::stod(line.substr(line.rfind(' ') + 1));
  }
  return total;
}

void create_all(kube::Client& c, const kube::Resource& r, const std::vector<nlohmann::json>& objects) {
  constexpr std::size_t kThreads = 8;
  std::vector<std::thread> pool;
  for (std::size_t t = 0; t < kThreads; ++t) {
    pool.emplace_back([&, t] {
      for (std::size_t i = t; i < objects.size(); i += kThreads) c.create(r, objects[i]["metadata"]["namespace"], objects[i]);
    });
  }
  for (auto& th : pool) th.join();
}

}  // namespace plano::bench
