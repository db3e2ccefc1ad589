// The operator on a cluster whose controllers run (scripts/controlplane.sh without PLANO_CP_BARE):
// kube-controller-manager turns the operator's Deployment into ReplicaSets and pods, kube-scheduler
// places them on a kwok node, and kwok reports them Running and Ready. So these tests see what a
// user's cluster does with the operator's objects: rollouts, readiness, garbage collection,
// namespace deletion.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <functional>
#include <iostream>
#include <set>
#include <thread>

#include "core/kube/resource.h"
#include "tests/e2e/cluster_support.h"
#include "tests/e2e/operator_process.h"
#include "tests/support/control_plane.h"

namespace plano::testing {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;
namespace res = kube::resources;

// Pods of a fresh Deployment are scheduled, started by kwok and counted available by the
// Deployment controller within seconds; the margin is for a loaded 2-core CI machine.
constexpr auto kConverge = 90s;

// eventually() within kConverge, printing how long it took as "[ measured ] <what> in <ms> ms".
bool measured(const std::string& what, const std::function<bool()>& done, std::chrono::milliseconds interval = 250ms) {
  const auto start = std::chrono::steady_clock::now();
  const bool ok = eventually(done, kConverge, interval);
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start).count();
  std::cout << "[ measured ] " << what << (ok ? " in " : " did not happen in ") << ms << " ms\n";
  return ok;
}

std::string pod_selector(const std::string& gateway) {
  return "app.kubernetes.io/name=plano,app.kubernetes.io/instance=" + gateway;
}

std::vector<json> pods_of(const std::string& ns, const std::string& gateway) {
  return admin_client().list(kPods, ns, {pod_selector(gateway)}).items;
}

// The ReplicaSets the gateway's Deployment owns, oldest first.
std::vector<json> replica_sets_of(const std::string& ns, const std::string& gateway) {
  auto deployment = get_or_null(res::kDeployments, ns, gateway + "-plano");
  std::vector<json> out;
  if (deployment.is_null()) return out;
  for (const auto& rs : admin_client().list(kReplicaSets, ns, {pod_selector(gateway)}).items) {
    for (const auto& owner : rs["metadata"].value("ownerReferences", json::array())) {
      if (owner["uid"] == deployment["metadata"]["uid"]) out.push_back(rs);
    }
  }
  std::sort(out.begin(), out.end(), [](const json& a, const json& b) {
    auto revision = [](const json& rs) {
      return std::stoi(rs["metadata"]["annotations"].value("deployment.kubernetes.io/revision", "0"));
    };
    return revision(a) < revision(b);
  });
  return out;
}

bool pod_ready(const json& pod) {
  for (const auto& c : pod.value("status", json::object()).value("conditions", json::array())) {
    if (c["type"] == "Ready") return c["status"] == "True";
  }
  return false;
}

// The Deployment runs pod template `hash` (the operator's config hash) everywhere: every pod of the
// gateway belongs to the newest ReplicaSet and is Ready, no pod of an older one is left (not even
// a terminating one), and the gateway says Ready for its current generation.
bool rolled_out(const std::string& ns, const std::string& gateway, const std::string& hash) {
  if (hash.empty() || settled_rollout_of(ns, gateway) != hash) return false;
  const auto deployment = get_or_null(res::kDeployments, ns, gateway + "-plano");
  const auto sets = replica_sets_of(ns, gateway);
  if (deployment.is_null() || sets.empty()) return false;
  const auto newest = sets.back()["metadata"]["labels"].value("pod-template-hash", "");
  const auto wanted = deployment["spec"].value("replicas", 1);
  const auto pods = pods_of(ns, gateway);
  if (static_cast<int>(pods.size()) != wanted) return false;
  for (const auto& pod : pods) {
    if (pod["metadata"]["labels"].value("pod-template-hash", "") != newest || !pod_ready(pod)) return false;
  }
  return has_condition(res::kPlanoGateways, ns, gateway, "Ready", "True", "Available");
}

