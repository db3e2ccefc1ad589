#include "operator/provider_cache.h"

#include <gtest/gtest.h>

namespace plano::op {
namespace {

using nlohmann::json;

json provider_object(const std::string& ns, const std::string& name, const std::string& model, std::int64_t generation = 1,
                     const std::string& gateway = "shared") {
  return {{"apiVersion", "plano-operator.io/v1alpha1"},
          {"kind", "ModelProvider"},
          {"metadata", {{"name", name}, {"namespace", ns}, {"generation", generation}, {"resourceVersion", "1"}}},
          {"spec", {{"model", model}, {"passthroughAuth", true}, {"gatewayRef", {{"name", gateway}, {"namespace", "platform"}}}}}};
}

TEST(ProviderCache, KeepsEachProviderDecodedAndReturnsWhatItReplaced) {
  ProviderCache cache;
  EXPECT_EQ(cache.upsert(provider_object("team-a", "one", "openai/gpt-4o")), nullptr);
  auto kept = cache.get("team-a/one");
  ASSERT_NE(kept, nullptr);
  EXPECT_EQ(kept->spec.model, "openai/gpt-4o");
  EXPECT_EQ(gateway_key_of(*kept), "platform/shared");

  auto before = cache.upsert(provider_object("team-a", "one", "openai/o3", 2));
  ASSERT_NE(before, nullptr);
  EXPECT_EQ(before->spec.model, "openai/gpt-4o");
  EXPECT_EQ(cache.get("team-a/one")->spec.model, "openai/o3");
  EXPECT_EQ(cache.size(), 1u);

  EXPECT_EQ(cache.erase("team-a/one")->spec.model, "openai/o3");
  EXPECT_EQ(cache.get("team-a/one"), nullptr);
  EXPECT_EQ(cache.erase("team-a/one"), nullptr);
}

TEST(ProviderCache, AnObjectThatDoesNotDecodeReplacesNothingAndIsNotKept) {
  ProviderCache cache;
  cache.upsert(provider_object("team-a", "one", "openai/gpt-4o"));
  auto broken = provider_object("team-a", "one", "openai/gpt-4o", 2);
  broken["spec"]["model"] = 42;  // what the CRD schema would refuse
  auto before = cache.upsert(broken);
  ASSERT_NE(before, nullptr);
  EXPECT_EQ(cache.get("team-a/one"), nullptr) << "a stale decoded copy must not stand in for the object";
  EXPECT_EQ(cache.size(), 0u);
}

TEST(ProviderCache, GatewayKeysAreListedOnceEach) {
  ProviderCache cache;
  cache.upsert(provider_object("team-a", "one", "openai/gpt-4o"));
  cache.upsert(provider_object("team-b", "two", "openai/o3"));
  cache.upsert(provider_object("team-b", "three", "openai/o1", 1, "other"));
  EXPECT_EQ(cache.gateway_keys(), (std::vector<std::string>{"platform/other", "platform/shared"}));
}

TEST(ProviderCache, OnlyAStatusChangeLeavesGenerationLabelsAndAnnotations) {
  ProviderCache cache;
  cache.upsert(provider_object("team-a", "one", "openai/gpt-4o"));
  const auto first = cache.get("team-a/one");

  auto status_only = provider_object("team-a", "one", "openai/gpt-4o");
  status_only["status"] = {{"observedGeneration", 1}};
  cache.upsert(status_only);
  EXPECT_TRUE(only_status_changed(*first, *cache.get("team-a/one")));

  cache.upsert(provider_object("team-a", "one", "openai/o3", 2));
  EXPECT_FALSE(only_status_changed(*first, *cache.get("team-a/one")));

  auto same_again = status_only;
  same_again["metadata"]["resourceVersion"] = "7";
  cache.upsert(status_only);
  const auto with_status = cache.get("team-a/one");
  cache.upsert(same_again);
  EXPECT_FALSE(only_status_changed(*with_status, *cache.get("team-a/one"))) << "a relist without changes is reconciled";

  auto labelled = provider_object("team-a", "one", "openai/gpt-4o");
  labelled["metadata"]["labels"] = {{"tier", "gold"}};
  cache.upsert(labelled);
  EXPECT_FALSE(only_status_changed(*first, *cache.get("team-a/one")));
}

}  // namespace
}  // namespace plano::op
