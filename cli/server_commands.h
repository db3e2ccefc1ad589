// The long-running subcommands: `operator` (the controller manager) and `webhook`.
#pragma once

#include <iosfwd>
#include <string>
#include <vector>

namespace plano::cli {

// plano-operator operator [flags]; see --help.
int operator_command(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);
// plano-operator webhook [flags]: the validating admission webhook.
int webhook_command(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

}  // namespace plano::cli
