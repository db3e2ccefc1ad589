// Faults on a real etcd + kube-apiserver with the real binary as processes: the API server killed
// and restarted, etcd compacted under the operator's watches, the operator killed mid-reconcile,
// the leader killed under provider churn, the webhook restarted while the API server calls it, and
// a tenant's key followed through every output the project has. Each ends by comparing the state
// with what `plano-operator render` prints for the objects stored at the end.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <future>
#include <fstream>
#include <map>
#include <mutex>
#include <random>
#include <regex>
#include <set>
#include <thread>

#include "core/encoding/base64.h"
#include "core/io/documents.h"
#include "core/kube/errors.h"
#include "core/kube/informer.h"
#include "core/kube/resource.h"
#include "tests/e2e/cluster_support.h"
#include "tests/e2e/operator_process.h"
#include "tests/e2e/webhook_support.h"
#include "tests/support/control_plane.h"
#include "tests/unit/core/http/test_support.h"

namespace plano::testing {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;
namespace fs = std::filesystem;
namespace res = kube::resources;
namespace ht = http::test;
using Clock = std::chrono::steady_clock;

const kube::Resource kCoreEvents{"", "v1", "events", "Event", true};

long long ms_since(Clock::time_point start) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count();
}

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

// A passthrough vLLM provider whose upstream host is its own name, so every entry of a rendered
// config says which object it came from; `version` changes its model.
json vllm(const std::string& ns, const std::string& name, const std::string& gw, const std::string& version = "v1") {
  return provider(ns, name, ns, gw,
                  {{"model", "vllm/" + name + "-" + version},
                   {"baseURL", "http://" + name + ".svc:8000/v1"},
                   {"providerInterface", "openai"},
                   {"passthroughAuth", true}});
}

// Provider name -> model for each entry of a rendered config; throws when the text does not parse.
std::map<std::string, std::string> entries_of(const std::string& config) {
  static const std::regex host("^http://([^.]+)\\.svc:8000/v1$");
  std::map<std::string, std::string> out;
  auto docs = io::parse_documents(config, "plano_config.yaml");
  if (docs.size() != 1) throw std::runtime_error("expected one YAML document, got " + std::to_string(docs.size()));
  for (const auto& p : docs[0].body.value("model_providers", json::array())) {
    std::smatch m;
    const auto url = p.value("base_url", "");
    if (!std::regex_match(url, m, host)) continue;
    if (!out.emplace(m[1], p.value("model", "")).second) throw std::runtime_error("provider " + std::string(m[1]) + " twice");
  }
  return out;
}

// Every distinct version of one ConfigMap, as a watch delivers them (an informer restarted only
// by relists, which it counts, so a gap in what was seen would show).
class ConfigMapVersions {
 public:
  ConfigMapVersions(kube::ApiClient& client, const std::string& ns, const std::string& name)
      : informer_(client, res::kConfigMaps, options(ns, name)) {
    informer_.on_add([this](const json& o) { record(o); });
    informer_.on_update([this](const json&, const json& o) { record(o); });
    informer_.start();
  }
  ~ConfigMapVersions() { informer_.stop(); }
  std::vector<std::string> versions() const {
    std::lock_guard lock(mu_);
    return versions_;
  }
  std::uint64_t relists() const { return informer_.stats().relists; }

 private:
  static kube::InformerOptions options(const std::string& ns, const std::string& name) {
    kube::InformerOptions o;
    o.namespace_ = ns;
    o.field_selector = "metadata.name=" + name;
    return o;
  }
  void record(const json& o) {
    std::lock_guard lock(mu_);
    const auto text = o.value("data", json::object()).value("plano_config.yaml", "");
    if (versions_.empty() || versions_.back() != text) versions_.push_back(text);
  }
  kube::Informer informer_;
  mutable std::mutex mu_;
  std::vector<std::string> versions_;
};

const kube::Resource kWebhookConfigurations{"admissionregistration.k8s.io", "v1", "validatingwebhookconfigurations",
                                           "ValidatingWebhookConfiguration", false};

// A ValidatingWebhookConfiguration for a webhook on 127.0.0.1:port, deleted when the test ends
// however it ends: left behind, failurePolicy Fail would block every later test's providers.
class Registration {
 public:
  Registration(int port, const std::string& ca_base64) : name_(unique_name("reliability")) {
    admin_client().create(kWebhookConfigurations, "",
                          webhook_configuration(name_, "https://127.0.0.1:" + std::to_string(port) + "/validate", ca_base64));
  }
  ~Registration() {
    try {
      admin_client().remove(kWebhookConfigurations, "", name_);
    } catch (const kube::ApiError& e) {
      ADD_FAILURE() << "cannot delete " << name_ << ": " << e.what();
    }
  }
  Registration(const Registration&) = delete;
  Registration& operator=(const Registration&) = delete;

 private:
  std::string name_;
};

struct Suite {
  fs::path dir;
  std::unique_ptr<TestPki> pki;
  fs::path cert, key;
  ht::SslCtxPtr verifying;
};
Suite* s = nullptr;