std::string describe(const std::string& ns, const std::string& gateway) {
  std::string out = "gateway Ready: " + condition(get_or_null(res::kPlanoGateways, ns, gateway), "Ready").dump() + "\n";
  auto deployment = get_or_null(res::kDeployments, ns, gateway + "-plano");
  if (!deployment.is_null()) out += "Deployment status: " + deployment["status"].dump() + "\n";
  for (const auto& rs : replica_sets_of(ns, gateway)) {
    out += "ReplicaSet " + rs["metadata"]["name"].get<std::string>() + " replicas " + rs["spec"]["replicas"].dump() + "\n";
  }
  for (const auto& pod : pods_of(ns, gateway)) {
    out += "Pod " + pod["metadata"]["name"].get<std::string>() + " " + pod["status"].value("phase", "") +
           (pod_ready(pod) ? " Ready" : " NotReady") + (pod["metadata"].contains("deletionTimestamp") ? " terminating" : "") + "\n";
  }
  return out;
}

int revision_of(const std::string& ns, const std::string& gateway) {
  auto deployment = admin_client().get(res::kDeployments, ns, gateway + "-plano");
  return std::stoi(deployment["metadata"]["annotations"].value("deployment.kubernetes.io/revision", "0"));
}

class ClusterE2E : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { install_crds(admin_client()); }
  std::unique_ptr<OperatorProcess> start_operator() {
    return std::make_unique<OperatorProcess>(control_plane().kubeconfig_path(), std::vector<std::string>{"--leader-elect=false"},
                                             log_file("cluster"));
  }
};

TEST_F(ClusterE2E, ExamplesBecomeReady) {
  for (const char* ns : {"platform", "team-a", "team-b"}) {
    if (get_or_null(res::kNamespaces, "", ns).is_null()) admin_client().create(res::kNamespaces, "", {{"metadata", {{"name", ns}}}});
  }
  for (const char* file : {"litellm-passthrough.yaml", "managed-keys-and-vllm.yaml", "multi-tenant-byok.yaml"}) {
    kubectl("apply -f " + (std::filesystem::path(PLANO_SOURCE_DIR) / "examples" / file).string());
  }
  auto op = start_operator();
  for (const char* gw : {"litellm-gateway", "llm-gateway", "shared-gateway"}) {
    EXPECT_TRUE(measured(std::string("example ") + gw + " Ready after the operator started",
                         [&] { return rolled_out("platform", gw, rollout_of("platform", gw)); }))
        << gw << "\n" << describe("platform", gw) << op->log();
  }
}

