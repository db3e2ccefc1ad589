#include "operator/decoded_providers.h"

#include <gtest/gtest.h>

#include "tests/unit/test_objects.h"

namespace plano::op {
namespace {

using Version = DecodedProviders::Version;

struct Decoder {
  std::map<std::string, std::string> models;  // key -> model; absent: gone
  std::vector<std::string> decoded;           // keys, in the order decoded
  DecodedProviders::Decode fn() {
    return [this](const std::string& key) -> DecodedProviders::ProviderPtr {
      decoded.push_back(key);
      auto it = models.find(key);
      if (it == models.end()) return nullptr;
      const auto slash = key.find('/');
      return std::make_shared<const api::ModelProvider>(testing::provider(key.substr(0, slash), key.substr(slash + 1), it->second));
    };
  }
};

TEST(DecodedProviders, OnlyChangedVersionsAreDecodedAgain) {
  DecodedProviders kept;
  Decoder d;
  d.models = {{"a/one", "openai/gpt-4o"}, {"b/two", "openai/o3"}};
  auto first = kept.refresh("platform/gw", {{"a/one", {"10", 0}}, {"b/two", {"11", 0}}}, d.fn());
  ASSERT_EQ(first.size(), 2u);
  EXPECT_EQ(d.decoded, (std::vector<std::string>{"a/one", "b/two"}));

  d.decoded.clear();
  d.models["b/two"] = "openai/o4-mini";
  auto second = kept.refresh("platform/gw", {{"a/one", {"10", 0}}, {"b/two", {"12", 0}}}, d.fn());
  EXPECT_EQ(d.decoded, (std::vector<std::string>{"b/two"}));
  EXPECT_EQ(second[0], first[0]) << "an unchanged version is the very object kept";
  EXPECT_EQ(second[1]->spec.model, "openai/o4-mini");

  // A status this process wrote onto the same version counts as a change.
  d.decoded.clear();
  kept.refresh("platform/gw", {{"a/one", {"10", 7}}, {"b/two", {"12", 0}}}, d.fn());
  EXPECT_EQ(d.decoded, (std::vector<std::string>{"a/one"}));
}

TEST(DecodedProviders, ProvidersThatLeftOrDoNotDecodeAreNotKept) {
  DecodedProviders kept;
  Decoder d;
  d.models = {{"a/one", "openai/gpt-4o"}};
  auto out = kept.refresh("platform/gw", {{"a/one", {"1", 0}}, {"a/gone", {"2", 0}}}, d.fn());
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(kept.size(), 1u);
  d.decoded.clear();
  kept.refresh("platform/gw", {{"a/one", {"1", 0}}, {"a/gone", {"2", 0}}}, d.fn());
  EXPECT_EQ(d.decoded, (std::vector<std::string>{"a/gone"})) << "not kept, so asked again";
  kept.refresh("platform/gw", {}, d.fn());
  EXPECT_EQ(kept.size(), 0u);
}

TEST(DecodedProviders, GatewaysAreKeptApart) {
  DecodedProviders kept;
  Decoder d;
  d.models = {{"a/one", "openai/gpt-4o"}, {"b/two", "openai/o3"}};
  kept.refresh("platform/gw1", {{"a/one", {"1", 0}}}, d.fn());
  kept.refresh("platform/gw2", {{"b/two", {"1", 0}}}, d.fn());
  EXPECT_EQ(kept.size(), 2u);
  d.decoded.clear();
  kept.refresh("platform/gw1", {{"a/one", {"1", 0}}}, d.fn());
  EXPECT_TRUE(d.decoded.empty());
}

}  // namespace
}  // namespace plano::op
