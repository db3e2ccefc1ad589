// Benchmark (not a test): the operator against a real local control plane, at several scales.
// For each N (default 100, 1000, 10000): a fresh control plane; N/10 tenant namespaces; one gateway
// per 1,000 providers (a ConfigMap holds at most 1 MiB); N providers, each with its own key Secret.
// Measures, in one table:
//   converge  last create -> every gateway's ConfigMap carries all its providers
//   change    one provider's model patched -> the ConfigMap carries it (median and p90 of 21)
//   cold      operator restarted with everything cached -> /readyz answers 200, and -> the first
//             reconcile of every gateway is done (median of 5 restarts); also with the control plane
//             on CPU 0 and the operator on the others (given 2 CPUs or more)
//   RSS       the operator's resident memory idle (nothing created yet) and with all N cached, once
//             its writes have stopped; and the restarted operator's, all cached, once settled
// Usage: bench_operator PLANO_OPERATOR_BINARY [N,N,...] [STATE_DIR]
// PLANO_BENCH_KEEP_CONTROL_PLANE=1 leaves the last control plane up, populated, to profile against.
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "bench/bench_support.h"
#include "core/kube/client.h"
#include "core/kube/errors.h"

namespace {

using namespace plano::bench;
using nlohmann::json;
namespace res = plano::kube::resources;
constexpr int kProvidersPerGateway = 1000;

json secret(const std::string& ns, int i) {
  return {{"apiVersion", "v1"}, {"kind", "Secret"},
          {"metadata", {{"name", "key-" + std::to_string(i)}, {"namespace", ns}}},
          {"stringData", {{"api-key", "sk-bench-" + std::to_string(i)}}}};
}

json provider(const std::string& ns, int i, const std::string& gateway) {
  return {{"apiVersion", "plano-operator.io/v1alpha1"}, {"kind", "ModelProvider"},
          {"metadata", {{"name", "p" + std::to_string(i)}, {"namespace", ns}}},
          {"spec", {{"gatewayRef", {{"name", gateway}, {"namespace", "platform"}}},
                    {"model", "openai/model-" + std::to_string(i)},
                    {"baseURL", "https://llm-" + std::to_string(i) + ".example.com/v1"},
                    {"accessKeySecretRef", {{"name", "key-" + std::to_string(i)}, {"key", "api-key"}}}}}};
}

std::string config(plano::kube::Client& c, const std::string& gateway) {
  try {
    return c.get(res::kConfigMaps, "platform", gateway + "-plano-config")["data"].value("plano_config.yaml", "");
  } catch (const plano::kube::ApiError&) {
    return "";
  }
}

std::size_t count(const std::string& text, const std::string& needle) {
  std::size_t n = 0;
  for (auto at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++n;
  return n;
}

struct Row {
  int providers = 0;
  double create_ms = 0, converge_ms = 0, change_p50 = 0, change_p90 = 0, ready_ms = 0, first_pass_ms = 0;
  double pinned_ready_ms = 0, pinned_first_pass_ms = 0;  // the control plane on a CPU of its own
  long idle_kib = 0, loaded_kib = 0, restarted_kib = 0;
};

constexpr int kColdStarts = 5;

Row measure(const std::string& binary, int n, const std::string& dir) {
  Row row;
  row.providers = n;
  const std::string kubeconfig = bare_control_plane_up(dir);
  plano::kube::Client c(plano::kube::load_kubeconfig({kubeconfig, ""}));
  const int namespaces = std::max(1, n / 10);
  const int gateways = (n + kProvidersPerGateway - 1) / kProvidersPerGateway;
  c.create(res::kNamespaces, "", {{"metadata", {{"name", "platform"}}}});
  for (int k = 0; k < namespaces; ++k) c.create(res::kNamespaces, "", {{"metadata", {{"name", "tenant-" + std::to_string(k)}}}});
  for (int g = 0; g < gateways; ++g) {
    c.create(res::kPlanoGateways, "platform",
             {{"apiVersion", "plano-operator.io/v1alpha1"}, {"kind", "PlanoGateway"},
              {"metadata", {{"name", "g" + std::to_string(g)}, {"namespace", "platform"}}},
              {"spec", {{"listeners", json::array({{{"name", "llm"}, {"type", "model"}, {"port", 12000}}})},
                        {"allowedProviders", {{"namespaces", {{"from", "All"}}}, {"maxProvidersPerNamespace", 10000}}}}}});
  }

  auto op = std::make_unique<Operator>(binary, kubeconfig, dir + "-operator.log");
  std::this_thread::sleep_for(std::chrono::seconds(3));
  row.idle_kib = rss_kib(op->pid);

  std::vector<json> secrets, providers;
  for (int i = 0; i < n; ++i) {
    const auto ns = "tenant-" + std::to_string(i % namespaces);
    secrets.push_back(secret(ns, i));
    providers.push_back(provider(ns, i, "g" + std::to_string(i / kProvidersPerGateway)));
  }
  auto t0 = Clock::now();
  create_all(c, res::kSecrets, secrets);
  create_all(c, res::kModelProviders, providers);
  row.create_ms = ms_since(t0);
  auto last = Clock::now();
  auto all_in = [&] {
    for (int g = 0; g < gateways; ++g) {
      const int want = std::min(kProvidersPerGateway, n - g * kProvidersPerGateway);
      if (static_cast<int>(count(config(c, "g" + std::to_string(g)), "access_key: \"$")) < want) return false;
    }
    return true;
  };
  while (!all_in() && ms_since(last) < 300000) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  row.converge_ms = ms_since(last);
  {  // where the operator's time went, for the reader of the figures
    std::istringstream metrics(op->get("/metrics"));
    for (std::string line; std::getline(metrics, line);) {
      if (line.rfind("plano_operator_api_writes_total{", 0) == 0 || line.rfind("plano_operator_reconcile_duration_seconds_sum", 0) == 0 ||
          line.rfind("plano_operator_reconcile_duration_seconds_count", 0) == 0) {
        std::fprintf(stderr, "  %d providers, converged: %s\n", n, line.c_str());
      }
    }
  }

  std::vector<double> change;
  for (int k = 0; k < 21; ++k) {
    const int i = (k * 37) % std::min(n, kProvidersPerGateway);  // all on gateway g0
    const std::string model = "openai/changed-" + std::to_string(k);
    auto t = Clock::now();
    c.patch(res::kModelProviders, "tenant-" + std::to_string(i % namespaces), "p" + std::to_string(i),
            plano::kube::PatchType::Merge, {{"spec", {{"model", model}}}});
    while (config(c, "g0").find("\"" + model + "\"") == std::string::npos && ms_since(t) < 30000) {
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    change.push_back(ms_since(t));
  }
  std::sort(change.begin(), change.end());
  row.change_p50 = change[10];
  row.change_p90 = change[18];
  // Steady state: the status writes and Events of the initial sync have all been made.
  auto writes = [&] { return op->counter("plano_operator_api_writes_total"); };
  for (double before = -1, now = writes(); now != before && ms_since(last) < 600000; before = now, now = writes()) {
    std::this_thread::sleep_for(std::chrono::seconds(3));
  }
  row.loaded_kib = rss_kib(op->pid);

  // Cold start, repeated: one restart's figure moves by a second with what else the machine runs.
  // First with the control plane on CPU 0 and the operator on the others, as where the API server
  // runs on machines of its own; then as everything else here, sharing all CPUs.
  auto cold_starts = [&](const std::vector<int>& cpus) {
    std::vector<double> ready, first_pass;
    for (int k = 0; k < kColdStarts; ++k) {
      op.reset();
      op = std::make_unique<Operator>(binary, kubeconfig, dir + "-operator-restart.log", cpus);
      while (op->get("/readyz").find("HTTP200") == std::string::npos && ms_since(op->started) < 60000) {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      }
      ready.push_back(ms_since(op->started));
      while (op->counter("plano_operator_reconcile_total") < gateways && ms_since(op->started) < 60000) std::this_thread::sleep_for(std::chrono::milliseconds(10));
      first_pass.push_back(ms_since(op->started));
    }
    std::sort(ready.begin(), ready.end());
    std::sort(first_pass.begin(), first_pass.end());
    return std::pair{ready[kColdStarts / 2], first_pass[kColdStarts / 2]};
  };
  if (const int cpus = static_cast<int>(std::thread::hardware_concurrency()); cpus >= 2) {
    std::vector<int> others;
    for (int cpu = 1; cpu < cpus; ++cpu) others.push_back(cpu);
    pin_control_plane(dir, {0});
    std::tie(row.pinned_ready_ms, row.pinned_first_pass_ms) = cold_starts(others);
    pin_control_plane(dir, {});
  }
  std::tie(row.ready_ms, row.first_pass_ms) = cold_starts({});
  // What holding everything costs, without the creation's peaks: the last restarted operator once its
  // first pass's writes (statuses of unchanged objects: none, or a few) have settled.
  for (double before = -1, now = writes(); now != before && ms_since(op->started) < 120000; before = now, now = writes()) {
    std::this_thread::sleep_for(std::chrono::seconds(3));
  }
  row.restarted_kib = rss_kib(op->pid);
  op.reset();
  // For profiling a cold start by hand: the populated control plane stays up.
  if (std::getenv("PLANO_BENCH_KEEP_CONTROL_PLANE")) {
    std::fprintf(stderr, "control plane kept: %s/kubeconfig (scripts/controlplane.sh down %s)\n", dir.c_str(), dir.c_str());
  } else {
    control_plane_down(dir);
  }
  return row;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s PLANO_OPERATOR_BINARY [N,N,...] [STATE_DIR]\n", argv[0]);
    return 2;
  }
  std::vector<int> sizes;
  std::stringstream list(argc > 2 ? argv[2] : "100,1000,10000");
  for (std::string item; std::getline(list, item, ',');) sizes.push_back(std::stoi(item));
  const std::string dir = argc > 3 ? argv[3] : "/tmp/plano-bench-cp";
  std::vector<Row> rows;
  for (int n : sizes) {
    rows.push_back(measure(argv[1], n, dir));
    std::fprintf(stderr, "measured %d providers\n", n);
  }
  std::printf("| providers | gateways | create (8 clients) | converge after last create | one change p50 / p90 | cold start (median of 5): ready / first pass | cold start, control plane on CPU 0: ready / first pass | RSS idle | RSS loaded | RSS restarted, all cached |\n");
  std::printf("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
  for (const auto& r : rows) {
    std::printf("| %d | %d | %.0f ms | %.0f ms | %.0f / %.0f ms | %.0f / %.0f ms | %.0f / %.0f ms | %.1f MB | %.1f MB | %.1f MB |\n", r.providers,
                (r.providers + kProvidersPerGateway - 1) / kProvidersPerGateway, r.create_ms, r.converge_ms, r.change_p50,
                r.change_p90, r.ready_ms, r.first_pass_ms, r.pinned_ready_ms, r.pinned_first_pass_ms, r.idle_kib / 1024.0,
                r.loaded_kib / 1024.0, r.restarted_kib / 1024.0);
  }
  return 0;
}