TEST_F(ClusterE2E, AConfigChangeOrAKeyRotationIsOneRollout) {
  const auto ns = create_namespace(admin_client(), "e2e-rollout");
  apply_yaml(gateway_yaml(ns, "gw", "{namespaces: {from: Same}}", "replicas: 2, minRolloutInterval: 0s") +
             "---\napiVersion: v1\nkind: Secret\nmetadata: {name: openai, namespace: " + ns + "}\nstringData: {api-key: sk-one}\n" +
             provider_yaml(ns, "managed", ns, "  model: openai/gpt-4o\n  accessKeySecretRef: {name: openai, key: api-key}\n  default: true\n") +
             provider_yaml(ns, "local", ns, "  model: ollama/llama3.1\n  baseURL: http://ollama:11434\n  passthroughAuth: true\n"));
  auto op = start_operator();
  ASSERT_TRUE(eventually([&] { return rolled_out(ns, "gw", settled_rollout_of(ns, "gw")); }, kConverge, 250ms))
      << describe(ns, "gw") << op->log();
  ASSERT_EQ(replica_sets_of(ns, "gw").size(), 1u) << describe(ns, "gw");
  ASSERT_EQ(revision_of(ns, "gw"), 1);

  // Each change: the pod template changes once, so the Deployment controller makes exactly one new
  // ReplicaSet (one revision more), moves every pod to it, and the old pods are gone.
  auto expect_one_rollout = [&](const std::string& what, const std::function<void()>& change) {
    const auto before = settled_rollout_of(ns, "gw");
    const auto revision = revision_of(ns, "gw");
    const auto old_pods = pods_of(ns, "gw");
    change();
    std::string now;
    EXPECT_TRUE(measured(what + " rolled out to every pod, old pods gone, gateway Ready", [&] {
      now = settled_rollout_of(ns, "gw");
      return now != before && rolled_out(ns, "gw", now);
    })) << what << "\n" << describe(ns, "gw") << op->log();
    // A second template change after the first would come within one reconcile; give it the time.
    std::this_thread::sleep_for(2s);
    EXPECT_EQ(rollout_of(ns, "gw"), now) << what << ": the pod template changed again";
    EXPECT_EQ(revision_of(ns, "gw"), revision + 1) << what << "\n" << describe(ns, "gw");
    const auto sets = replica_sets_of(ns, "gw");
    ASSERT_EQ(static_cast<int>(sets.size()), revision + 1) << what << "\n" << describe(ns, "gw");
    for (size_t i = 0; i + 1 < sets.size(); ++i) EXPECT_EQ(sets[i]["spec"]["replicas"], 0) << what << ": an old ReplicaSet still runs";
    std::set<std::string> old_names;
    for (const auto& pod : old_pods) old_names.insert(pod["metadata"]["name"].get<std::string>());
    for (const auto& pod : pods_of(ns, "gw")) {
      EXPECT_EQ(old_names.count(pod["metadata"]["name"].get<std::string>()), 0u) << what << ": an old pod is left";
    }
  };
  expect_one_rollout("provider change", [&] {
    admin_client().patch(res::kModelProviders, ns, "local", kube::PatchType::Merge, {{"spec", {{"model", "ollama/qwen3"}}}});
  });
  EXPECT_NE(config_of(ns, "gw").find("ollama/qwen3"), std::string::npos);
  expect_one_rollout("key rotation", [&] {
    admin_client().patch(res::kSecrets, ns, "openai", kube::PatchType::Merge, {{"stringData", {{"api-key", "sk-two"}}}});
  });
}

// Marks every node unschedulable (kubectl cordon) while it lives, and schedulable again after.
class Cordon {
 public:
  Cordon() { set(true); }
  ~Cordon() { set(false); }
  Cordon(const Cordon&) = delete;
  Cordon& operator=(const Cordon&) = delete;

 private:
  static void set(bool unschedulable) {
    for (const auto& node : admin_client().list(kNodes, "", {}).items) {
      admin_client().patch(kNodes, "", node["metadata"]["name"].get<std::string>(), kube::PatchType::Merge,
                           {{"spec", {{"unschedulable", unschedulable}}}});
    }
  }
};

int ready_pods_of(const std::string& ns, const std::string& gateway, const std::string& template_hash) {
  int ready = 0;
  for (const auto& pod : pods_of(ns, gateway)) {
    if (pod["metadata"]["labels"].value("pod-template-hash", "") == template_hash && pod_ready(pod) &&
        !pod["metadata"].contains("deletionTimestamp")) {
      ++ready;
    }
  }
  return ready;
}