// Waits until the ConfigMap of gateway ns/gw is the render of the objects stored; a failure shows both.
::testing::AssertionResult converges(kube::ApiClient& client, const std::string& ns, std::chrono::seconds timeout) {
  std::string have, want;
  if (eventually([&] { return (have = config_of(client, ns, "gw")) == (want = render_stored(client, ns, "gw", s->dir)); },
                 timeout, 100ms)) {
    return ::testing::AssertionSuccess();
  }
  return ::testing::AssertionFailure() << "the ConfigMap holds\n" << have << "\nthe render of the stored objects is\n" << want;
}

// What kube-controller-manager's aggregation controller would do (there is none here): fill an
// aggregated ClusterRole such as `edit` with the rules of the ClusterRoles its selectors match.
void aggregate_cluster_role(kube::ApiClient& client, const std::string& name) {
  const kube::Resource cluster_roles{"rbac.authorization.k8s.io", "v1", "clusterroles", "ClusterRole", false};
  auto role = client.get(cluster_roles, "", name);
  json rules = json::array();
  for (const auto& selector : role["aggregationRule"]["clusterRoleSelectors"]) {
    std::string labels;
    for (const auto& [k, v] : selector["matchLabels"].items()) labels += (labels.empty() ? "" : ",") + k + "=" + v.get<std::string>();
    kube::ListOptions options;
    options.label_selector = labels;
    for (const auto& source : client.list(cluster_roles, "", options).items) {
      for (const auto& rule : source.value("rules", json::array())) rules.push_back(rule);
    }
  }
  if (rules.empty()) throw std::runtime_error("no ClusterRole aggregates into " + name);
  role["rules"] = rules;
  client.update(cluster_roles, role);
}


class ReliabilityE2E : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    s = new Suite;
    s->dir = fs::temp_directory_path() / unique_name("reliability-e2e");
    s->pki = std::make_unique<TestPki>(s->dir / "pki");
    s->cert = s->dir / "tls.crt";
    s->key = s->dir / "tls.key";
    s->pki->issue(2001, s->cert, s->key);
    s->verifying = s->pki->verifying_context();
    install_crds(admin_client());
  }
  static void TearDownTestSuite() {
    std::error_code ignored;
    fs::remove_all(s->dir, ignored);
    delete s;
    s = nullptr;
  }

  static std::unique_ptr<OperatorProcess> start_operator(const std::string& kubeconfig,
                                                         std::vector<std::string> args = {"--leader-elect=false"}) {
    return std::make_unique<OperatorProcess>(kubeconfig, std::move(args), log_file("reliability"));
  }
  // A webhook on a fixed port (the configuration's URL must outlive a restart), once it listens.
  static std::unique_ptr<OperatorProcess> start_webhook(int port, std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"--listen-address", "127.0.0.1:" + std::to_string(port), "--tls-cert-file",
                                     s->cert.string(), "--tls-key-file", s->key.string()};
    args.insert(args.end(), extra.begin(), extra.end());
    auto p = std::make_unique<OperatorProcess>(control_plane().kubeconfig_path(), args, log_file("webhook"), "webhook");
    EXPECT_TRUE(eventually([&] { return admission_port(*p) == port; }, 20s)) << p->log();
    return p;
  }
  static bool ready(const OperatorProcess& p) { return probe_get(p, "/readyz") == "200"; }

  // One AdmissionReview straight to the webhook over verified TLS: HTTP status and response.
  static std::pair<int, json> review_directly(int port, const std::string& uid, const json& object) {
    ht::Client c(static_cast<std::uint16_t>(port), s->verifying.get(), 5s);
    if (!c.ok()) return {0, nullptr};
    auto r = c.round_trip("POST", "/validate", admission_review(uid, "CREATE", object).dump(), "Content-Type: application/json\r\n");
    if (!r) return {0, nullptr};
    auto body = json::parse(r->body, nullptr, false);
    return {r->status, body.is_discarded() ? json(nullptr) : body.value("response", json(nullptr))};
  }
};

