// Property: every object the operator writes for a gateway its rules accept is one the real
// kube-apiserver accepts. Random PlanoGateways and ModelProviders within the CRDs' schemas go
// through the API server (dry-run create: the CRDs' schema, CEL and defaults), then the project's
// rules; for each gateway the rules accept, plan_gateway's ConfigMap, Secret, Deployment, Service
// and NetworkPolicy are dry-run created in turn. Cases come from a fixed seed (printed);
// PLANO_PROPERTY_CASES and PLANO_PROPERTY_SEED run more or others (docs/reliability.md).
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
#include <random>
#include <regex>
#include <string>
#include <thread>
#include <variant>
#include <vector>

#include "core/api/decode.h"
#include "core/kube/errors.h"
#include "core/rules/evaluation.h"
#include "core/rules/object_rules.h"
#include "operator/desired_objects.h"
#include "operator/gateway_plan.h"
#include "tests/support/control_plane.h"

namespace plano {
namespace {

using nlohmann::json;

constexpr std::uint64_t kDefaultSeed = 20261206;
constexpr int kDefaultCases = 500;
const kube::WriteOptions kDryRun{"", true};

std::uint64_t env_number(const char* name, std::uint64_t fallback) {
  const char* text = std::getenv(name);
  return text && *text ? std::stoull(text) : fallback;
}

// Random values within the CRDs' schemas, biased toward the edges (longest names, odd characters).
class Generator {
 public:
  explicit Generator(std::uint64_t seed) : rng_(seed) {}

  int between(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng_); }
  bool chance(int percent) { return between(1, 100) <= percent; }
  template <typename T>
  const T& pick(const std::vector<T>& options) { return options[static_cast<std::size_t>(between(0, static_cast<int>(options.size()) - 1))]; }

  std::string from(const std::string& alphabet, int length) {
    std::string out;
    for (int i = 0; i < length; ++i) out += alphabet[static_cast<std::size_t>(between(0, static_cast<int>(alphabet.size()) - 1))];
    return out;
  }
  // A length in [lo, hi], the upper bound itself one time in four.
  int length(int lo, int hi) { return chance(25) ? hi : between(lo, hi); }