// A rollout keeps every serving pod until its replacement is ready (maxUnavailable 0), each pod
// gets longer than the listener's timeout to drain (preStop), and node drains meet a
// PodDisruptionBudget while there is more than one replica.
TEST_F(ClusterE2E, RolloutsKeepCapacityAndLetStreamsFinish) {
  const auto ns = create_namespace(admin_client(), "e2e-graceful");
  // Four replicas: Kubernetes' default strategy (25%) would take one down at once; two would round to none.
  apply_yaml(gateway_yaml(ns, "gw", "{namespaces: {from: Same}}", "replicas: 4, minRolloutInterval: 0s") +
             provider_yaml(ns, "local", ns, "  model: ollama/llama3.1\n  baseURL: http://ollama:11434\n  passthroughAuth: true\n  default: true\n"));
  auto op = start_operator();
  ASSERT_TRUE(eventually([&] { return rolled_out(ns, "gw", settled_rollout_of(ns, "gw")); }, kConverge, 250ms))
      << describe(ns, "gw") << op->log();

  const auto deployment = admin_client().get(res::kDeployments, ns, "gw-plano");
  const auto& strategy = deployment["spec"]["strategy"];
  EXPECT_EQ(strategy["type"], "RollingUpdate");
  EXPECT_EQ(strategy["rollingUpdate"]["maxUnavailable"], 0);
  EXPECT_EQ(strategy["rollingUpdate"]["maxSurge"], 1);
  const auto& pod_spec = deployment["spec"]["template"]["spec"];
  // The listener sets no timeout: Plano's default is 300s.
  EXPECT_GT(pod_spec["terminationGracePeriodSeconds"].get<int>(), 300) << pod_spec.dump(2);
  const auto& container = pod_spec["containers"][0];
  EXPECT_TRUE(container.contains("lifecycle") && container["lifecycle"]["preStop"].contains("exec")) << container.dump(2);
  EXPECT_EQ(container["readinessProbe"]["httpGet"]["path"], "/v1/models");

  const auto pdb = get_or_null(res::kPodDisruptionBudgets, ns, "gw-plano");
  ASSERT_FALSE(pdb.is_null()) << op->log();
  EXPECT_EQ(pdb["spec"]["maxUnavailable"], 1);
  EXPECT_EQ(pdb["metadata"]["ownerReferences"][0]["kind"], "PlanoGateway");
  // The disruption controller counts the gateway's pods under it.
  EXPECT_TRUE(measured("the PodDisruptionBudget counts the 4 ready pods", [&] {
    const auto live = get_or_null(res::kPodDisruptionBudgets, ns, "gw-plano");
    return !live.is_null() && live.value("status", json::object()).value("currentHealthy", 0) == 4 &&
           live["status"].value("disruptionsAllowed", -1) == 1;
  })) << get_or_null(res::kPodDisruptionBudgets, ns, "gw-plano").dump(2);

  // A config change while no new pod can be scheduled: the new ReplicaSet's pod stays Pending, so
  // not one old pod may go.
  const auto old_template = replica_sets_of(ns, "gw").back()["metadata"]["labels"].value("pod-template-hash", "");
  {
    Cordon cordon;
    const auto before = settled_rollout_of(ns, "gw");
    admin_client().patch(res::kModelProviders, ns, "local", kube::PatchType::Merge, {{"spec", {{"model", "ollama/qwen3"}}}});
    ASSERT_TRUE(measured("the new ReplicaSet exists", [&] {
      return settled_rollout_of(ns, "gw") != before && replica_sets_of(ns, "gw").size() == 2;
    })) << describe(ns, "gw") << op->log();
    const bool lost_capacity = eventually([&] { return ready_pods_of(ns, "gw", old_template) < 4; }, 8s, 200ms);
    EXPECT_FALSE(lost_capacity) << "an old pod went before its replacement was ready\n" << describe(ns, "gw");
    const auto sets = replica_sets_of(ns, "gw");
    EXPECT_EQ(sets.front()["spec"]["replicas"], 4) << describe(ns, "gw");
    EXPECT_EQ(sets.back()["spec"]["replicas"], 1) << "maxSurge 1\n" << describe(ns, "gw");
  }
  EXPECT_TRUE(measured("the rollout finished once pods could be scheduled",
                       [&] { return rolled_out(ns, "gw", settled_rollout_of(ns, "gw")); }))
      << describe(ns, "gw") << op->log();

  // One replica: nothing left to keep available, so the budget goes (it would block every drain).
  admin_client().patch(res::kPlanoGateways, ns, "gw", kube::PatchType::Merge, {{"spec", {{"deployment", {{"replicas", 1}}}}}});
  EXPECT_TRUE(measured("the PodDisruptionBudget is deleted at one replica",
                       [&] { return get_or_null(res::kPodDisruptionBudgets, ns, "gw-plano").is_null(); }))
      << op->log();
}