// (1) The API server is killed (-9) right after a burst of changes, while the operator reconciles
// them and every informer watches, and comes back on the same port. Meanwhile the running webhook
// judges from its cache, and a webhook started during the outage (no cache) refuses to judge.
TEST_F(ReliabilityE2E, ApiServerKilledMidReconcileOperatorConvergesAndWebhookAnswersFromCache) {
  auto& client = admin_client();
  const auto ns = create_namespace(client, "rel-apiserver");
  client.create(res::kPlanoGateways, ns, gateway(ns, "gw", {{"namespaces", {{"from", "Same"}}}}));
  for (const char* p : {"a", "b", "c"}) client.create(res::kModelProviders, ns, vllm(ns, p, "gw"));
  auto op = start_operator(control_plane().kubeconfig_path());
  const int port = free_port();
  auto webhook = start_webhook(port);
  ASSERT_TRUE(eventually([&] { return ready(*webhook); }, 30s, 100ms)) << webhook->log();
  ASSERT_TRUE(converges(client, ns, 30s)) << op->log();

  // Changes the operator is busy with when the API server dies.
  client.patch(res::kModelProviders, ns, "b", kube::PatchType::Merge, {{"spec", {{"model", "vllm/b-v2"}}}});
  client.create(res::kModelProviders, ns, vllm(ns, "d", "gw"));
  control_plane().kill_apiserver();
  const auto killed = Clock::now();

  // The running webhook answers from its cache: a newcomer is admitted, a taken model_id refused.
  int answered = 0, failed = 0;
  long long slowest = 0;
  const auto newcomer = vllm(ns, "e", "gw");
  auto taken = vllm(ns, "e", "gw");
  taken["spec"]["model"] = "vllm/a-v1";
  const auto outage_reviews_until = Clock::now() + 3s;
  for (int i = 0; Clock::now() < outage_reviews_until || i < 20; ++i) {
    const auto start = Clock::now();
    auto [status, admit] = review_directly(port, "outage-" + std::to_string(i), newcomer);
    auto [status2, refuse] = review_directly(port, "outage-taken-" + std::to_string(i), taken);
    slowest = std::max(slowest, ms_since(start));
    const bool ok = status == 200 && admit.value("allowed", false) && !admit.contains("warnings") && status2 == 200 &&
                    !refuse.value("allowed", true) &&
                    contains(refuse["status"].value("message", ""), "provider name \"vllm/a-v1\" is already used");
    ok ? ++answered : ++failed;
    EXPECT_TRUE(ok) << status << " " << admit.dump() << "\n" << status2 << " " << refuse.dump();
    std::this_thread::sleep_for(50ms);
  }

  // A webhook that starts while the API server is down has nothing to judge with: it must not
  // admit what the cluster would refuse (before the fix it admitted the taken model_id).
  const int fresh_port = free_port();
  auto fresh = start_webhook(fresh_port);
  auto [fresh_status, fresh_response] = review_directly(fresh_port, "fresh-taken", taken);
  EXPECT_EQ(fresh_status, 503) << fresh_response.dump();
  EXPECT_FALSE(ready(*fresh));
  EXPECT_TRUE(op->running() && waitpid(op->pid(), nullptr, WNOHANG) == 0) << op->log();
  EXPECT_TRUE(waitpid(webhook->pid(), nullptr, WNOHANG) == 0) << webhook->log();
  const auto outage_ms = ms_since(killed);

  control_plane().start_apiserver();
  const auto restarted = Clock::now();
  // Changes after the restart land too.
  client.patch(res::kModelProviders, ns, "c", kube::PatchType::Merge, {{"spec", {{"model", "vllm/c-v2"}}}});
  client.remove(res::kModelProviders, ns, "a");
  client.create(res::kModelProviders, ns, vllm(ns, "f", "gw"));
  EXPECT_TRUE(converges(client, ns, 60s)) << op->log();
  const auto converged_ms = ms_since(restarted);
  EXPECT_EQ(entries_of(config_of(ns, "gw")),
            (std::map<std::string, std::string>{{"b", "vllm/b-v2"}, {"c", "vllm/c-v2"}, {"d", "vllm/d-v1"}, {"f", "vllm/f-v1"}}));
  // The webhook started in the dark syncs and judges once the API server is back.
  EXPECT_TRUE(eventually([&] { return ready(*fresh); }, 30s, 100ms)) << fresh->log();
  auto [after_status, after] = review_directly(fresh_port, "fresh-after", taken);
  EXPECT_EQ(after_status, 200);
  EXPECT_TRUE(after.is_object() && after.value("allowed", false)) << "a is gone, so its model_id is free: " << after.dump();
  std::printf("[ measured ] API server down %lld ms: webhook answered %d review pairs from its cache (%d failed, slowest pair %lld ms); "
              "a webhook started during the outage answered %d; operator converged %lld ms after the restart\n",
              outage_ms, answered, failed, slowest, fresh_status, converged_ms);
}

// (2) etcd is compacted past the operator's resourceVersions while its watches are down, and a
// provider is deleted behind its back: the watch from the old version gets 410 Gone, the operator
// relists, and both the deletion and the changes after it land. Its own control plane runs
// without the watch cache, so the operator's watches read etcd and the 410 is genuine.
TEST_F(ReliabilityE2E, EtcdCompactionUnderOperatorWatchRelistsWithoutMissingAChange) {
  std::unique_ptr<ControlPlane> cp;
  try {
    cp = ControlPlane::start({}, "--watch-cache=false");
  } catch (const std::exception& e) {
    FAIL() << e.what();
  }
  kube::Client client(cp->admin_config());
  install_crds(client);
  const auto ns = create_namespace(client, "rel-compact");
  client.create(res::kPlanoGateways, ns, gateway(ns, "gw", {{"namespaces", {{"from", "Same"}}}}));
  for (const char* p : {"a", "b", "c"}) client.create(res::kModelProviders, ns, vllm(ns, p, "gw"));
  auto op = start_operator(cp->kubeconfig_path());
  ASSERT_TRUE(converges(client, ns, 30s)) << op->log();
  client.patch(res::kModelProviders, ns, "a", kube::PatchType::Merge, {{"spec", {{"model", "vllm/a-v2"}}}});
  ASSERT_TRUE(eventually([&] { return entries_of(config_of(client, ns, "gw"))["a"] == "vllm/a-v2"; }, 30s)) << op->log();

  cp->kill_apiserver();
  ASSERT_EQ(cp->etcd_delete("/registry/plano-operator.io/modelproviders/" + ns + "/b"), 1);
  const auto compacted_at = cp->etcd_revision();
  cp->etcd_compact(compacted_at);
  cp->start_apiserver();
  const auto restarted = Clock::now();
  client.create(res::kModelProviders, ns, vllm(ns, "d", "gw"));
  client.patch(res::kModelProviders, ns, "c", kube::PatchType::Merge, {{"spec", {{"model", "vllm/c-v2"}}}});

  EXPECT_TRUE(converges(client, ns, 60s)) << op->log();
  const auto converged_ms = ms_since(restarted);
  EXPECT_EQ(entries_of(config_of(client, ns, "gw")),
            (std::map<std::string, std::string>{{"a", "vllm/a-v2"}, {"c", "vllm/c-v2"}, {"d", "vllm/d-v1"}}));
  // The deletion was only ever visible to a relist: the watch from before had to be refused.
  static const std::regex relist("informer modelproviders\\.plano-operator\\.io: [^\\n]*relisting");
  const auto log = op->log();
  EXPECT_TRUE(std::regex_search(log, relist)) << log;
  std::printf("[ measured ] etcd compacted at revision %lld with a provider deleted behind the operator: relisted, "
              "converged %lld ms after the API server restart\n",
              static_cast<long long>(compacted_at), converged_ms);
  op->terminate();
}

