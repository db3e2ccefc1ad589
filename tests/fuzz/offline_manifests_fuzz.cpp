// Fuzzes the offline CLI on one multi-document YAML input read from stdin: `validate -o json`
// and `render`, as CI pipelines run them. Any input must end in an exit code, never a crash.
#include <cstddef>
#include <cstdint>
#include <iostream>
#include <sstream>
#include <string>

#include "cli/offline_commands.h"

namespace {

int run(int (*command)(const std::vector<std::string>&, std::ostream&, std::ostream&),
        const std::vector<std::string>& args, const std::string& input) {
  std::istringstream in(input);
  std::ostringstream out, err;
  auto* saved = std::cin.rdbuf(in.rdbuf());
  int code = command(args, out, err);
  std::cin.rdbuf(saved);
  return code;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace plano::cli;
  const std::string input(reinterpret_cast<const char*>(data), size);
  for (int code : {run(validate_command, {"-f", "-", "-o", "json"}, input), run(render_command, {"-f", "-"}, input)}) {
    if (code != kExitOk && code != kExitInvalid && code != kExitUsage) __builtin_trap();
  }
  return 0;
}
