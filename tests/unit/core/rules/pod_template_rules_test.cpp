// What a gateway may carry into its Deployment's pod template and its NetworkPolicy: each case is one
// the owned-objects property test (tests/integration/operator/owned_objects_property_test.cpp) found
// stored by the CRD, accepted by the rules, and then refused by the API server in the object the
// operator wrote. The rules now refuse it on the gateway's field, before any rollout.
#include <gtest/gtest.h>

#include "core/rules/object_rules.h"
#include "core/rules/quantity.h"
#include "tests/unit/test_objects.h"

namespace plano::rules {
namespace {

using plano::testing::dump;
using plano::testing::gateway;
using plano::testing::matching;

TEST(PodTemplateRules, ValidLabelsTolerationsAnnotationsAndResourcesPass) {
  auto gw = gateway();
  auto& d = gw.spec.deployment;
  d.nodeSelector = {{"kubernetes.io/os", "linux"}, {"example.com/tier", ""}, {"pool", "gpu_a-1.b"}};
  d.tolerations = {{"", "Exists", "", "", std::nullopt},
                   {"example.com/dedicated", "Equal", "llm", "NoExecute", 300},
                   {"gpu", "Exists", "", "NoSchedule", std::nullopt}};
  d.podAnnotations = {{"prometheus.io/scrape", "true"}, {"Example.COM/Mixed_Case", "any text: at all"}};
  d.resourceLimits = {{"cpu", "2"}, {"memory", "1Gi"}, {"nvidia.com/gpu", "1"}, {"hugepages-2Mi", "4Mi"}};
  d.resourceRequests = {{"cpu", "500m"}, {"nvidia.com/gpu", "1"}, {"hugepages-2Mi", "4Mi"}};
  gw.spec.networkPolicy.clientNamespaces = api::LabelSelector{
      {{"kubernetes.io/metadata.name", "team-a"}}, {{"example.com/tier", "In", {"gold", "silver-2"}}}};
  EXPECT_TRUE(check_gateway(gw).empty()) << dump(check_gateway(gw));
}

TEST(PodTemplateRules, NodeSelectorKeysAndValuesAreLabelSyntax) {
  auto gw = gateway();
  gw.spec.deployment.nodeSelector = {{"Example.com/tier", "a"}, {"pool", "not a value"}, {std::string(64, 'k'), ""}};
  const auto report = check_gateway(gw);
  EXPECT_EQ(matching(report, "spec.deployment.nodeSelector[\"Example.com/tier\"]", "is not a Kubernetes label key").size(), 1u);
  EXPECT_EQ(matching(report, "spec.deployment.nodeSelector[\"pool\"]", "\"not a value\" is not a Kubernetes label value").size(), 1u);
  EXPECT_EQ(matching(report, "spec.deployment.nodeSelector[\"" + std::string(64, 'k') + "\"]", "label key").size(), 1u);
  EXPECT_EQ(report.size(), 3u) << dump(report);
}

TEST(PodTemplateRules, TolerationsAsAPodTakesThem) {
  auto gw = gateway();
  gw.spec.deployment.tolerations = {{"", "Equal", "", "", std::nullopt},
                                    {"bad key/x/y", "Equal", "v", "", std::nullopt},
                                    {"k", "Exists", "v", "", std::nullopt},
                                    {"k", "Equal", "a b", "", std::nullopt},
                                    {"k", "Equal", "v", "NoSchedule", 60}};
  const auto report = check_gateway(gw);
  EXPECT_EQ(matching(report, "spec.deployment.tolerations[0].operator", "must be Exists when key is empty").size(), 1u);
  EXPECT_EQ(matching(report, "spec.deployment.tolerations[1].key", "is not a taint key").size(), 1u);
  EXPECT_EQ(matching(report, "spec.deployment.tolerations[2].value", "must be empty when operator is Exists").size(), 1u);
  EXPECT_EQ(matching(report, "spec.deployment.tolerations[3].value", "\"a b\" is not a taint value").size(), 1u);
  EXPECT_EQ(matching(report, "spec.deployment.tolerations[4].tolerationSeconds", "only for effect NoExecute").size(), 1u);
  EXPECT_EQ(report.size(), 5u) << dump(report);
}

TEST(PodTemplateRules, PodAnnotationKeysAndTotalSize) {
  auto gw = gateway();
  gw.spec.deployment.podAnnotations = {{"has space", "x"}, {"a/b/c", "x"}};
  auto report = check_gateway(gw);
  EXPECT_EQ(matching(report, "spec.deployment.podAnnotations[\"has space\"]", "not a Kubernetes annotation key").size(), 1u);
  EXPECT_EQ(matching(report, "spec.deployment.podAnnotations[\"a/b/c\"]", "not a Kubernetes annotation key").size(), 1u);

  // The CRD's most, 64 values of 4096 characters, is more than Kubernetes' 256 KiB for all of a pod's annotations.
  gw.spec.deployment.podAnnotations.clear();
  for (int i = 0; i < 64; ++i) gw.spec.deployment.podAnnotations["example.com/a" + std::to_string(i)] = std::string(4096, 'v');
  report = check_gateway(gw);
  EXPECT_EQ(matching(report, "spec.deployment.podAnnotations", "Kubernetes allows at most 261120").size(), 1u) << dump(report);
}

TEST(PodTemplateRules, ClientNamespacesAreALabelSelectorKubernetesTakes) {
  auto gw = gateway();
  gw.spec.networkPolicy.clientNamespaces = api::LabelSelector{
      {{"team", "a/b"}}, {{"Bad.Prefix/x", "Exists", {}}, {"tier", "In", {"ok", "-bad"}}}};
  const auto report = check_gateway(gw);
  EXPECT_EQ(matching(report, "spec.networkPolicy.clientNamespaces.matchLabels[\"team\"]", "\"a/b\" is not a Kubernetes label value").size(), 1u);
  EXPECT_EQ(matching(report, "spec.networkPolicy.clientNamespaces.matchExpressions[0].key", "is not a Kubernetes label key").size(), 1u);
  EXPECT_EQ(matching(report, "spec.networkPolicy.clientNamespaces.matchExpressions[1].values[1]", "\"-bad\" is not").size(), 1u);
  EXPECT_EQ(report.size(), 3u) << dump(report);
}

TEST(PodTemplateRules, ResourceNamesAndAmountsAContainerTakes) {
  auto gw = gateway();
  auto& d = gw.spec.deployment;
  d.resourceLimits = {{"gpu", "1"}, {"pods", "1"}, {"nvidia.com/gpu", "500m"}, {"example.com/widget", "2"}, {"hugepages-2Mi", "3Mi"}};
  d.resourceRequests = {{"example.com/widget", "1"}, {"example.com/other", "1"}};
  const auto report = check_gateway(gw);
  EXPECT_EQ(matching(report, "spec.deployment.resources.limits.gpu", "\"gpu\" is not a resource a container can ask for").size(), 1u);
  EXPECT_EQ(matching(report, "spec.deployment.resources.limits.pods", "is not a resource a container can ask for").size(), 1u);
  EXPECT_EQ(matching(report, "spec.deployment.resources.limits.nvidia.com/gpu", "500m is not a whole number of units").size(), 1u);
  EXPECT_EQ(matching(report, "spec.deployment.resources.requests.example.com/widget", "must equal its limit").size(), 1u);
  EXPECT_EQ(matching(report, "spec.deployment.resources.requests.example.com/other", "must equal its limit").size(), 1u);
  EXPECT_EQ(matching(report, "spec.deployment.resources.limits.hugepages-2Mi", "3Mi is not a whole number of 2Mi pages").size(), 1u);
  EXPECT_EQ(matching(report, "spec.deployment.resources.limits.hugepages-2Mi", "need a cpu or memory amount").size(), 1u);
  EXPECT_EQ(report.size(), 7u) << dump(report);
}

// Found with PLANO_PROPERTY_CASES=5000 (case 3635): Kubernetes caps a binary-suffixed quantity at
// 2^63-1, so the CRD's CEL and the Deployment refused a request of 19158162523745T under a limit of
// 5129087115498Pi (exactly 5.8e27, capped 9.2e18) that the rules, comparing exactly, accepted.
TEST(PodTemplateRules, BinarySuffixedQuantitiesAreCappedAsKubernetesCapsThem) {
  auto gw = gateway();
  gw.spec.deployment.resourceLimits = {{"ephemeral-storage", "5129087115498Pi"}, {"memory", "8Ei"}};
  gw.spec.deployment.resourceRequests = {{"ephemeral-storage", "19158162523745T"}, {"memory", "9223372036854775807"}};
  const auto report = check_gateway(gw);
  EXPECT_EQ(matching(report, "spec.deployment.resources.requests.ephemeral-storage", "is more than its limit 5129087115498Pi").size(), 1u);
  EXPECT_TRUE(matching(report, "spec.deployment.resources.requests.memory").empty()) << dump(report);
  EXPECT_EQ(parse_quantity("10000Pi"), parse_quantity("8Ei"));
  EXPECT_LT(parse_quantity("8Ei"), parse_quantity("10E"));
}

TEST(PodTemplateRules, TheGracePeriodOutlastsEveryListenerTimeout) {
  auto gw = gateway();
  EXPECT_EQ(termination_grace_seconds(gw.spec), 330) << "Plano's default listener timeout 300s + 30s";
  gw.spec.listeners[0].timeout = "1500ms";
  EXPECT_EQ(termination_grace_seconds(gw.spec), 32);
  gw.spec.listeners[0].timeout = "999999999h";
  EXPECT_EQ(termination_grace_seconds(gw.spec), 999999999LL * 3600 + 30) << "the longest timeout the CRD takes, no overflow";
  gw.spec.listeners[0].timeout = "99999999999999h";
  EXPECT_FALSE(matching(check_gateway(gw), "spec.listeners[0].timeout", "is not a duration").empty()) << dump(check_gateway(gw));
  gw.spec.listeners[0].timeout = "600s";
  gw.spec.deployment.terminationGracePeriodSeconds = 600;
  EXPECT_FALSE(matching(check_gateway(gw), "spec.deployment.terminationGracePeriodSeconds", "must exceed every listener's timeout").empty()) << dump(check_gateway(gw));
  gw.spec.deployment.terminationGracePeriodSeconds = 601;
  EXPECT_TRUE(check_gateway(gw).empty()) << dump(check_gateway(gw));
  gw.spec.listeners[0].timeout = "600500ms";
  EXPECT_TRUE(check_gateway(gw).empty()) << "600.5s is below 601s, as the CEL twin compares whole seconds";
  gw.spec.listeners[0].timeout = "601000ms";
  EXPECT_FALSE(check_gateway(gw).empty()) << "equal is not enough";
  gw.spec.deployment.terminationGracePeriodSeconds = 20;
  EXPECT_FALSE(matching(check_gateway(gw), "spec.deployment.terminationGracePeriodSeconds", "out of range").empty()) << dump(check_gateway(gw));
}

TEST(PodTemplateRules, SurgeAndLogVolume) {
  auto gw = gateway();
  gw.spec.deployment.maxSurge = 0;
  EXPECT_FALSE(matching(check_gateway(gw), "spec.deployment.maxSurge", "out of range").empty()) << dump(check_gateway(gw));
  gw.spec.deployment.maxSurge = 2;
  gw.spec.deployment.logVolumeSize = "0";
  EXPECT_FALSE(matching(check_gateway(gw), "spec.deployment.logVolumeSize", "positive").empty()) << dump(check_gateway(gw));
  gw.spec.deployment.logVolumeSize = "lots";
  EXPECT_FALSE(matching(check_gateway(gw), "spec.deployment.logVolumeSize", "positive").empty()) << dump(check_gateway(gw));
  gw.spec.deployment.logVolumeSize = "512Mi";
  EXPECT_TRUE(check_gateway(gw).empty()) << dump(check_gateway(gw));
}

}  // namespace
}  // namespace plano::rules
