// Fuzzes the webhook's pure review: any request body must give a 200 verdict or a 400 Status,
// never a crash, and the answer must serialize (the server dumps it to JSON).
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "core/api/decode.h"
#include "webhook/admission.h"

namespace {

using nlohmann::json;
using namespace plano;

// A cluster holding one gateway and one provider on it, so requests naming platform/shared
// reach the cross-object rules (conflicts, defaults, namespace policy).
std::shared_ptr<const webhook::ClusterView> shared_gateway_view() {
  static const auto gateway = std::make_shared<const api::PlanoGateway>(*api::decode_gateway(json::parse(R"({
    "apiVersion": "plano-operator.io/v1alpha1", "kind": "PlanoGateway",
    "metadata": {"name": "shared", "namespace": "platform", "creationTimestamp": "2026-01-01T00:00:00Z"},
    "spec": {"listeners": [{"name": "llm", "type": "model", "port": 12000}],
             "allowedProviders": {"namespaces": {"from": "Selector", "selector": {"matchLabels": {"tenant": "true"}}}}}
  })")).object);
  static const auto provider = std::make_shared<const api::ModelProvider>(*api::decode_provider(json::parse(R"({
    "apiVersion": "plano-operator.io/v1alpha1", "kind": "ModelProvider",
    "metadata": {"name": "gpt4", "namespace": "team-a", "creationTimestamp": "2026-01-01T00:00:00Z"},
    "spec": {"gatewayRef": {"name": "shared", "namespace": "platform"}, "model": "openai/gpt-4o",
             "passthroughAuth": true, "default": true}
  })")).object);
  static const auto view = webhook::make_view("platform/shared", {gateway}, {provider}, [](const std::string& ns) {
    return ns == "team-a" ? std::map<std::string, std::string>{{"tenant", "true"}} : std::map<std::string, std::string>{};
  });
  return view;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string body(reinterpret_cast<const char*>(data), size);
  auto out = webhook::review(
      body,
      [](const std::string& key) {
        return key == "platform/shared" ? shared_gateway_view() : webhook::make_view(key, {}, {}, [](const std::string&) { return std::map<std::string, std::string>{}; });
      },
      // Which users may read which Secrets is the API server's answer; here the Secret's name decides.
      [](const nlohmann::json&, const std::string&, const std::string& name) { return name.size() % 2 == 0; });
  if (out.httpStatus != 200 && out.httpStatus != 400) __builtin_trap();
  (void)out.body.dump();
  return 0;
}