// (3) The operator is killed (-9) while it reconciles a large gateway after a burst of creates and
// updates, three times, and restarted each time. A watch sees every version of the ConfigMap: each
// parses, and holds every provider that existed all along exactly once.
TEST_F(ReliabilityE2E, OperatorKilledMidReconcileNeverAppliesAPartialConfig) {
  auto& client = admin_client();
  const auto ns = create_namespace(client, "rel-partial");
  constexpr int kProviders = 150;
  // One namespace holds every provider here, more than the default share of 100.
  client.create(res::kPlanoGateways, ns, gateway(ns, "gw", {{"namespaces", {{"from", "Same"}}}, {"maxProvidersPerNamespace", 1000}}));
  std::set<std::string> always;
  for (int i = 0; i < kProviders; ++i) {
    const auto name = "p" + std::to_string(i);
    client.create(res::kModelProviders, ns, vllm(ns, name, "gw"));
    always.insert(name);
  }
  ConfigMapVersions seen(client, ns, "gw-plano-config");
  auto op = start_operator(control_plane().kubeconfig_path());
  ASSERT_TRUE(converges(client, ns, 60s)) << op->log();

  for (int round = 1; round <= 3; ++round) {
    // Updates half the providers and adds 30, then kills the operator a little later each round.
    for (int i = round % 2; i < kProviders; i += 2) {
      client.patch(res::kModelProviders, ns, "p" + std::to_string(i), kube::PatchType::Merge,
                   {{"spec", {{"model", "vllm/p" + std::to_string(i) + "-r" + std::to_string(round)}}}});
    }
    for (int i = 0; i < 30; ++i) client.create(res::kModelProviders, ns, vllm(ns, "n" + std::to_string(round) + "x" + std::to_string(i), "gw"));
    std::this_thread::sleep_for(std::chrono::milliseconds(50 * (round - 1)));
    op->kill9();
    // How far the reconcile got: providers whose Programmed condition is for their current spec.
    int programmed = 0, total = 0;
    for (const auto& p : client.list(res::kModelProviders, ns).items) {
      ++total;
      auto c = condition(p, "Programmed");
      programmed += !c.is_null() && c["observedGeneration"] == p["metadata"]["generation"] ? 1 : 0;
    }
    op = start_operator(control_plane().kubeconfig_path());
    const auto restarted = Clock::now();
    EXPECT_TRUE(converges(client, ns, 60s)) << "round " << round << "\n" << op->log();
    std::printf("[ measured ] round %d: operator killed with %d of %d providers' statuses current; converged %lld ms after the restart\n",
                round, programmed, total, ms_since(restarted));
  }
  EXPECT_TRUE(eventually([&] { return !seen.versions().empty() && seen.versions().back() == config_of(ns, "gw"); }, 10s));
  const auto versions = seen.versions();
  EXPECT_EQ(seen.relists(), 0u) << "the watch restarted with a relist: versions may be missing";
  int checked = 0, incomplete = 0;
  for (const auto& text : versions) {
    std::map<std::string, std::string> entries;
    try {
      entries = entries_of(text);
    } catch (const std::exception& e) {
      ADD_FAILURE() << "a ConfigMap version does not parse: " << e.what() << "\n" << text;
      ++incomplete;
      continue;
    }
    const auto missing = std::count_if(always.begin(), always.end(), [&](const std::string& name) { return !entries.count(name); });
    EXPECT_EQ(missing, 0) << "version " << checked << " of the ConfigMap lacks " << missing << " provider(s) present throughout";
    incomplete += missing ? 1 : 0;
    ++checked;
  }
  EXPECT_GE(checked, 4);  // the first render and at least one per round
  std::printf("[ measured ] %d ConfigMap versions observed over 3 kills, %d incomplete (%zu providers present throughout)\n",
              checked, incomplete, always.size());
}

