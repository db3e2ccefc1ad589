// Benchmark (not a test): the operator against a real local control plane.
//   1,000 providers in 100 namespaces on one gateway: time from the last create to a ConfigMap
//   carrying all of them; then the latency of one changed provider reaching the ConfigMap
//   (median over 21 changes); RSS idle and with 10,000 providers cached (10 gateways, since one
//   ConfigMap cannot hold 10,000 providers: the API server caps it at 1 MiB).
// Usage: bench_operator PLANO_OPERATOR_BINARY [STATE_DIR]
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "core/kube/client.h"
#include "core/kube/errors.h"

namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;
namespace res = plano::kube::resources;

std::string root() { return PLANO_SOURCE_DIR; }

long rss_kib(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  }
  return -1;
}

double ms_since(Clock::time_point t) { return std::chrono::duration<double, std::milli>(Clock::now() - t).count(); }

json provider(const std::string& ns, int i, const std::string& gateway) {
  return {{"apiVersion", "plano-operator.io/v1alpha1"},
          {"kind", "ModelProvider"},
          {"metadata", {{"name", "p" + std::to_string(i)}, {"namespace", ns}}},
          {"spec",
           {{"gatewayRef", {{"name", gateway}, {"namespace", "platform"}}},
            {"model", "vllm/model-" + gateway + "-" + std::to_string(i)},
            {"baseURL", "http://vllm-" + std::to_string(i) + ".inference.svc:8000/v1"},
            {"providerInterface", "openai"},
            {"passthroughAuth", true}}}};
}

std::string config(plano::kube::Client& c, const std::string& gateway) {
  try {
    auto cm = c.get(res::kConfigMaps, "platform", gateway + "-plano-config");
    return cm["data"].value("plano_config.yaml", "");
  } catch (const plano::kube::ApiError&) {
    return "";
  }
}

std::size_t count(const std::string& text, const std::string& needle) {
  std::size_t n = 0;
  for (auto at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++n;
  return n;
}

void create_all(plano::kube::Client& c, const std::vector<json>& objects, int threads) {
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      for (std::size_t i = static_cast<std::size_t>(t); i < objects.size(); i += static_cast<std::size_t>(threads)) {
        c.create(res::kModelProviders, objects[i]["metadata"]["namespace"], objects[i]);
      }
    });
  }
  for (auto& th : pool) th.join();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s PLANO_OPERATOR_BINARY [STATE_DIR]\n", argv[0]);
    return 2;
  }
  const std::string binary = argv[1];
  const std::string dir = argc > 2 ? argv[2] : "/tmp/plano-bench-cp";
  const std::string script = root() + "/scripts/controlplane.sh";
  if (std::system((script + " up " + dir + " >/dev/null").c_str()) != 0) return 1;
  const std::string kubeconfig = dir + "/kubeconfig";
  if (std::system(("kubectl --kubeconfig " + kubeconfig + " apply -f " + root() + "/crds >/dev/null && kubectl --kubeconfig " +
                   kubeconfig + " wait --for condition=established crd --all --timeout=60s >/dev/null").c_str()) != 0) {
    return 1;
  }
  plano::kube::Client c(plano::kube::load_kubeconfig({kubeconfig, ""}));
  auto ensure_ns = [&](const std::string& ns) {
    try {
      c.create(res::kNamespaces, "", {{"metadata", {{"name", ns}}}});
    } catch (const plano::kube::ApiError&) {
    }
  };
  ensure_ns("platform");
  for (int n = 0; n < 100; ++n) ensure_ns("tenant-" + std::to_string(n));
  auto gateway = [&](const std::string& name) {
    c.create(res::kPlanoGateways, "platform",
             {{"apiVersion", "plano-operator.io/v1alpha1"}, {"kind", "PlanoGateway"},
              {"metadata", {{"name", name}, {"namespace", "platform"}}},
              {"spec", {{"listeners", json::array({{{"name", "llm"}, {"type", "model"}, {"port", 12000}}})},
                        {"allowedProviders", {{"namespaces", {{"from", "All"}}}}}}}});
  };
  gateway("g0");

  pid_t op = fork();
  if (op == 0) {
    freopen("/tmp/plano-bench-operator.log", "w", stderr);
    execl(binary.c_str(), binary.c_str(), "operator", "--kubeconfig", kubeconfig.c_str(), "--probe-address", "127.0.0.1:0",
          "--leader-elect=false", "--log-level", "warn", nullptr);
    _exit(127);
  }
  std::this_thread::sleep_for(std::chrono::seconds(3));
  const long idle = rss_kib(op);

  std::vector<json> first;
  for (int i = 0; i < 1000; ++i) first.push_back(provider("tenant-" + std::to_string(i % 100), i, "g0"));
  auto t0 = Clock::now();
  create_all(c, first, 8);
  const double create_ms = ms_since(t0);
  auto last = Clock::now();
  while (count(config(c, "g0"), "model: \"vllm/") < 1000 && ms_since(last) < 120000) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  const double converge_ms = ms_since(last);

  std::vector<double> change;
  for (int k = 0; k < 21; ++k) {
    const std::string model = "vllm/changed-" + std::to_string(k);
    auto t = Clock::now();
    c.patch(res::kModelProviders, "tenant-" + std::to_string(k % 100), "p" + std::to_string(k), plano::kube::PatchType::Merge,
            {{"spec", {{"model", model}}}});
    while (config(c, "g0").find("\"" + model + "\"") == std::string::npos && ms_since(t) < 30000) {
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    change.push_back(ms_since(t));
  }
  std::sort(change.begin(), change.end());

  for (int g = 1; g < 10; ++g) gateway("g" + std::to_string(g));
  std::vector<json> rest;
  for (int i = 1000; i < 10000; ++i) rest.push_back(provider("tenant-" + std::to_string(i % 100), i, "g" + std::to_string(i / 1000)));
  create_all(c, rest, 8);
  auto wait_all = Clock::now();
  while (count(config(c, "g9"), "model: \"vllm/") < 1000 && ms_since(wait_all) < 300000) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  std::this_thread::sleep_for(std::chrono::seconds(3));
  const long loaded = rss_kib(op);

  std::printf("create 1000 providers (8 client threads): %8.0f ms\n", create_ms);
  std::printf("last create -> ConfigMap has all 1000:     %8.0f ms\n", converge_ms);
  std::printf("one changed provider -> ConfigMap (n=21):  median %.0f ms, p90 %.0f ms, max %.0f ms\n", change[10], change[18], change[20]);
  std::printf("operator RSS idle:                         %8ld KiB\n", idle);
  std::printf("operator RSS with 10000 providers cached:  %8ld KiB\n", loaded);
  kill(op, SIGTERM);
  waitpid(op, nullptr, 0);
  std::system((script + " down " + dir + " >/dev/null").c_str());
  return 0;
}
