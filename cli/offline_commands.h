// The offline subcommands: `validate` and `render` run the same rules and renderer as the
// operator, on manifest files, for CI pipelines.
#pragma once

#include <iosfwd>
#include <string>
#include <vector>

namespace plano::cli {

// Exit codes shared by the offline commands.
inline constexpr int kExitOk = 0;
inline constexpr int kExitInvalid = 1;  // some object breaks a rule
inline constexpr int kExitUsage = 2;    // bad flags or unreadable input

// plano-operator validate -f PATH... [-o text|json]
int validate_command(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);
// plano-operator render -f PATH... [--gateway NS/NAME]
int render_command(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

}  // namespace plano::cli
