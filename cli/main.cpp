// plano-operator: one binary, one subcommand per job.
#include <iostream>
#include <string>
#include <vector>

#include "cli/offline_commands.h"
#include "cli/server_commands.h"

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  const std::string usage =
      "usage: plano-operator COMMAND [flags]\n"
      "  validate   check manifests offline with the operator's rules\n"
      "  render     print the Plano config each gateway in the manifests would run\n"
      "  operator   run the operator (controller manager); --help for flags\n"
      "  webhook    run the validating admission webhook; --help for flags\n";
  if (args.empty() || args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
    std::cout << usage;
    return args.empty() ? plano::cli::kExitUsage : 0;
  }
  const std::string command = args[0];
  args.erase(args.begin());
  if (command == "validate") return plano::cli::validate_command(args, std::cout, std::cerr);
  if (command == "render") return plano::cli::render_command(args, std::cout, std::cerr);
  if (command == "operator") return plano::cli::operator_command(args, std::cout, std::cerr);
  if (command == "webhook") return plano::cli::webhook_command(args, std::cout, std::cerr);
  std::cerr << "plano-operator: unknown command \"" << command << "\"\n" << usage;
  return plano::cli::kExitUsage;
}