  std::string gateway_name() {  // ^[a-z]([-a-z0-9]*[a-z0-9])?$, at most 57
    const int n = length(1, 57);
    if (n == 1) return from(kLower, 1);
    return from(kLower, 1) + from(kLower + kDigits + "-", n - 2) + from(kLower + kDigits, 1);
  }
  std::string listener_name() {  // ^[a-z0-9]([-a-z0-9_]*[a-z0-9])?$, at most 63
    switch (between(0, 3)) {
      case 0: return pick<std::string>({"model_listener", "llm", "egress_traffic", "a", "0", "model-listener", "x_y", "a__b", "a_-_b"});
      case 1: return from(kDigits, length(1, 20));
      default: {
        const int n = length(1, 63);
        if (n == 1) return from(kLower + kDigits, 1);
        return from(kLower + kDigits, 1) + from(kLower + kDigits + "-_", n - 2) + from(kLower + kDigits, 1);
      }
    }
  }
  int port() {
    static const std::vector<int> reserved{10000, 10001, 11000, 12001, 9091, 9092, 9901};
    while (true) {
      const int p = chance(20) ? pick<int>({1024, 65535, 12000, 8080, 443 + 1024}) : between(1024, 65535);
      if (std::find(reserved.begin(), reserved.end(), p) == reserved.end()) return p;
    }
  }
  // Label keys and values of several shapes: prefixed, long, and now and then odd characters that
  // the schema lets through but Kubernetes' label syntax does not.
  std::string label_key() {
    if (chance(8)) return from(kAlnum + "-_./: ", length(1, 70));
    switch (between(0, 4)) {
      case 0: return pick<std::string>({"team", "kubernetes.io/metadata.name", "example.com/tier", "app.kubernetes.io/part-of"});
      case 1: return from(kLower, 1) + from(kLower + kDigits + "-_.", length(0, 61)) + from(kLower, 1);
      case 2: return from(kLower, length(1, 40)) + "." + from(kLower, 3) + "/" + from(kAlnum, length(1, 63));
      default: return from(kAlnum, length(1, 63));
    }
  }
  std::string label_value() {
    if (chance(8)) return from(kAlnum + "-_. /", length(1, 63));
    switch (between(0, 3)) {
      case 0: return "";
      case 1: return from(kAlnum, 1) + from(kAlnum + "-_.", length(0, 61)) + from(kAlnum, 1);
      default: return from(kAlnum, length(1, 20));
    }
  }
  json label_map(int max) {
    json m = json::object();
    for (int i = between(0, max); i > 0; --i) m[label_key()] = label_value();
    return m;
  }
  json selector() {
    json s = json::object();
    if (chance(60)) s["matchLabels"] = label_map(4);
    if (chance(60)) {
      json expressions = json::array();
      for (int i = between(0, 3); i > 0; --i) {
        const auto op = pick<std::string>({"In", "NotIn", "Exists", "DoesNotExist"});
        json e = {{"key", label_key()}, {"operator", op}};
        if (op == "In" || op == "NotIn") {
          json values = json::array();
          for (int v = between(1, 3); v > 0; --v) values.push_back(label_value());
          e["values"] = values;
        }
        expressions.push_back(e);
      }
      s["matchExpressions"] = expressions;
    }
    return s;
  }
  std::string quantity_text() {
    const std::string number = pick<std::string>({from(kDigits, between(1, 4)), from(kDigits, between(1, 3)) + "." + from(kDigits, between(0, 3)),
                                                   "." + from(kDigits, between(1, 3)), "0", "+1", from(kDigits, between(10, 20))});
    const std::string suffix = pick<std::string>({"", "", "m", "n", "u", "k", "M", "G", "T", "P", "E", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei",
                                                   "e3", "E-2", "e+1", "e0"});
    return number + suffix;
  }
  // cpu, memory and ephemeral-storage take any amount; hugepages and extended resources whole
  // pages or units, a request equal to its limit, now and then not.
  json resources() {
    static const std::vector<std::string> names{"cpu", "memory", "ephemeral-storage", "cpu", "memory", "nvidia.com/gpu",
                                                "example.com/widget", "hugepages-2Mi", "gpu", "storage", "pods"};
    json limits = json::object(), requests = json::object();
    for (int i = between(0, 3); i > 0; --i) {
      const auto& name = pick(names);
      const bool whole = name.find('/') != std::string::npos || name.rfind("hugepages-", 0) == 0;
      if (whole && !chance(15)) {
        const auto amount = name[0] == 'h' ? std::to_string(2 * between(0, 8)) + "Mi" : std::to_string(between(0, 8));
        limits[name] = amount;
        if (chance(50)) requests[name] = amount;
        continue;
      }
      if (chance(80)) limits[name] = chance(15) ? json(between(0, 64)) : json(quantity_text());
      if (chance(60)) requests[name] = chance(15) ? json(between(0, 64)) : json(quantity_text());
    }
    json r = json::object();
    if (!limits.empty()) r["limits"] = limits;
    if (!requests.empty()) r["requests"] = requests;
    return r;
  }
  // Mostly what a Pod takes; now and then a combination it refuses (a value with Exists, no key
  // without Exists, tolerationSeconds without NoExecute, a long key).
  json toleration() {
    json t = json::object();
    const bool odd = chance(15);
    if (chance(80)) t["key"] = odd && chance(50) ? from(kAlnum + "-_./", length(1, 317)) : label_key();
    if (!t.contains("key") || chance(50)) t["operator"] = "Exists";
    else if (chance(60)) t["operator"] = "Equal";
    if ((t.value("operator", "") != "Exists" || odd) && chance(60)) t["value"] = label_value();
    if (chance(60)) t["effect"] = pick<std::string>({"NoSchedule", "PreferNoSchedule", "NoExecute"});
    if ((t.value("effect", "") == "NoExecute" || odd) && chance(50)) t["tolerationSeconds"] = between(-5, 3600);
    if (odd && t.contains("key") && chance(30)) t.erase("key");
    return t;
  }
  json annotations() {
    json m = json::object();
    if (chance(3)) {  // the CRD's most: 64 values of 4096 characters
      for (int i = 0; i < 64; ++i) m["example.com/a" + std::to_string(i)] = from(kAlnum, 4096);
      return m;
    }
    for (int i = between(0, 4); i > 0; --i) {
      m[chance(90) ? label_key() : from(kAlnum + "-_./", length(1, 300))] = from(kPrintable, length(0, 200));
    }
    return m;
  }
  std::string image() {
    if (chance(70)) return pick<std::string>({"katanemo/plano:0.4.39", "registry.example.com:5000/team/plano@sha256:" + from("0123456789abcdef", 64),
                                              "plano", "ghcr.io/katanemo/plano:latest"});
    return from(kPrintable, length(1, 512));
  }

