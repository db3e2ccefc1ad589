// Benchmark (not a test): parse, validate and render one gateway with N providers.
// Usage: bench_offline [N...]   (default 1000 10000)
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "core/io/documents.h"
#include "core/io/manifest_set.h"
#include "core/render/renderer.h"

namespace {

std::string manifests(int providers) {
  std::string out =
      "apiVersion: plano-operator.io/v1alpha1\nkind: PlanoGateway\nmetadata: {name: shared, namespace: platform}\n"
      "spec:\n  listeners: [{name: llm, type: model, port: 12000}]\n  allowedProviders: {namespaces: {from: All}}\n";
  for (int i = 0; i < providers; ++i) {
    const auto n = std::to_string(i);
    out += "---\napiVersion: plano-operator.io/v1alpha1\nkind: ModelProvider\nmetadata: {name: p" + n +
           ", namespace: team-" + std::to_string(i % 100) + "}\nspec:\n  gatewayRef: {name: shared, namespace: platform}\n"
           "  model: custom/model-" + n + "\n  baseURL: http://vllm-" + n + ".inference.svc:8000/v1\n"
           "  providerInterface: openai\n" +
           (i % 2 ? "  passthroughAuth: true\n" : "  accessKeySecretRef: {name: key-" + n + ", key: api-key}\n") +
           (i == 0 ? "  default: true\n" : "") + "  routingPreferences: [{name: pref-" + n + ", description: route " + n + "}]\n";
  }
  return out;
}

double ms_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t).count();
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<int> sizes;
  for (int i = 1; i < argc; ++i) sizes.push_back(std::stoi(argv[i]));
  if (sizes.empty()) sizes = {1000, 10000};
  std::printf("%10s %10s %10s %10s %10s %10s\n", "providers", "parse_ms", "decode_ms", "rules_ms", "render_ms", "total_ms");
  for (int n : sizes) {
    const auto text = manifests(n);
    auto t0 = std::chrono::steady_clock::now();
    auto t = t0;
    auto docs = plano::io::parse_documents(text, "bench.yaml");
    double parse = ms_since(t);
    t = std::chrono::steady_clock::now();
    auto set = plano::io::collect(docs);
    double decode = ms_since(t);
    t = std::chrono::steady_clock::now();
    auto ev = set.evaluate();
    double rules = ms_since(t);
    t = std::chrono::steady_clock::now();
    const auto& g = ev.gateways.at("platform/shared");
    auto rendered = plano::render::render(*g.gateway, g.accepted);
    double render = ms_since(t);
    if (g.accepted.size() != static_cast<std::size_t>(n)) {
      std::fprintf(stderr, "expected %d accepted providers, got %zu\n", n, g.accepted.size());
      return 1;
    }
    std::printf("%10d %10.1f %10.1f %10.1f %10.1f %10.1f   (%zu config bytes, %zu keys)\n", n, parse, decode, rules,
                render, ms_since(t0), rendered.config.size(), rendered.keys.size());
  }
  return 0;
}
