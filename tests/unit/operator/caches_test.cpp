#include "operator/caches.h"

#include <gtest/gtest.h>

namespace plano::op {
namespace {

using nlohmann::json;

json provider() {
  return json::parse(R"({"apiVersion": "plano-operator.io/v1alpha1", "kind": "ModelProvider",
    "metadata": {"name": "p", "namespace": "t", "resourceVersion": "10", "generation": 2, "labels": {"team": "a"}},
    "spec": {"model": "openai/gpt-4o", "gatewayRef": {"name": "gw"}},
    "status": {"observedGeneration": 1, "conditions": []}})");
}

TEST(OnlyStatusChanged, OwnStatusWriteNeedsNoReconcile) {
  auto after = provider();
  after["metadata"]["resourceVersion"] = "11";
  after["status"]["observedGeneration"] = 2;
  EXPECT_TRUE(only_status_changed(provider(), after));
}

TEST(OnlyStatusChanged, SpecLabelOrDeletionChangesDoReconcile) {
  auto spec = provider();
  spec["status"]["observedGeneration"] = 2;
  spec["spec"]["model"] = "openai/gpt-4o-mini";
  EXPECT_FALSE(only_status_changed(provider(), spec));

  auto labels = provider();
  labels["metadata"]["labels"]["team"] = "b";
  EXPECT_FALSE(only_status_changed(provider(), labels));

  auto deleting = provider();
  deleting["status"]["observedGeneration"] = 2;
  deleting["metadata"]["deletionTimestamp"] = "2026-11-27T00:00:00Z";
  EXPECT_FALSE(only_status_changed(provider(), deleting));
}

TEST(OnlyStatusChanged, ARelistWithoutChangesIsNotCalledAStatusChange) {
  auto same = provider();
  same["metadata"]["resourceVersion"] = "12";
  EXPECT_FALSE(only_status_changed(provider(), same));
}

}  // namespace
}  // namespace plano::op