// (3b) An operator one of whose caches never syncs (here RBAC forbids listing ModelProviders)
// reconciles nothing, however long it waits: a render then would drop every provider. It used to
// give up waiting after 2 minutes and render from what it had.
TEST_F(ReliabilityE2E, AnOperatorWhoseCachesNeverSyncRendersNothing) {
  auto& client = admin_client();
  const auto ns = create_namespace(client, "rel-unsynced");
  client.create(res::kPlanoGateways, ns, gateway(ns, "gw", {{"namespaces", {{"from", "Same"}}}}));
  for (const char* p : {"a", "b"}) client.create(res::kModelProviders, ns, vllm(ns, p, "gw"));
  {
    auto op = start_operator(control_plane().kubeconfig_path());
    ASSERT_TRUE(converges(client, ns, 30s)) << op->log();
  }
  const auto before = client.get(res::kConfigMaps, ns, "gw-plano-config")["metadata"]["resourceVersion"];

  // A ServiceAccount with everything the operator uses except ModelProviders, and a kubeconfig for it.
  auto kubectl = [&](const std::string& args) {
    auto r = kubectl_run(control_plane().kubeconfig_path(), args);
    EXPECT_EQ(r.code, 0) << args << "\n" << r.err;
    return r.out;
  };
  const auto role = unique_name("no-providers");
  kubectl("create serviceaccount limited -n " + ns);
  kubectl("create clusterrole " + role + " --verb='*' --resource='*.',deployments.apps,leases.coordination.k8s.io,"
          "events.events.k8s.io,planogateways.plano-operator.io,planogateways.plano-operator.io/status");
  kubectl("create clusterrolebinding " + role + " --clusterrole=" + role + " --serviceaccount=" + ns + ":limited");
  auto token = kubectl("create token limited -n " + ns + " --duration=1h");
  token.erase(token.find_last_not_of("\n") + 1);
  const auto kubeconfig = (s->dir / (role + ".kubeconfig")).string();
  fs::copy_file(control_plane().kubeconfig_path(), kubeconfig);
  kubectl_run(kubeconfig, "config set-credentials limited --token=" + shell_quote(token));
  kubectl_run(kubeconfig, "config set-context --current --user=limited");

  auto op = start_operator(kubeconfig);
  const auto started = Clock::now();
  // The old code started reconciling at this warning; give it 10 s more to show any write.
  ASSERT_TRUE(eventually([&] { return contains(op->log(), "caches not synced after"); }, 180s, 500ms)) << op->log();
  const bool rewritten = eventually([&] {
    return client.get(res::kConfigMaps, ns, "gw-plano-config")["metadata"]["resourceVersion"] != before;
  }, 10s, 200ms);
  EXPECT_FALSE(rewritten) << "the ConfigMap was rewritten from unsynced caches:\n" << config_of(ns, "gw") << op->log();
  EXPECT_NE(probe_get(*op, "/readyz"), "200");
  EXPECT_TRUE(contains(op->log(), "modelproviders")) << "the informer should say why it cannot sync\n" << op->log();
  EXPECT_EQ(entries_of(config_of(ns, "gw")).size(), 2u);
  std::printf("[ measured ] operator unable to list ModelProviders for %lld ms: ConfigMap %s\n", ms_since(started),
              rewritten ? "rewritten" : "unchanged");
  kubectl("delete clusterrolebinding " + role);
  kubectl("delete clusterrole " + role);
}

// (4) Two replicas with leader election; a loop creates, updates and deletes providers while the
// leader is killed (-9). Once the loop stops, the final config is the render of the final objects
// and every provider's status is for its current generation.
TEST_F(ReliabilityE2E, LeaderKilledUnderProviderChurnEveryChangeLandsOnce) {
  auto& client = admin_client();
  const auto lease_ns = create_namespace(client, "rel-lease");
  const auto ns = create_namespace(client, "rel-churn");
  client.create(res::kPlanoGateways, ns, gateway(ns, "gw", {{"namespaces", {{"from", "Same"}}}}));
  const auto kubeconfig = control_plane().kubeconfig_path();
  auto a = start_operator(kubeconfig, {"--lease-namespace", lease_ns, "--identity", "replica-a"});
  auto b = start_operator(kubeconfig, {"--lease-namespace", lease_ns, "--identity", "replica-b"});
  auto holder = [&] {
    auto lease = get_or_null(res::kLeases, lease_ns, "plano-operator");
    return lease.is_null() ? std::string() : lease["spec"].value("holderIdentity", "");
  };
  ASSERT_TRUE(eventually([&] { return !holder().empty(); }, 30s)) << a->log() << b->log();

  // The churn: a seeded random walk over 20 names; its own client, as a second user would have.
  kube::Client churn_client(control_plane().admin_config());
  std::atomic<bool> stop{false};
  std::atomic<int> creates{0}, updates{0}, deletes{0}, errors{0};
  std::thread churn([&] {
    std::mt19937 random(42);
    std::map<std::string, int> live;  // name -> version
    while (!stop) {
      const auto name = "c" + std::to_string(random() % 20);
      try {
        auto it = live.find(name);
        if (it == live.end()) {
          churn_client.create(res::kModelProviders, ns, vllm(ns, name, "gw"));
          live[name] = 1;
          ++creates;
        } else if (random() % 3 == 0) {
          churn_client.remove(res::kModelProviders, ns, name);
          live.erase(it);
          ++deletes;
        } else {
          churn_client.patch(res::kModelProviders, ns, name, kube::PatchType::Merge,
                             {{"spec", {{"model", "vllm/" + name + "-v" + std::to_string(++it->second)}}}});
          ++updates;
        }
      } catch (const kube::ApiError&) {
        ++errors;  // e.g. a delete still in flight; the final comparison is against what is stored
      }
      std::this_thread::sleep_for(20ms);
    }
  });
  std::this_thread::sleep_for(3s);
  const auto leader = holder();
  (leader == "replica-a" ? a : b)->kill9();
  const auto killed = Clock::now();
  const std::string standby = leader == "replica-a" ? "replica-b" : "replica-a";
  const bool took_over = eventually([&] { return holder() == standby; }, 40s, 100ms);
  const auto takeover_ms = ms_since(killed);
  std::this_thread::sleep_for(2s);  // churn under the new leader too
  stop = true;
  churn.join();
  ASSERT_TRUE(took_over) << "the standby never took the lease";
  const auto stopped = Clock::now();

  EXPECT_TRUE(converges(client, ns, 60s));
  const auto converged_ms = ms_since(stopped);
  const auto providers = client.list(res::kModelProviders, ns).items;
  EXPECT_EQ(entries_of(config_of(ns, "gw")).size(), providers.size());
  for (const auto& p : providers) {
    const auto name = p["metadata"]["name"].get<std::string>();
    EXPECT_TRUE(eventually([&] { return has_condition(res::kModelProviders, ns, name, "Programmed", "True"); }, 20s)) << name;
  }
  EXPECT_GT(creates + updates + deletes, 50);
  std::printf("[ measured ] churn: %d creates, %d updates, %d deletes (%d refused), leader %s killed; %s took the lease "
              "after %lld ms; final config (%zu providers) matched %lld ms after the churn stopped\n",
              creates.load(), updates.load(), deletes.load(), errors.load(), leader.c_str(), standby.c_str(), takeover_ms,
              providers.size(), converged_ms);
}