  json gateway(const std::string& ns) {
    json listener = {{"name", listener_name()}, {"type", "model"}, {"port", port()}};
    if (chance(30)) listener["address"] = pick<std::string>({"0.0.0.0", "::"});
    if (chance(30)) listener["timeout"] = from(kDigits, between(1, 6)) + pick<std::string>({"ms", "s", "m", "h"});
    json spec = {{"listeners", json::array({listener})}};
    if (chance(30)) spec["configVersion"] = pick<std::string>({"v0.3.0", "v0.4.0"});
    json allowed = json::object();
    const auto from_ = pick<std::string>({"Same", "All", "Selector"});
    allowed["namespaces"] = {{"from", from_}};
    if (from_ == "Selector") allowed["namespaces"]["selector"] = selector();
    if (chance(50)) allowed["authModes"] = pick<json>({json::array({"Passthrough"}), json::array({"AccessKey"}), json::array({"AccessKey", "Passthrough"})});
    if (chance(30)) allowed["maxProvidersPerNamespace"] = pick<int>({1, 2, 100, 10000});
    spec["allowedProviders"] = allowed;
    json deployment = json::object();
    if (chance(50)) deployment["image"] = image();
    if (chance(50)) deployment["replicas"] = pick<int>({0, 1, 3, 1000});
    if (chance(60)) deployment["resources"] = resources();
    if (chance(40)) deployment["nodeSelector"] = label_map(4);
    if (chance(40)) {
      json tolerations = json::array();
      for (int i = between(1, 4); i > 0; --i) tolerations.push_back(toleration());
      deployment["tolerations"] = tolerations;
    }
    if (chance(50)) deployment["podAnnotations"] = annotations();
    if (chance(40)) deployment["serviceType"] = pick<std::string>({"ClusterIP", "NodePort", "LoadBalancer"});
    if (chance(30)) deployment["minRolloutInterval"] = from(kDigits, between(1, 9)) + pick<std::string>({"ms", "s", "m", "h"});
    spec["deployment"] = deployment;
    if (chance(60)) {
      json policy = {{"enabled", !chance(30)}};
      if (chance(60)) policy["clientNamespaces"] = selector();
      spec["networkPolicy"] = policy;
    }
    if (chance(30)) spec["tracing"] = tracing();
    if (chance(30)) {
      spec["stateStorage"] = chance(50) ? json{{"type", "Memory"}}
                                        : json{{"type", "Postgres"}, {"connectionStringSecretRef", {{"name", "state-db"}, {"key", "url"}}}};
    }
    if (chance(30)) spec["rateLimits"] = rate_limits();
    if (chance(40)) spec["modelMetrics"] = model_metrics();
    return {{"apiVersion", api::kApiVersion}, {"kind", api::kGatewayKind},
            {"metadata", {{"name", gateway_name()}, {"namespace", ns}}}, {"spec", spec}};
  }

  // Mostly valid, sometimes a header Plano never sees, a budget outside its u32, or a limit repeated
  // under another prefix of the same model_id.
  json rate_limits() {
    json limits = json::array();
    for (int i = between(1, 3); i > 0; --i) {
      const auto key = chance(90) ? "x-" + from(kLower + kDigits + "-", length(1, 30)) : pick<std::string>({"X-Team", "connection", "x team", "host"});
      const auto tokens = chance(90) ? std::int64_t{between(1, 1000000)} : pick<std::int64_t>({0, 4294967295, 4294967296});
      limits.push_back({{"model", pick<std::string>({"openai/gpt-4o", "vllm/meta-llama/Llama-3.1-8B-Instruct", "ollama/llama3", "mistral/*"})},
                        {"selector", {{"key", key}, {"value", from(kPrintable, length(1, 300))}}},
                        {"limit", {{"tokens", tokens}, {"unit", pick<std::string>({"second", "minute", "hour", "day"})}}}});
    }
    if (chance(10)) {
      auto again = limits[0];
      again["model"] = "azure_openai/" + again["model"].get<std::string>().substr(again["model"].get<std::string>().find('/') + 1);
      limits.push_back(again);
    }
    return limits;
  }

