#include "core/metrics/process.h"

#include <sys/resource.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <sstream>
#include <string>
#include <system_error>
#include <vector>

namespace plano::metrics {
namespace {

// The fields of /proc/self/stat after the command name, which may itself hold spaces and
// parentheses: fields()[0] is field 3 (state) of proc(5).
std::vector<std::string> stat_fields() {
  std::ifstream in("/proc/self/stat");
  std::string line((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto close = line.rfind(')');
  if (close == std::string::npos) return {};
  std::istringstream rest(line.substr(close + 1));
  return {std::istream_iterator<std::string>(rest), std::istream_iterator<std::string>()};
}

// proc(5) field number N (1-based) from stat_fields(); 0 when the kernel did not give it.
double stat_field(const std::vector<std::string>& fields, std::size_t n) {
  return n >= 3 && n - 3 < fields.size() ? std::stod(fields[n - 3]) : 0;
}

// Seconds since the epoch at which the system booted ("btime" in /proc/stat).
double boot_time() {
  std::ifstream in("/proc/stat");
  std::string key;
  double value = 0;
  while (in >> key) {
    if (key == "btime") {
      in >> value;
      return value;
    }
    in.ignore(std::numeric_limits<std::streamsize>::max(), '\n');
  }
  return 0;
}

double open_fds() {
  std::error_code ec;
  double n = 0;
  for (std::filesystem::directory_iterator it("/proc/self/fd", ec), end; !ec && it != end; it.increment(ec)) ++n;
  return n;
}

double max_fds() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return 0;
  return limit.rlim_cur == RLIM_INFINITY ? std::numeric_limits<double>::infinity() : static_cast<double>(limit.rlim_cur);
}

}  // namespace

void register_process_metrics(Registry& registry) {
  auto& cpu = registry.counter("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.").labels();
  auto& resident = registry.gauge("process_resident_memory_bytes", "Resident memory size in bytes.").labels();
  auto& virtual_memory = registry.gauge("process_virtual_memory_bytes", "Virtual memory size in bytes.").labels();
  auto& start = registry.gauge("process_start_time_seconds", "Start time of the process since unix epoch in seconds.").labels();
  auto& open = registry.gauge("process_open_fds", "Number of open file descriptors.").labels();
  auto& max = registry.gauge("process_max_fds", "Maximum number of open file descriptors.").labels();
  const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  const double page = static_cast<double>(sysconf(_SC_PAGESIZE));
  start.set(boot_time() + stat_field(stat_fields(), 22) / ticks);  // fixed for the life of the process
  registry.on_collect([&cpu, &resident, &virtual_memory, &open, &max, ticks, page] {
    const auto fields = stat_fields();
    cpu.advance_to((stat_field(fields, 14) + stat_field(fields, 15)) / ticks);  // utime + stime
    virtual_memory.set(stat_field(fields, 23));
    resident.set(stat_field(fields, 24) * page);
    open.set(open_fds());
    max.set(max_fds());
  });
}

}  // namespace plano::metrics