// (5) The API server sends admission requests (server dry runs) without pause while the webhook is
// restarted twice, gracefully (SIGTERM) and by kill -9. Failures stay within the restart windows,
// and no request takes longer than the webhook timeout allows.
TEST_F(ReliabilityE2E, WebhookRestartsFailOnlyInTheirWindowAndNothingHangs) {
  auto& client = admin_client();
  const auto ns = create_namespace(client, "rel-webhook");
  client.create(res::kPlanoGateways, ns, gateway(ns, "gw", {{"namespaces", {{"from", "Same"}}}}));
  const int port = free_port();
  auto webhook = start_webhook(port);
  ASSERT_TRUE(eventually([&] { return ready(*webhook); }, 30s, 100ms)) << webhook->log();
  Registration registration(port, s->pki->ca_base64());
  // Registration is asynchronous in the API server; the webhook's own warning shows it is called.
  auto stray = provider(ns, "probe", ns, "no-such-gateway", {{"model", "openai/gpt-4o"}, {"passthroughAuth", true}});
  const std::string allowed = "plano_webhook_admission_requests_total{kind=\"ModelProvider\",operation=\"CREATE\",verdict=\"allowed\"}";
  ASSERT_TRUE(eventually([&] {
    try {
      client.create(res::kModelProviders, ns, stray, {"", true});
    } catch (const kube::ApiError&) {
      return false;
    }
    return webhook->metric(allowed) >= 1;
  }, 30s, 200ms)) << webhook->log();

  struct Request {
    Clock::time_point start;
    long long ms;
    std::string error;
  };
  std::mutex mu;
  std::vector<Request> requests;
  std::atomic<bool> stop{false};
  // A request every 25 ms, each on its own thread, so that requests keep starting on time while
  // others wait on a slow answer (a fixed set of clients would all be waiting at once).
  kube::Client load_client(control_plane().admin_config());
  std::vector<std::future<void>> in_flight;
  std::thread load([&] {
    for (int i = 0; !stop; ++i) {
      in_flight.push_back(std::async(std::launch::async, [&, i] {
        const auto start = Clock::now();
        std::string error;
        try {
          load_client.create(res::kModelProviders, ns, vllm(ns, "load-" + std::to_string(i), "gw"), {"", true});
        } catch (const kube::ApiError& e) {
          error = e.what();
        }
        std::lock_guard lock(mu);
        requests.push_back({start, ms_since(start), error});
      }));
      std::this_thread::sleep_for(25ms);
    }
  });
  struct Window {
    Clock::time_point from, to;
  };
  std::vector<Window> windows;
  std::this_thread::sleep_for(2s);
  for (const bool graceful : {true, false}) {
    const auto from = Clock::now();
    graceful ? webhook->terminate() : webhook->kill9();
    webhook = start_webhook(port);
    EXPECT_TRUE(eventually([&] { return ready(*webhook); }, 30s, 20ms)) << webhook->log();
    windows.push_back({from, Clock::now()});
    std::this_thread::sleep_for(3s);
  }
  stop = true;
  load.join();
  for (auto& f : in_flight) f.get();

  // A request fails only if it overlapped a window (from the stop until the new process is ready,
  // plus 1 s for the API server to drop what it knew of the old process).
  int failed = 0, outside = 0;
  long long slowest = 0;
  std::vector<int> failed_in(windows.size(), 0), total_in(windows.size(), 0);
  for (const auto& r : requests) {
    slowest = std::max(slowest, r.ms);
    const auto end = r.start + std::chrono::milliseconds(r.ms);
    int in = -1;
    for (std::size_t w = 0; w < windows.size(); ++w) {
      if (end >= windows[w].from && r.start <= windows[w].to + 1s) in = static_cast<int>(w);
    }
    if (in >= 0) ++total_in[in];
    if (r.error.empty()) continue;
    ++failed;
    if (in >= 0) {
      ++failed_in[in];
    } else {
      ++outside;
      ADD_FAILURE() << "failed outside a restart window: " << r.error;
    }
    EXPECT_TRUE(contains(r.error, "failed calling webhook")) << r.error;
  }
  // The API server gives up on the webhook after timeoutSeconds; its own work on a loaded machine
  // gets 3 s more. A request past that hangs.
  EXPECT_LT(slowest, (kWebhookTimeoutSeconds + 3) * 1000);
  EXPECT_GT(requests.size(), 20u);
  EXPECT_EQ(outside, 0);
  for (std::size_t w = 0; w < windows.size(); ++w) {
    std::printf("[ measured ] webhook %s restart: window %lld ms, %d of %d requests in it failed\n", w == 0 ? "SIGTERM" : "kill -9",
                static_cast<long long>(std::chrono::duration_cast<std::chrono::milliseconds>(windows[w].to - windows[w].from).count()),
                failed_in[w], total_in[w]);
  }
  std::printf("[ measured ] %zu admission requests through the API server, %d failed (%d outside a window), slowest %lld ms\n",
              requests.size(), failed, outside, slowest);
}

