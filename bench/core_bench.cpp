// Benchmarks (not tests) of the core on one gateway with N providers: manifest parsing, decoding,
// rules over the whole gateway, rendering, the operator's plan of a reconcile, and the webhook's
// per-request path (one provider judged against the gateway, and a whole AdmissionReview decoded,
// reviewed and encoded).
// Run: scripts/bench.sh core (or build/bench/bench_core with Google Benchmark's flags).
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "core/api/decode.h"
#include "core/io/documents.h"
#include "core/io/manifest_set.h"
#include "core/render/renderer.h"
#include "operator/gateway_plan.h"
#include "webhook/admission.h"

namespace {

using nlohmann::json;
using plano::api::ModelProvider;

// One gateway admitting every namespace and `providers` providers on it in 100 namespaces, half
// with a managed key, each with one routing preference; provider 0 is the default.
std::string manifests(int providers) {
  std::string out =
      "apiVersion: plano-operator.io/v1alpha1\nkind: PlanoGateway\nmetadata: {name: shared, namespace: platform}\n"
      "spec:\n  listeners: [{name: llm, type: model, port: 12000}]\n  allowedProviders: {namespaces: {from: All}, maxProvidersPerNamespace: 10000}\n";
  for (int i = 0; i < providers; ++i) {
    const auto n = std::to_string(i);
    out += "---\napiVersion: plano-operator.io/v1alpha1\nkind: ModelProvider\nmetadata: {name: p" + n +
           ", namespace: team-" + std::to_string(i % 100) + ", creationTimestamp: '2026-01-01T00:00:00Z'}\nspec:\n"
           "  gatewayRef: {name: shared, namespace: platform}\n"
           "  model: custom/model-" + n + "\n  baseURL: http://vllm-" + n + ".inference.svc:8000/v1\n"
           "  providerInterface: openai\n" +
           (i % 2 ? "  passthroughAuth: true\n" : "  accessKeySecretRef: {name: key-" + n + ", key: api-key}\n") +
           (i == 0 ? "  default: true\n" : "") + "  routingPreferences: [{name: pref-" + n + ", description: route " + n + "}]\n";
  }
  return out;
}

// The manifests decoded once, for the benchmarks that start from objects.
struct Gateway {
  plano::io::ManifestSet set;
  plano::rules::Evaluation evaluation;
  explicit Gateway(int providers)
      : set(plano::io::collect(plano::io::parse_documents(manifests(providers), "bench.yaml"))), evaluation(set.evaluate()) {}
  const plano::rules::GatewayResult& result() const { return evaluation.gateways.at("platform/shared"); }
};

const std::vector<int> kSizes = {100, 1000, 10000};

void sizes(benchmark::internal::Benchmark* b) {
  for (int n : kSizes) b->Arg(n);
  b->Unit(benchmark::kMicrosecond);
}

// p50 and p99 of the iterations' own durations, as counters in microseconds.
class Latencies {
 public:
  explicit Latencies(benchmark::State& state) : state_(state) {}
  void start() { start_ = std::chrono::steady_clock::now(); }
  void stop() { samples_.push_back(std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start_).count()); }
  ~Latencies() {
    if (samples_.empty()) return;
    std::sort(samples_.begin(), samples_.end());
    auto at = [&](double q) { return samples_[std::min(samples_.size() - 1, static_cast<std::size_t>(q * samples_.size()))]; };
    state_.counters["p50_us"] = at(0.50);
    state_.counters["p99_us"] = at(0.99);
  }

 private:
  benchmark::State& state_;
  std::chrono::steady_clock::time_point start_;
  std::vector<double> samples_;
};

void BM_Parse(benchmark::State& state) {
  const auto text = manifests(static_cast<int>(state.range(0)));
  for (auto _ : state) benchmark::DoNotOptimize(plano::io::parse_documents(text, "bench.yaml"));
}
BENCHMARK(BM_Parse)->Apply(sizes);

void BM_Decode(benchmark::State& state) {
  const auto documents = plano::io::parse_documents(manifests(static_cast<int>(state.range(0))), "bench.yaml");
  for (auto _ : state) benchmark::DoNotOptimize(plano::io::collect(documents));
}
BENCHMARK(BM_Decode)->Apply(sizes);

// Rules over the whole gateway, as the CLI and each operator reconcile run them.
void BM_EvaluateGateway(benchmark::State& state) {
  const Gateway g(static_cast<int>(state.range(0)));
  for (auto _ : state) benchmark::DoNotOptimize(g.set.evaluate());
}
BENCHMARK(BM_EvaluateGateway)->Apply(sizes);

void BM_Render(benchmark::State& state) {
  const Gateway g(static_cast<int>(state.range(0)));
  const auto& r = g.result();
  if (r.accepted.size() != static_cast<std::size_t>(state.range(0))) state.SkipWithError("not every provider was accepted");
  std::size_t bytes = 0;
  for (auto _ : state) {
    auto rendered = plano::render::render(*r.gateway, r.accepted);
    bytes = rendered.config.size();
    benchmark::DoNotOptimize(rendered);
  }
  state.counters["config_bytes"] = static_cast<double>(bytes);
}
BENCHMARK(BM_Render)->Apply(sizes);

