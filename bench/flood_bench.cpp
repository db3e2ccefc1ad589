// Benchmark (not a test) of issue 13's flood on a bare local control plane: one tenant creates
// 2,000 providers on a shared gateway, each large (a 1,000-character routing preference) and a
// quarter with a Secret that does not exist. Two regimes:
//   degrade   the namespace's share raised past the flood (spec.allowedProviders.
//             maxProvidersPerNamespace), as if the webhook were down: the config cannot hold them
//             all, and the newest get Programmed=False, ConfigTooLarge
//   refuse    the default share (100): the rest are refused (Accepted=False)
// While the flood is in, another tenant:
//   new       creates a provider and its Secret -> the gateway's ConfigMap has the provider and
//             its keys Secret the key
//   rotate    changes its standing provider's key -> the keys Secret holds the new value, not the old
//   delete    deletes one of its providers served since before the flood, and its Secret -> gone
//             from the ConfigMap and the keys Secret
// 20 tries each, timed (p50, p99; a try that has not arrived after 10 s counts as never). A thread
// reads the keys Secret every 20 ms throughout: a revoked value (rotated away or deleted) seen
// after its revocation reached the keys Secret is counted. Then, once the operator's writes have
// stopped, the Events on the flood's providers: per provider and reason, how many, what counts.
// Usage: bench_flood PLANO_OPERATOR_BINARY degrade|refuse [FLOOD=2000] [STATE_DIR]
#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "bench/bench_support.h"
#include "core/encoding/base64.h"
#include "core/kube/errors.h"