// (6) A random key in a tenant's Secret goes where it must (the gateway's keys Secret) and nowhere
// else: no ConfigMap, status, Event, log line or metric of either process, through a bad
// reference and a rotation too. Another tenant, with `edit` in its own namespace, can read none of
// it, and the webhook's refusal it gets names nothing of the first tenant's.
TEST_F(ReliabilityE2E, ATenantKeyReachesOnlyTheKeysSecretAndOtherTenantsCannotSeeIt) {
  auto& client = admin_client();
  std::random_device rd;
  auto canary = [&] {
    char buf[40];
    std::snprintf(buf, sizeof buf, "sk-canary-%08x%08x", rd(), rd());
    return std::string(buf);
  };
  const auto key1 = canary(), key2 = canary();
  const auto platform = create_namespace(client, "rel-platform");
  const auto alpha = unique_name("rel-alpha"), bravo = unique_name("rel-bravo");
  for (const auto& t : {alpha, bravo}) client.create(res::kNamespaces, "", namespace_object(t, true));
  const int port = free_port();
  auto webhook = start_webhook(port, {"--log-level", "debug"});
  auto op = start_operator(control_plane().kubeconfig_path(), {"--leader-elect=false", "--log-level", "debug"});
  ASSERT_TRUE(eventually([&] { return ready(*webhook); }, 30s, 100ms)) << webhook->log();
  Registration registration(port, s->pki->ca_base64());

  const json selector = {{"from", "Selector"}, {"selector", {{"matchLabels", {{"plano-operator.io/tenant", "true"}}}}}};
  client.create(res::kPlanoGateways, platform, gateway(platform, "shared", {{"namespaces", selector}}));
  client.create(res::kSecrets, alpha, {{"metadata", {{"name", "alpha-vault"}, {"namespace", alpha}}}, {"stringData", {{"api-key", key1}}}});
  client.create(res::kModelProviders, alpha,
                provider(alpha, "alpha-gpt", platform, "shared",
                         {{"model", "openai/gpt-4o"}, {"accessKeySecretRef", {{"name", "alpha-vault"}, {"key", "api-key"}}}}));
  auto keys_hold = [&](const std::string& key) {
    auto keys = get_or_null(res::kSecrets, platform, "shared-plano-keys");
    if (keys.is_null()) return false;
    const auto data = keys.value("data", json::object());
    for (const auto& [var, v] : data.items()) {
      if (encoding::base64_decode(v.get<std::string>()) == key) return true;
    }
    return false;
  };
  // The control: the key does reach the keys Secret, so the flow ran.
  ASSERT_TRUE(eventually([&] { return keys_hold(key1); }, 30s)) << op->log();

  // Error paths: a key name the Secret lacks, and a Secret that does not exist.
  client.create(res::kModelProviders, alpha,
                provider(alpha, "alpha-bad-key", platform, "shared",
                         {{"model", "anthropic/claude-sonnet-4-5"}, {"accessKeySecretRef", {{"name", "alpha-vault"}, {"key", "no-such-key"}}}}));
  client.create(res::kModelProviders, alpha,
                provider(alpha, "alpha-no-secret", platform, "shared",
                         {{"model", "openai/o3"}, {"accessKeySecretRef", {{"name", "alpha-missing"}, {"key", "api-key"}}}}));
  for (const char* p : {"alpha-bad-key", "alpha-no-secret"}) {
    EXPECT_TRUE(eventually([&] { return has_condition(res::kModelProviders, alpha, p, "ResolvedRefs", "False"); }, 30s)) << p;
  }
  // A rotation.
  client.patch(res::kSecrets, alpha, "alpha-vault", kube::PatchType::Merge, {{"stringData", {{"api-key", key2}}}});
  ASSERT_TRUE(eventually([&] { return keys_hold(key2); }, 30s)) << op->log();

  // bravo's user: `edit` in bravo only, plus ModelProviders there (the chart ships no aggregated role).
  const std::string user = "bravo-user";
  aggregate_cluster_role(client, "edit");
  auto kubectl = [&](const std::string& args) { return kubectl_run(control_plane().kubeconfig_path(), args); };
  ASSERT_EQ(kubectl("create rolebinding bravo-edit --clusterrole=edit --user=" + user + " -n " + bravo).code, 0);
  ASSERT_EQ(kubectl("create role providers --verb=get,list,create,update --resource=modelproviders.plano-operator.io -n " + bravo).code, 0);
  ASSERT_EQ(kubectl("create rolebinding bravo-providers --role=providers --user=" + user + " -n " + bravo).code, 0);
  const auto as = " --as=" + user + " ";
  std::string rbac_out;
  EXPECT_TRUE(eventually([&] {
    auto r = kubectl("create secret generic own-key --from-literal=k=v -n " + bravo + as);  // the control: edit works
    rbac_out = r.err;
    return r.code == 0;
  }, 10s, 200ms)) << rbac_out;
  int forbidden = 0;
  for (const auto& attempt : {"get secret shared-plano-keys -n " + platform, "get secrets -n " + platform,
                              "get secret alpha-vault -n " + alpha, "get secrets -n " + alpha}) {
    auto r = kubectl(attempt + as);
    EXPECT_NE(r.code, 0) << attempt;
    EXPECT_TRUE(contains(r.err, "Forbidden") || contains(r.err, "forbidden")) << attempt << ": " << r.err;
    forbidden += r.code != 0 && contains(r.err, "orbidden") ? 1 : 0;
    EXPECT_FALSE(contains(r.out + r.err, key1) || contains(r.out + r.err, key2)) << attempt;
  }
  // bravo takes alpha's model_id: refused by the webhook, naming the holder (so bravo knows whom to
  // ask) but never alpha's Secret.
  const auto intruder = fs::path(s->dir) / (unique_name("intruder") + ".json");
  {
    std::ofstream(intruder) << provider(bravo, "bravo-gpt", platform, "shared",
                                        {{"model", "azure_openai/gpt-4o"}, {"baseURL", "https://bravo.openai.azure.com"}, {"passthroughAuth", true}})
                                   .dump();
  }
  KubectlResult refused;
  EXPECT_TRUE(eventually([&] { return (refused = kubectl("create -f " + intruder.string() + as)).code != 0 &&
                                      contains(refused.err, "model_id gpt-4o is already served"); }, 20s, 200ms))
      << refused.err;
  EXPECT_TRUE(contains(refused.err, "denied the request")) << refused.err;
  EXPECT_TRUE(contains(refused.err, "held by ModelProvider/" + alpha + "/alpha-gpt")) << refused.err;
  EXPECT_FALSE(contains(refused.err, "alpha-vault")) << "names alpha's Secret: " << refused.err;

  // Now look everywhere but Secrets, in every namespace.
  std::map<std::string, std::string> places;
  for (const auto* r : {&res::kConfigMaps, &res::kPlanoGateways, &res::kModelProviders, &res::kDeployments, &res::kServices,
                        &res::kEvents, &kCoreEvents, &res::kLeases}) {
    places[r->plural + "." + r->group] = json(client.list(*r, "").items).dump();
  }
  places["operator log"] = op->log();
  places["webhook log"] = webhook->log();
  std::string metrics;
  run_command("curl -sf http://127.0.0.1:" + std::to_string(op->probe_port()) + "/metrics", &metrics);
  places["operator /metrics"] = metrics;
  run_command("curl -sf http://127.0.0.1:" + std::to_string(webhook->probe_port()) + "/metrics", &metrics);
  places["webhook /metrics"] = metrics;
  EXPECT_TRUE(contains(places["events.events.k8s.io"], "alpha-bad-key")) << "the error paths made no Event to search";
  EXPECT_TRUE(contains(places["operator /metrics"], "plano_operator_reconcile_total"));
  EXPECT_TRUE(contains(places["webhook /metrics"], "plano_webhook_admission_requests_total"));
  std::size_t searched = 0;
  int found = 0;
  for (const auto& [where, text] : places) {
    searched += text.size();
    for (const auto& key : {key1, key2}) {
      for (const auto& form : {key, encoding::base64_encode(key)}) {
        found += contains(text, form) ? 1 : 0;
        EXPECT_FALSE(contains(text, form)) << "the key (" << (form == key ? "plain" : "base64") << ") is in the " << where;
      }
    }
  }
  std::printf("[ measured ] 2 canary keys, plain and base64, searched for in %zu places (%zu bytes: objects of 8 kinds, 2 logs, "
              "2 /metrics): found %d times; the tenant's %d reads of Secrets were refused\n",
              places.size(), searched, found, forbidden);
}

}  // namespace
}  // namespace plano::testing