// The operator's decisions in one reconcile of the gateway (rules, render, owned objects, every
// provider's status), in the steady state: the statuses of a first plan fed back, as the API
// server would hold them, so the plan finds nothing to write.
void BM_PlanGateway(benchmark::State& state) {
  Gateway g(static_cast<int>(state.range(0)));
  plano::op::GatewaySnapshot snap;
  snap.namespace_ = "platform";
  snap.name = "shared";
  snap.gateway = &g.set.gateways.front();
  for (const auto& p : g.set.providers) snap.providers.push_back(&p);
  snap.namespaceLabels = [](const std::string&) { return std::map<std::string, std::string>{}; };
  snap.secretData = [](const std::string&, const std::string&) -> std::optional<std::map<std::string, std::string>> {
    return std::map<std::string, std::string>{{"api-key", "sk-bench-value"}};
  };
  snap.now = "2026-12-06T12:00:00Z";
  auto first = plano::op::plan_gateway(snap);
  std::map<std::string, json> status_of;
  for (const auto& change : first.providerStatuses) status_of[change.namespace_ + "/" + change.name] = plano::op::status_json(change.status);
  for (auto& p : g.set.providers) {
    json object = {{"apiVersion", plano::api::kApiVersion}, {"kind", plano::api::kProviderKind}, {"metadata", {{"name", "x"}}},
                   {"spec", {{"gatewayRef", {{"name", "g"}}}, {"model", "a/b"}, {"passthroughAuth", true}}},
                   {"status", status_of.at(p.metadata.namespace_ + "/" + p.metadata.name)}};
    p.status = plano::api::decode_provider(object).object->status;
  }
  std::size_t writes = 0;
  for (auto _ : state) {
    auto plan = plano::op::plan_gateway(snap);
    writes = plan.providerStatuses.size();
    benchmark::DoNotOptimize(plan);
  }
  state.counters["status_writes"] = static_cast<double>(writes);
}
BENCHMARK(BM_PlanGateway)->Apply(sizes);

// The webhook's view of the gateway, as its cache holds it between changes.
std::shared_ptr<const plano::webhook::ClusterView> cluster_view(const Gateway& g) {
  std::vector<std::shared_ptr<const ModelProvider>> providers;
  for (const auto& p : g.set.providers) providers.push_back(std::make_shared<const ModelProvider>(p));
  return plano::webhook::make_view("platform/shared", {std::make_shared<const plano::api::PlanoGateway>(*g.result().gateway)},
                                   providers, [](const std::string&) { return std::map<std::string, std::string>{}; });
}

// A CREATE of one more provider, which the gateway accepts.
std::string create_review() {
  const json object = {
      {"apiVersion", "plano-operator.io/v1alpha1"},
      {"kind", "ModelProvider"},
      {"metadata", {{"name", "newcomer"}, {"namespace", "team-new"}, {"uid", "6f9619ff-8b86-d011-b42d-00c04fc964ff"}}},
      {"spec",
       {{"gatewayRef", {{"name", "shared"}, {"namespace", "platform"}}},
        {"model", "custom/model-new"},
        {"baseURL", "http://vllm-new.inference.svc:8000/v1"},
        {"providerInterface", "openai"},
        {"passthroughAuth", true},
        {"routingPreferences", json::array({{{"name", "pref-new"}, {"description", "route new"}}})}}}};
  const json review = {
      {"apiVersion", "admission.k8s.io/v1"},
      {"kind", "AdmissionReview"},
      {"request",
       {{"uid", "705ab4f5-6393-11e8-b7cc-42010a800002"},
        {"kind", {{"group", "plano-operator.io"}, {"version", "v1alpha1"}, {"kind", "ModelProvider"}}},
        {"resource", {{"group", "plano-operator.io"}, {"version", "v1alpha1"}, {"resource", "modelproviders"}}},
        {"operation", "CREATE"},
        {"namespace", "team-new"},
        {"name", "newcomer"},
        {"userInfo", {{"username", "alice"}, {"groups", json::array({"system:authenticated"})}}},
        {"object", object},
        {"dryRun", false}}}};
  return review.dump();
}

// The decoded provider the review below carries.
ModelProvider newcomer(const std::string& review_body) {
  auto decoded = plano::api::decode_provider(json::parse(review_body)["request"]["object"]);
  return std::move(*decoded.object);
}

// The rules' part of the webhook's per-request path: one provider judged against the gateway.
void BM_RulesOneProvider(benchmark::State& state) {
  const Gateway g(static_cast<int>(state.range(0)));
  const auto view = cluster_view(g);
  const auto candidate = newcomer(create_review());
  if (!plano::webhook::judge_provider(candidate, *view).errors.empty()) state.SkipWithError("the newcomer was refused");
  Latencies latencies(state);
  for (auto _ : state) {
    latencies.start();
    auto verdict = plano::webhook::judge_provider(candidate, *view);
    latencies.stop();
    benchmark::DoNotOptimize(verdict);
  }
}
BENCHMARK(BM_RulesOneProvider)->Apply(sizes);

// The webhook's whole per-request path: AdmissionReview decoded, judged, answer encoded.
void BM_AdmissionReview(benchmark::State& state) {
  const Gateway g(static_cast<int>(state.range(0)));
  const auto view = cluster_view(g);
  const plano::webhook::ClusterLookup lookup = [&view](const std::string&) { return view; };
  // The SubjectAccessReview a new Secret reference costs is an API call, not the core's work.
  const plano::webhook::SecretReadAccess readable = [](const nlohmann::json&, const std::string&, const std::string&) { return true; };
  const auto body = create_review();
  if (plano::webhook::review(body, lookup, readable).verdict != "allowed") state.SkipWithError("the newcomer was not allowed");
  Latencies latencies(state);
  for (auto _ : state) {
    latencies.start();
    auto answer = plano::webhook::review(body, lookup, readable).body.dump();
    latencies.stop();
    benchmark::DoNotOptimize(answer);
  }
}
BENCHMARK(BM_AdmissionReview)->Apply(sizes);

}  // namespace

BENCHMARK_MAIN();