TEST_F(ClusterE2E, ReadyFollowsThePodsReadiness) {
  const auto ns = create_namespace(admin_client(), "e2e-ready");
  apply_yaml(gateway_yaml(ns, "gw", "{namespaces: {from: Same}}", "replicas: 2, minRolloutInterval: 0s") +
             provider_yaml(ns, "p", ns, "  model: openai/gpt-4o\n  passthroughAuth: true\n  default: true\n"));
  auto op = start_operator();
  ASSERT_TRUE(eventually([&] { return rolled_out(ns, "gw", settled_rollout_of(ns, "gw")); }, kConverge, 250ms))
      << describe(ns, "gw") << op->log();
  EXPECT_EQ(condition(get_or_null(res::kPlanoGateways, ns, "gw"), "Ready")["message"], "2/2 replicas available");

  // What a kubelet reports when a readiness probe fails. kwok only makes Pending pods Ready, so it
  // leaves this Running pod as we set it; the Deployment controller does not replace NotReady pods.
  const auto pod = pods_of(ns, "gw").front()["metadata"]["name"].get<std::string>();
  auto set_ready = [&](const std::string& status) {
    admin_client().patch_status(kPods, ns, pod, kube::PatchType::StrategicMerge,
                                {{"status", {{"conditions", json::array({{{"type", "Ready"}, {"status", status}},
                                                                         {{"type", "ContainersReady"}, {"status", status}}})}}}});
  };
  set_ready("False");
  EXPECT_TRUE(measured("gateway Ready=False after a pod went NotReady",
                       [&] { return has_condition(res::kPlanoGateways, ns, "gw", "Ready", "False", "DeploymentNotAvailable"); },
                       100ms))
      << describe(ns, "gw") << op->log();
  EXPECT_EQ(condition(get_or_null(res::kPlanoGateways, ns, "gw"), "Ready")["message"], "1/2 replicas available, 2 updated");
  // And it stays so: nothing (kwok, a controller, a later reconcile) turns the pod or the gateway back.
  const bool flipped_back = eventually(
      [&] { return !has_condition(res::kPlanoGateways, ns, "gw", "Ready", "False", "DeploymentNotAvailable"); }, 3s, 100ms);
  EXPECT_FALSE(flipped_back) << describe(ns, "gw") << op->log();
  EXPECT_FALSE(pod_ready(admin_client().get(kPods, ns, pod))) << "something made the pod Ready again";

  set_ready("True");
  EXPECT_TRUE(measured("gateway Ready=True after the pod became Ready again",
                       [&] { return has_condition(res::kPlanoGateways, ns, "gw", "Ready", "True", "Available"); }, 100ms))
      << describe(ns, "gw") << op->log();
}