  // Mostly valid, sometimes an address with a variable, query or fragment, a query with a variable or
  // line break, or a refresh faster than every 10 seconds.
  json model_metrics() {
    auto url = [this] {
      return chance(85) ? pick<std::string>({"http://prometheus.monitoring:9090", "https://models.dev/api.json", "http://10.0.0.9:8080/v2/catalog"})
                        : pick<std::string>({"http://$HOME/x", "http://mirror/x?y=1", "ftp://mirror", "http://mirror/a b", "http://mirror/#x"});
    };
    auto refresh = [this] { return chance(90) ? between(10, 86400) : pick<int>({0, 9, 86401}); };
    json m = json::object();
    if (chance(70)) {
      json cost = {{"provider", pick<std::string>({"models.dev", "digitalocean"})}};
      if (chance(30)) cost["url"] = url();
      if (chance(50)) cost["refreshIntervalSeconds"] = refresh();
      if (chance(30)) cost["modelAliases"] = {{from(kAlnum + "-/", length(1, 40)), chance(90) ? "openai/gpt-4o" : from(kPrintable, length(1, 60))}};
      m["cost"] = cost;
    }
    if (m.empty() || chance(50)) {
      json latency = {{"url", url()}, {"query", chance(90) ? "sum by (model_name) (rate(x[5m]))" : from(kPrintable, length(1, 100)) + pick<std::string>({"$HOME", "\n- x", ""})}};
      if (chance(50)) latency["refreshIntervalSeconds"] = refresh();
      m["latency"] = latency;
    }
    return m;
  }

  // Mostly valid, sometimes one of the endpoints Plano's Envoy template would break on.
  json tracing() {
    json t = {{"endpoint", chance(85) ? "http://" + pick<std::string>({"otel-collector.observability.svc.cluster.local", "10.0.0.9", "otel"}) +
                                            ":" + std::to_string(between(1, 65535))
                                      : pick<std::string>({"http://otel:4317/", "https://otel:4317", "http://otel", "http://otel:70000",
                                                           "http://[::1]:4317", "http://otel:4317/v1/traces"})}};
    if (chance(50)) t["samplingPercent"] = between(0, 100);
    if (chance(30)) t["traceInternal"] = chance(50);
    json attributes = json::object();
    if (chance(50)) {
      json prefixes = json::array();
      for (int i = between(1, 3); i > 0; --i) prefixes.push_back("x-" + from(kLower + kDigits + "-", length(1, 20)) + std::to_string(i));
      attributes["headerPrefixes"] = prefixes;
    }
    if (chance(50)) {
      json statics = json::object();
      for (int i = between(1, 3); i > 0; --i) statics[from(kAlnum, 1) + from(kAlnum + "-_.", length(0, 60))] = from(kPrintable, length(0, 120));
      attributes["static"] = statics;
    }
    if (!attributes.empty()) t["spanAttributes"] = attributes;
    return t;
  }