namespace {

using namespace plano::bench;
using nlohmann::json;
namespace res = plano::kube::resources;

constexpr const char* kGatewayNs = "platform";
constexpr const char* kFloodNs = "flood";
constexpr const char* kOtherNs = "other";
constexpr int kTries = 20;

json provider(const std::string& ns, const std::string& name, const std::string& model, const std::string& secret,
              const std::string& description) {
  json spec = {{"gatewayRef", {{"name", "shared"}, {"namespace", kGatewayNs}}},
               {"model", model},
               {"baseURL", "https://" + name + ".inference.example.com/v1"}};
  if (secret.empty()) {
    spec["passthroughAuth"] = true;
  } else {
    spec["accessKeySecretRef"] = {{"name", secret}, {"key", "api-key"}};
  }
  if (model.rfind("vllm/", 0) == 0) spec["providerInterface"] = "openai";
  if (!description.empty()) spec["routingPreferences"] = json::array({{{"name", "task-" + name}, {"description", description}}});
  return {{"apiVersion", "plano-operator.io/v1alpha1"}, {"kind", "ModelProvider"},
          {"metadata", {{"name", name}, {"namespace", ns}}}, {"spec", spec}};
}

json secret(const std::string& ns, const std::string& name, const std::string& value) {
  return {{"apiVersion", "v1"}, {"kind", "Secret"}, {"metadata", {{"name", name}, {"namespace", ns}}},
          {"stringData", {{"api-key", value}}}};
}

struct Owned {
  std::string config;
  std::set<std::string> keys;  // decoded values of the keys Secret
};

Owned owned(plano::kube::Client& c) {
  Owned o;
  try {
    o.config = c.get(res::kConfigMaps, kGatewayNs, "shared-plano-config")["data"].value("plano_config.yaml", "");
    const auto keys = c.get(res::kSecrets, kGatewayNs, "shared-plano-keys");
    if (const auto data = keys.find("data"); data != keys.end() && data->is_object()) {
      for (const auto& [variable, value] : data->items()) {
        if (auto decoded = plano::encoding::base64_decode(value.get<std::string>())) o.keys.insert(*decoded);
      }
    }
  } catch (const plano::kube::ApiError&) {
  }
  return o;
}

// Polls until `done` holds; the time it took, or -1 after `limit_ms`.
template <typename Done>
double time_until(plano::kube::Client& c, Clock::time_point from, Done done, double limit_ms = 10000) {
  while (ms_since(from) < limit_ms) {
    if (done(owned(c))) return ms_since(from);
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return -1;
}

std::string percentiles(std::vector<double> v) {
  if (v.empty()) return "-";
  std::sort(v.begin(), v.end());
  const auto never = std::count(v.begin(), v.end(), -1.0);
  v.erase(v.begin(), v.begin() + never);
  if (v.empty()) return "none of " + std::to_string(never) + " arrived within 10 s";
  char text[128];
  std::snprintf(text, sizeof text, "%.0f / %.0f ms", v[v.size() / 2], v[std::min(v.size() - 1, v.size() * 99 / 100)]);
  return text + (never ? "; " + std::to_string(never) + " never arrived within 10 s" : std::string());
}

// Reads the keys Secret every 20 ms; counts revoked values that show up after their revocation
// reached it.
struct RevocationWatch {
  plano::kube::Client& client;
  std::mutex mu;
  std::set<std::string> revoked;
  std::atomic<int> served_after{0};
  std::atomic<bool> stop{false};
  std::thread thread{[this] {
    while (!stop) {
      const auto keys = owned(client).keys;
      {
        std::lock_guard lock(mu);
        for (const auto& v : revoked) served_after += keys.count(v) ? 1 : 0;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }};
  void revoke(const std::string& value) {
    std::lock_guard lock(mu);
    revoked.insert(value);
  }
  ~RevocationWatch() {
    stop = true;
    thread.join();
  }
};

double load_average() {
  double load[1] = {0};
  return getloadavg(load, 1) == 1 ? load[0] : -1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3 || (std::string(argv[2]) != "degrade" && std::string(argv[2]) != "refuse")) {
    std::fprintf(stderr, "usage: %s PLANO_OPERATOR_BINARY degrade|refuse [FLOOD=2000] [STATE_DIR]\n", argv[0]);
    return 2;
  }
  const bool degrade = std::string(argv[2]) == "degrade";
  const int flood = argc > 3 ? std::stoi(argv[3]) : 2000;
  const std::string dir = argc > 4 ? argv[4] : "/tmp/plano-bench-flood";
  const auto kubeconfig = bare_control_plane_up(dir);
  plano::kube::Client c(plano::kube::load_kubeconfig({kubeconfig, ""}));
  for (const char* ns : {kGatewayNs, kFloodNs, kOtherNs}) c.create(res::kNamespaces, "", {{"metadata", {{"name", ns}}}});
  c.create(res::kPlanoGateways, kGatewayNs,
           {{"apiVersion", "plano-operator.io/v1alpha1"}, {"kind", "PlanoGateway"},
            {"metadata", {{"name", "shared"}, {"namespace", kGatewayNs}}},
            {"spec", {{"listeners", json::array({{{"name", "llm"}, {"type", "model"}, {"port", 12000}}})},
                      {"allowedProviders", {{"namespaces", {{"from", "All"}}}, {"maxProvidersPerNamespace", degrade ? flood + 100 : 100}}}}}});
  // The other tenant's standing provider, whose key is rotated.
  c.create(res::kSecrets, kOtherNs, secret(kOtherNs, "rotated", "sk-rotated-0"));
  c.create(res::kModelProviders, kOtherNs, provider(kOtherNs, "rotated", "openai/gpt-4o", "rotated", ""));
  // And those it deletes, one per try.
  for (int k = 0; k < kTries; ++k) {
    const auto name = "old-" + std::to_string(k);
    c.create(res::kSecrets, kOtherNs, secret(kOtherNs, name, "sk-" + name));
    c.create(res::kModelProviders, kOtherNs, provider(kOtherNs, name, "vllm/other-" + name, name, ""));
  }
  auto op = std::make_unique<Operator>(argv[1], kubeconfig, dir + "-operator.log");
  const auto all_served = [](const Owned& o) {
    for (int k = 0; k < kTries; ++k) {
      if (!o.keys.count("sk-old-" + std::to_string(k))) return false;
    }
    return o.keys.count("sk-rotated-0") > 0;
  };
  if (time_until(c, Clock::now(), all_served, 60000) < 0) {
    std::fprintf(stderr, "the gateway never served the other tenant's provider; see %s\n", op->log.c_str());
    return 1;
  }
  const double load_before = load_average();

  // The flood: over 1,000 rendered bytes each, so that fewer than 1,000 fit in the 1,000,000-byte config.
  const std::string description(1000, 'x');
  std::vector<json> flood_providers;
  for (int i = 0; i < flood; ++i) {
    const auto name = "f" + std::to_string(i);
    flood_providers.push_back(provider(kFloodNs, name, "vllm/flood-model-" + std::to_string(i), i % 4 == 0 ? "missing-" + name : "",
                                       description + std::to_string(i)));
  }
  const auto flood_start = Clock::now();
  create_all(c, res::kModelProviders, flood_providers);
  const double create_ms = ms_since(flood_start);
  std::fprintf(stderr, "flood of %d created in %.0f ms\n", flood, create_ms);

  RevocationWatch watch{c};
  std::vector<double> added, rotated, deleted;
  for (int k = 0; k < kTries; ++k) {
    const auto name = "new-" + std::to_string(k);
    const auto value = "sk-new-" + std::to_string(k);
    auto t = Clock::now();
    c.create(res::kSecrets, kOtherNs, secret(kOtherNs, name, value));
    c.create(res::kModelProviders, kOtherNs, provider(kOtherNs, name, "vllm/other-" + name, name, ""));
    added.push_back(time_until(c, t, [&](const Owned& o) {
      return o.keys.count(value) && o.config.find("vllm/other-" + name + "\"") != std::string::npos;
    }));

    const auto old_value = "sk-rotated-" + std::to_string(k);
    const auto new_value = "sk-rotated-" + std::to_string(k + 1);
    t = Clock::now();
    c.patch(res::kSecrets, kOtherNs, "rotated", plano::kube::PatchType::Merge, {{"stringData", {{"api-key", new_value}}}});
    rotated.push_back(time_until(c, t, [&](const Owned& o) { return o.keys.count(new_value) && !o.keys.count(old_value); }));
    watch.revoke(old_value);

    const auto old_name = "old-" + std::to_string(k);
    t = Clock::now();
    c.remove(res::kModelProviders, kOtherNs, old_name);
    c.remove(res::kSecrets, kOtherNs, old_name);
    deleted.push_back(time_until(c, t, [&](const Owned& o) {
      return !o.keys.count("sk-" + old_name) && o.config.find("vllm/other-" + old_name + "\"") == std::string::npos;
    }));
    watch.revoke("sk-" + old_name);
    c.remove(res::kModelProviders, kOtherNs, name);  // the next try's new provider is the only newcomer
    c.remove(res::kSecrets, kOtherNs, name);
    std::fprintf(stderr, "try %d: new %.0f ms, rotate %.0f ms, delete %.0f ms (load %.1f)\n", k, added.back(), rotated.back(),
                 deleted.back(), load_average());
  }
  const double tries_done_s = ms_since(flood_start) / 1000;
  const double load_during = load_average();

  // Steady state: the flood's statuses and Events have all been written.
  auto writes = [&] { return op->counter("plano_operator_api_writes_total"); };
  for (double before = -1, now = writes(); now != before && ms_since(flood_start) < 900000; before = now, now = writes()) {
    std::this_thread::sleep_for(std::chrono::seconds(5));
  }
  const double settled_s = ms_since(flood_start) / 1000;
  std::map<std::pair<std::string, std::string>, std::pair<int, long long>> tally;  // (provider, reason) -> Events, max count
  std::map<std::string, int> events_by_reason;
  int flood_events = 0;
  for (const auto& e : c.list(res::kEvents, kFloodNs).items) {
    const auto series = e.find("series");
    const long long count = series != e.end() ? series->value("count", 0LL) : 1;
    auto& [events, max_count] = tally[{e["regarding"].value("name", ""), e.value("reason", "")}];
    ++events;
    max_count = std::max(max_count, count);
    ++events_by_reason[e.value("type", "") + " " + e.value("reason", "")];
    ++flood_events;
  }
  int most = 0, over_one = 0;
  long long highest_count = 0, counted = 0;
  for (const auto& [key, t] : tally) {
    most = std::max(most, t.first);
    over_one += t.first > 1;
    highest_count = std::max(highest_count, t.second);
    counted += t.second;
  }
  std::map<std::string, int> programmed;  // the flood's Programmed reasons
  for (const auto& p : c.list(res::kModelProviders, kFloodNs).items) {
    for (const auto& cond : p["status"].value("conditions", json::array())) {
      if (cond.value("type", "") == "Programmed") ++programmed[cond.value("reason", "")];
    }
  }
  std::printf("%s: a flood of %d providers from one namespace (%d with a missing Secret), created in %.0f ms; Programmed:", argv[2],
              flood, (flood + 3) / 4, create_ms);
  for (const auto& [reason, n] : programmed) std::printf(" %s %d", reason.c_str(), n);
  std::printf("\n");
  std::printf("load average (1 min): %.1f before the flood, %.1f after the tries (%.0f s in); writes settled %.0f s in\n",
              load_before, load_during, tries_done_s, settled_s);
  std::printf("| other tenant's change (%d tries each) | p50 / p99 to the ConfigMap and keys Secret |\n|---|---:|\n", kTries);
  std::printf("| new provider + Secret | %s |\n| key rotation | %s |\n| provider + Secret deleted | %s |\n",
              percentiles(added).c_str(), percentiles(rotated).c_str(), percentiles(deleted).c_str());
  std::printf("revoked values seen in the keys Secret after their revocation reached it: %d reads\n", watch.served_after.load());
  std::printf("Events on the flood's providers: %d Events for %zu (provider, reason) pairs; at most %d per pair, %d pairs with more "
              "than one; series counts sum to %lld, highest %lld\n",
              flood_events, tally.size(), most, over_one, counted, highest_count);
  for (const auto& [reason, n] : events_by_reason) std::printf("  %s: %d\n", reason.c_str(), n);
  std::printf("operator writes: %.0f Event creates, %.0f series patches, %.0f status writes\n",
              op->counter("plano_operator_api_writes_total{kind=\"event\""),
              op->counter("plano_operator_api_writes_total{kind=\"event_series\""),
              op->counter("plano_operator_api_writes_total{kind=\"status\""));
  op.reset();
  control_plane_down(dir);
  return 0;
}
