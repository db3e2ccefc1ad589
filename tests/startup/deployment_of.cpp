// The Deployment the operator writes for a gateway (op::desired_deployment), for
// tests/startup/offline_start_test.py: reads one PlanoGateway as JSON on stdin, prints the
// Deployment as JSON; exits 1 with the decoder's errors if the gateway does not decode.
#include <iostream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <string>

#include "core/api/decode.h"
#include "operator/desired_objects.h"

int main() {
  const std::string text{std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>()};
  const auto decoded = plano::api::decode_gateway(nlohmann::json::parse(text));
  if (!decoded.object || !decoded.errors.empty()) {
    for (const auto& e : decoded.errors) std::cerr << e.path << ": " << e.message << "\n";
    return 1;
  }
  std::cout << plano::op::desired_deployment(*decoded.object, "hash", "2026-01-01T00:00:00Z").dump(2) << "\n";
  return 0;
}