  json provider(const std::string& ns, const std::string& gateway_ns, const std::string& gateway_name, int index) {
    static const std::vector<std::string> models{"openai/gpt-4o", "anthropic/claude-sonnet-4-5", "vllm/meta-llama/Llama-3.1-8B-Instruct",
                                                 "ollama/llama3", "mistral/*", "groq/llama-3.1-70b", "azure_openai/gpt-4o-mini"};
    std::string model = pick(models);
    if (chance(40)) model = model.substr(0, model.find('/') + 1) + from(kAlnum + "-._:", length(1, 60)) + std::to_string(index);
    json spec = {{"gatewayRef", {{"name", gateway_name}}}, {"model", model}};
    if (ns != gateway_ns || chance(30)) spec["gatewayRef"]["namespace"] = gateway_ns;
    const std::string prefix = model.substr(0, model.find('/'));
    const bool wildcard = model.size() > 1 && model.substr(model.size() - 2) == "/*";
    if (prefix == "vllm") spec["providerInterface"] = "openai";
    if (prefix == "vllm" || prefix == "ollama" || prefix == "azure_openai" || chance(30)) {
      spec["baseURL"] = pick<std::string>({"http://vllm.inference.svc.cluster.local:8000/v1", "https://api.example.com", "http://10.0.0.1:8080",
                                           "https://[::1]:8443/v1/", "https://" + from(kLower, length(1, 60)) + ".example.com/" + from(kAlnum, 10)});
    }
    if (chance(50)) spec["passthroughAuth"] = true;
    else spec["accessKeySecretRef"] = {{"name", "keys-" + std::to_string(index)}, {"key", from(kAlnum + "-._", length(1, 40))}};
    if (chance(30)) spec["name"] = from(kPrintable, length(1, 80)) + std::to_string(index);
    if (!wildcard && index == 0 && chance(50)) spec["default"] = true;
    if (!wildcard && chance(30)) {
      json prefs = json::array();
      for (int i = between(1, 3); i > 0; --i) {
        // Sometimes a name other providers use too (shared within a namespace, refused across), with a
        // description and prefer they may not agree on.
        const bool shared = chance(30);
        json pref = {{"name", shared ? "shared-" + std::to_string(i) : "pref-" + std::to_string(index) + "-" + std::to_string(i)},
                     {"description", shared && chance(70) ? std::string("shared work") : from(kPrintable, length(1, 300))}};
        if (chance(40)) pref["prefer"] = pick<std::string>({"None", "Cheapest", "Fastest"});
        prefs.push_back(pref);
      }
      spec["routingPreferences"] = prefs;
    }
    if (chance(40)) {
      json headers = json::object();
      for (int i = between(1, 3); i > 0; --i) headers[from(kAlnum + "-_.!#%&'*+^`|~", length(1, 40))] = from(kPrintable, length(0, 100));
      spec["headers"] = headers;
    }
    if (chance(20)) spec["httpHost"] = pick<std::string>({"api.example.com", "upstream.internal:8443", "[::1]:80", "10.1.2.3"});
    if (!wildcard && chance(25)) {
      json aliases = json::array();
      for (int i = between(1, 3); i > 0; --i) aliases.push_back(from(kPrintable, length(1, 60)) + "-" + std::to_string(index) + "-" + std::to_string(i));
      spec["aliases"] = aliases;
    }
    return {{"apiVersion", api::kApiVersion}, {"kind", api::kProviderKind},
            {"metadata", {{"name", "p" + std::to_string(index) + "-" + from(kLower + kDigits, length(1, 40))}, {"namespace", ns}}},
            {"spec", spec}};
  }

  const std::string kLower = "abcdefghijklmnopqrstuvwxyz";
  const std::string kDigits = "0123456789";
  const std::string kAlnum = kLower + "ABCDEFGHIJKLMNOPQRSTUVWXYZ" + kDigits;
  // No '$' (the CRDs refuse $NAME everywhere a tenant writes text).
  const std::string kPrintable = kAlnum + " -_.,:;!?/()[]{}<>@#%&*+=~'\"`|\\^";

 private:
  std::mt19937_64 rng_;
};

struct Tally {
  std::atomic<int> crd_refused{0}, rules_refused{0}, applied{0}, objects{0};
};

class OwnedObjectsProperty : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { testing::install_crds(testing::admin_client()); }

  // The API server's answer to a dry-run create: the object as stored (defaults filled), or the refusal.
  static std::variant<json, kube::ApiError> dry_run(const kube::Resource& resource, const std::string& ns, const json& object) {
    try {
      return testing::admin_client().create(resource, ns, object, kDryRun);
    } catch (const kube::ApiError& e) {
      return e;
    }
  }
};

std::string describe(const std::vector<rules::Finding>& findings) {
  std::string out;
  for (const auto& f : findings) {
    if (f.severity == rules::Severity::Error) out += "  " + f.field + ": " + f.message + "\n";
  }
  return out;
}

