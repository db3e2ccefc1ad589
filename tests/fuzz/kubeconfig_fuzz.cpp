// Fuzzes kubeconfig parsing: any text must give a configuration or a ConfigError. Relative
// file references resolve under a directory that does not exist, so inputs stay self-contained.
#include <cstddef>
#include <cstdint>
#include <string>

#include "core/kube/config.h"
#include "core/kube/errors.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    auto config = plano::kube::parse_kubeconfig(text, "/nonexistent/plano-fuzz", {}, "fuzz");
    if (config.token) (void)config.token->token();
  } catch (const plano::kube::ConfigError&) {
    // The documented failure; anything else escaping is a finding.
  }
  return 0;
}