TEST_F(ClusterE2E, NamespacesWithProvidersOrAGatewayCanBeDeleted) {
  const auto gw_ns = create_namespace(admin_client(), "e2e-nsdel-gw");
  const auto tenant = create_namespace(admin_client(), "e2e-nsdel-tenant");
  apply_yaml(gateway_yaml(gw_ns, "gw", "{namespaces: {from: All}}") +
             provider_yaml(gw_ns, "own", gw_ns, "  model: openai/gpt-4o\n  passthroughAuth: true\n  default: true\n") +
             "---\napiVersion: v1\nkind: Secret\nmetadata: {name: anthropic, namespace: " + tenant + "}\nstringData: {api-key: sk-t}\n" +
             provider_yaml(tenant, "managed", gw_ns, "  model: anthropic/claude-sonnet-4\n  accessKeySecretRef: {name: anthropic, key: api-key}\n") +
             provider_yaml(tenant, "passthrough", gw_ns, "  model: openai/o3\n  passthroughAuth: true\n"));
  auto op = start_operator();
  for (const char* name : {"managed", "passthrough"}) {
    ASSERT_TRUE(eventually([&] { return has_condition(res::kModelProviders, tenant, name, "Programmed", "True"); }, kConverge, 250ms))
        << name << "\n" << op->log();
  }
  ASSERT_TRUE(eventually([&] { return rolled_out(gw_ns, "gw", settled_rollout_of(gw_ns, "gw")); }, kConverge, 250ms))
      << describe(gw_ns, "gw") << op->log();

  // The tenant leaves: its namespace goes with its providers, and the gateway stops serving them.
  admin_client().remove(res::kNamespaces, "", tenant);
  EXPECT_TRUE(measured("tenant namespace with 2 providers and a Secret deleted",
                       [&] { return get_or_null(res::kNamespaces, "", tenant).is_null(); }))
      << kubectl("get namespace " + tenant + " -o yaml") << op->log();
  EXPECT_TRUE(eventually([&] {
    const auto config = config_of(gw_ns, "gw");
    return config.find("claude-sonnet-4") == std::string::npos && config.find("openai/o3") == std::string::npos &&
           config.find("openai/gpt-4o") != std::string::npos;
  }, kConverge, 250ms)) << config_of(gw_ns, "gw");

  // The platform's namespace goes too, with the gateway, its running pods and its own provider.
  admin_client().remove(res::kNamespaces, "", gw_ns);
  EXPECT_TRUE(measured("gateway namespace with its running pods deleted",
                       [&] { return get_or_null(res::kNamespaces, "", gw_ns).is_null(); }))
      << kubectl("get namespace " + gw_ns + " -o yaml") << op->log();
}

// Last in the file (gtest runs a suite's tests in order): the garbage collector learns of a new
// CRD's kind only at its 30 s discovery resync, so a gateway deleted right after the CRDs were
// installed waits for that; by now they are about that old.
TEST_F(ClusterE2E, DeletingAGatewayCollectsEverythingItOwned) {
  const auto ns = create_namespace(admin_client(), "e2e-gc");
  apply_yaml(gateway_yaml(ns, "gw", "{namespaces: {from: Same}}") +
             "---\napiVersion: v1\nkind: Secret\nmetadata: {name: openai, namespace: " + ns + "}\nstringData: {api-key: sk-one}\n" +
             provider_yaml(ns, "p", ns, "  model: openai/gpt-4o\n  accessKeySecretRef: {name: openai, key: api-key}\n  default: true\n"));
  auto op = start_operator();
  ASSERT_TRUE(eventually([&] { return rolled_out(ns, "gw", settled_rollout_of(ns, "gw")); }, kConverge, 250ms))
      << describe(ns, "gw") << op->log();

  admin_client().remove(res::kPlanoGateways, ns, "gw");
  const std::vector<std::pair<const kube::Resource*, std::string>> owned = {
      {&res::kConfigMaps, "gw-plano-config"}, {&res::kSecrets, "gw-plano-keys"},
      {&res::kDeployments, "gw-plano"}, {&res::kServices, "gw-plano"}};
  for (const auto& [resource, name] : owned) {
    EXPECT_TRUE(measured(resource->kind + " " + name + " collected after its gateway was deleted",
                         [&] { return get_or_null(*resource, ns, name).is_null(); }))
        << resource->kind << " " << name << " outlived its gateway\n" << op->log();
  }
  EXPECT_TRUE(measured("the gateway's ReplicaSets and pods gone",
                       [&] { return replica_sets_of(ns, "gw").empty() && pods_of(ns, "gw").empty(); }))
      << describe(ns, "gw");
  // The tenant's own Secret and provider are not the gateway's: they stay.
  EXPECT_FALSE(get_or_null(res::kSecrets, ns, "openai").is_null());
  EXPECT_FALSE(get_or_null(res::kModelProviders, ns, "p").is_null());
}

}  // namespace
}  // namespace plano::testing