TEST_F(OwnedObjectsProperty, EveryObjectTheOperatorWritesPassesTheApiServer) {
  const std::uint64_t seed = env_number("PLANO_PROPERTY_SEED", kDefaultSeed);
  const int cases = static_cast<int>(env_number("PLANO_PROPERTY_CASES", kDefaultCases));
  std::printf("owned-objects property: seed %llu, %d cases (PLANO_PROPERTY_SEED, PLANO_PROPERTY_CASES)\n",
              static_cast<unsigned long long>(seed), cases);

  auto& client = testing::admin_client();
  const std::string gateway_ns = testing::create_namespace(client, "property");
  const std::string tenant_ns = testing::unique_name("property-tenant");
  client.create(kube::resources::kNamespaces, "", {{"metadata", {{"name", tenant_ns}, {"labels", {{"team", "a"}}}}}});
  const std::map<std::string, std::map<std::string, std::string>> namespace_labels{
      {gateway_ns, {{"kubernetes.io/metadata.name", gateway_ns}}},
      {tenant_ns, {{"kubernetes.io/metadata.name", tenant_ns}, {"team", "a"}}}};

  Tally tally;
  std::mutex report;
  int reported = 0;
  std::map<std::string, int> refusal_kinds;  // the server's causes without their values, for the summary
  auto fail = [&](int index, const std::string& what, const kube::ApiError* refusal = nullptr) {
    std::lock_guard lock(report);
    if (++reported <= 20) ADD_FAILURE() << "seed " << seed << " case " << index << ": " << what;
    if (!refusal) return;
    static const std::regex values("\\[[^]]*\\]|\"[^\"]*\"");
    for (const auto& cause : refusal->causes()) {
      ++refusal_kinds[std::regex_replace(cause.field + ": " + cause.message.substr(0, 160), values, "[…]")];
    }
  };

  auto run_case = [&](int index) {
    Generator g(seed + static_cast<std::uint64_t>(index) * 0x9E3779B97F4A7C15ull);
    const json gateway_input = g.gateway(gateway_ns);
    auto stored_gateway = dry_run(kube::resources::kPlanoGateways, gateway_ns, gateway_input);
    if (auto* refusal = std::get_if<kube::ApiError>(&stored_gateway)) {
      // What the CRD refuses the rules must refuse too, or `validate` and the webhook pass what cannot be stored.
      auto decoded = api::decode_gateway(gateway_input);
      if (decoded.object && decoded.errors.empty() && describe(rules::check_gateway(*decoded.object)).empty()) {
        fail(index, std::string("the CRD refuses a gateway the rules accept: ") + refusal->what() + "\n" + gateway_input.dump(2), refusal);
      }
      ++tally.crd_refused;
      return;
    }
    auto decoded = api::decode_gateway(std::get<json>(stored_gateway));
    if (!decoded.object || !decoded.errors.empty()) {
      fail(index, "the stored gateway does not decode:\n" + std::get<json>(stored_gateway).dump(2));
      return;
    }
    const api::PlanoGateway gw = *decoded.object;
    if (const auto problems = describe(rules::check_gateway(gw)); !problems.empty()) {
      // The other half: what the CRD stores but the rules refuse is what the API server would
      // refuse in the gateway's Deployment or NetworkPolicy, so the rules are not stricter than it.
      ++tally.rules_refused;
      const auto deployment = dry_run(kube::resources::kDeployments, gateway_ns, op::desired_deployment(gw, "hash", "now"));
      const auto policy = dry_run(kube::resources::kNetworkPolicies, gateway_ns, op::desired_network_policy(gw));
      if (std::holds_alternative<json>(deployment) && std::holds_alternative<json>(policy)) {
        fail(index, "the rules refuse a gateway whose Deployment and NetworkPolicy the API server accepts:\n" + problems +
                        gateway_input.dump(2));
      }
      return;
    }

    std::vector<api::ModelProvider> providers;
    std::map<std::string, std::map<std::string, std::string>> secrets;
    for (int i = g.between(0, 3) - 1; i >= 0; --i) {
      const std::string ns = g.chance(50) ? gateway_ns : tenant_ns;
      const json input = g.provider(ns, gateway_ns, gw.metadata.name, i);
      auto stored = dry_run(kube::resources::kModelProviders, ns, input);
      if (auto* refusal = std::get_if<kube::ApiError>(&stored)) {
        auto mp = api::decode_provider(input);
        if (mp.object && mp.errors.empty() && describe(rules::check_provider(*mp.object)).empty()) {
          fail(index, std::string("the CRD refuses a provider the rules accept: ") + refusal->what() + "\n" + input.dump(2), refusal);
        }
        continue;
      }
      auto mp = api::decode_provider(std::get<json>(stored));
      if (!mp.object || !mp.errors.empty()) {
        fail(index, "the stored provider does not decode:\n" + std::get<json>(stored).dump(2));
        continue;
      }
      mp.object->metadata.creationTimestamp = "2026-01-0" + std::to_string(i + 1) + "T00:00:00Z";
      if (const auto& ref = mp.object->spec.accessKeySecretRef) {
        secrets[ns + "/" + ref->name] = {{ref->key, "sk-" + g.from(g.kAlnum + "-_", g.length(8, 200))}};
      }
      providers.push_back(*mp.object);
    }

    if (gw.spec.stateStorage && gw.spec.stateStorage->connectionStringSecretRef) {
      const auto& ref = *gw.spec.stateStorage->connectionStringSecretRef;
      secrets[gateway_ns + "/" + ref.name] = {{ref.key, "postgresql://plano:" + g.from(g.kAlnum, 16) + "@plano-db:5432/plano"}};
    }
    op::GatewaySnapshot snapshot;
    snapshot.namespace_ = gw.metadata.namespace_;
    snapshot.name = gw.metadata.name;
    snapshot.gateway = &gw;
    for (const auto& p : providers) snapshot.providers.push_back(&p);
    snapshot.namespaceLabels = [&](const std::string& ns) -> std::optional<std::map<std::string, std::string>> {
      auto it = namespace_labels.find(ns);
      if (it == namespace_labels.end()) return std::nullopt;
      return it->second;
    };
    snapshot.secretData = [&](const std::string& ns, const std::string& name) -> std::optional<std::map<std::string, std::string>> {
      auto it = secrets.find(ns + "/" + name);
      if (it == secrets.end()) return std::nullopt;
      return it->second;
    };
    snapshot.now = "2026-12-06T12:00:00Z";
    const auto plan = op::plan_gateway(snapshot);
    if (!plan.apply) {
      fail(index, "plan_gateway does not apply a gateway the rules accept:\n" + gateway_input.dump(2));
      return;
    }
    std::vector<std::pair<const kube::Resource*, json>> owned{{&kube::resources::kSecrets, plan.keysSecret},
                                                              {&kube::resources::kConfigMaps, plan.configMap},
                                                              {&kube::resources::kDeployments, plan.deployment},
                                                              {&kube::resources::kServices, plan.service}};
    if (plan.networkPolicy) owned.emplace_back(&kube::resources::kNetworkPolicies, *plan.networkPolicy);
    if (plan.disruptionBudget) owned.emplace_back(&kube::resources::kPodDisruptionBudgets, *plan.disruptionBudget);
    for (const auto& [resource, object] : owned) {
      ++tally.objects;
      const auto answer = dry_run(*resource, gateway_ns, object);
      if (const auto* refusal = std::get_if<kube::ApiError>(&answer)) {
        fail(index, "the API server refuses the " + resource->kind + " the operator writes: " + refusal->what() +
                        "\ngateway:\n" + gateway_input.dump(2) + "\n" + resource->kind + ":\n" + object.dump(2), refusal);
      }
    }
    ++tally.applied;
  };

  const auto started = std::chrono::steady_clock::now();
  std::atomic<int> next{0};
  std::vector<std::thread> workers;
  for (int w = 0; w < 4; ++w) {
    workers.emplace_back([&] {
      for (int i = next++; i < cases; i = next++) run_case(i);
    });
  }
  for (auto& w : workers) w.join();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  std::printf("owned-objects property: %d cases in %.1f s: %d refused by the CRDs, %d by the rules, %d planned "
              "(%d owned objects dry-run created); %d failures\n",
              cases, seconds, tally.crd_refused.load(), tally.rules_refused.load(), tally.applied.load(), tally.objects.load(), reported);
  for (const auto& [kind, count] : refusal_kinds) std::printf("  refused %d times: %s\n", count, kind.c_str());
  // Enough cases must reach the owned objects for the property to say anything.
  EXPECT_GE(tally.applied.load(), cases / 4) << "the generator makes too few gateways the rules accept";
}

}  // namespace
}  // namespace plano
