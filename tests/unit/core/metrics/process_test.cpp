#include "core/metrics/process.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <ctime>
#include <cstdlib>
#include <map>
#include <sstream>
#include <string>
#include <vector>

namespace plano::metrics {
namespace {

// name -> value of every unlabelled sample in `text`, and name -> type from its # TYPE lines.
struct Exposition {
  std::map<std::string, double> values;
  std::map<std::string, std::string> types;
};

Exposition parse(const std::string& text) {
  Exposition out;
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    std::istringstream words(line);
    std::string first, second, third;
    words >> first >> second >> third;
    if (first == "#" && second == "TYPE") {
      out.types[third] = line.substr(line.rfind(' ') + 1);
    } else if (first != "#") {
      out.values[first] = std::strtod(second.c_str(), nullptr);
    }
  }
  return out;
}

double process_cpu_seconds() {
  timespec t{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_nsec) / 1e9;
}

double now_seconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

TEST(ProcessMetrics, NamesAndTypesAreThoseOfPrometheusClientLibraries) {
  Registry registry;
  register_process_metrics(registry);
  const auto exposition = parse(registry.render());
  EXPECT_EQ(exposition.types, (std::map<std::string, std::string>{{"process_cpu_seconds_total", "counter"},
                                                                   {"process_max_fds", "gauge"},
                                                                   {"process_open_fds", "gauge"},
                                                                   {"process_resident_memory_bytes", "gauge"},
                                                                   {"process_start_time_seconds", "gauge"},
                                                                   {"process_virtual_memory_bytes", "gauge"}}));
}

TEST(ProcessMetrics, ValuesAreThoseOfThisProcessAtScrapeTime) {
  Registry registry;
  register_process_metrics(registry);
  const auto before = parse(registry.render()).values;

  // This test process started after boot and before now (the clock ticks are 10 ms).
  EXPECT_GT(before.at("process_start_time_seconds"), now_seconds() - 24 * 3600);
  EXPECT_LE(before.at("process_start_time_seconds"), now_seconds() + 0.02);
  rlimit limit{};
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &limit), 0);
  EXPECT_EQ(before.at("process_max_fds"), static_cast<double>(limit.rlim_cur));
  EXPECT_GE(before.at("process_open_fds"), 3);  // stdin, stdout, stderr

  // Touch 64 MiB and burn CPU for a while; open three more files.
  std::vector<char> memory(64 << 20);
  for (std::size_t i = 0; i < memory.size(); i += 4096) memory[i] = 1;
  asm volatile("" : : "r"(memory.data()) : "memory");  // the writes above must happen
  // CPU time, not wall time: on a busy machine this thread may wait for a core.
  const double cpu_until = process_cpu_seconds() + 0.3;
  while (process_cpu_seconds() < cpu_until) {
  }
  std::vector<int> fds;
  for (int i = 0; i < 3; ++i) fds.push_back(open("/dev/null", O_RDONLY));
  const auto after = parse(registry.render()).values;
  for (int fd : fds) close(fd);

  EXPECT_EQ(after.at("process_open_fds"), before.at("process_open_fds") + 3);
  EXPECT_GE(after.at("process_resident_memory_bytes"), before.at("process_resident_memory_bytes") + (60 << 20));
  EXPECT_GE(after.at("process_virtual_memory_bytes"), before.at("process_virtual_memory_bytes") + (60 << 20));
  EXPECT_GE(after.at("process_cpu_seconds_total"), before.at("process_cpu_seconds_total") + 0.2);
  EXPECT_EQ(after.at("process_start_time_seconds"), before.at("process_start_time_seconds"));
}

}  // namespace
}  // namespace plano::metrics
