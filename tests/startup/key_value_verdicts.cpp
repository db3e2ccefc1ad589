// The renderer's key value predicate (render::key_value_problem, or with --connection-strings
// render::connection_string_problem) as a filter for tests/startup/key_values_test.py: reads JSON
// strings, one a line, and prints for each {"problem": "..."}, "" when the operator would render a
// provider with that key (a gateway with that Postgres connection string).
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>

#include "core/render/renderer.h"

int main(int argc, char** argv) {
  const auto problem = argc > 1 && std::string(argv[1]) == "--connection-strings" ? plano::render::connection_string_problem
                                                                                  : plano::render::key_value_problem;
  for (std::string line; std::getline(std::cin, line);) {
    const auto value = nlohmann::json::parse(line).get<std::string>();
    std::cout << nlohmann::json{{"problem", problem(value).value_or("")}}.dump() << "\n";
  }
  return 0;
}
