#include "core/render/renderer.h"

#include <gtest/gtest.h>

#include <regex>

#include "core/io/documents.h"
#include "tests/unit/test_objects.h"

namespace plano::render {
namespace {

using plano::testing::gateway;
using plano::testing::provider;

struct Fixture {
  api::PlanoGateway gw = gateway();
  api::ModelProvider openai = provider("team-a", "gpt4", "openai/gpt-4o");
  api::ModelProvider vllm = provider("team-b", "llama", "vllm/meta-llama/Llama-3.1-8B-Instruct");
  Fixture() {
    openai.spec.passthroughAuth.reset();
    openai.spec.accessKeySecretRef = api::SecretKeyRef{"openai-credentials", "api-key"};
    openai.spec.default_ = true;
    openai.spec.routingPreferences = {{"complex-reasoning", "hard questions"}};
    vllm.spec.baseURL = "http://vllm.inference.svc.cluster.local:8000/v1";
    vllm.spec.providerInterface = "openai";
    vllm.spec.routingPreferences = {{"quick-answers", "short questions"}};
    vllm.spec.headers = {{"X-Tenant", "b"}, {"A-First", "1"}};
  }
};

TEST(Renderer, RendersV040WithTopLevelPreferences) {
  Fixture f;
  auto r = render(f.gw, {&f.openai, &f.vllm});
  auto doc = io::parse_documents(r.config, "rendered").at(0).body;
  EXPECT_EQ(doc["version"], "v0.4.0");
  EXPECT_EQ(doc["listeners"][0]["type"], "model");
  EXPECT_EQ(doc["listeners"][0]["port"], 12000);
  EXPECT_EQ(doc["listeners"][0]["address"], "0.0.0.0");
  ASSERT_EQ(doc["model_providers"].size(), 2u);
  const auto& first = doc["model_providers"][0];
  EXPECT_EQ(first["model"], "openai/gpt-4o");
  EXPECT_EQ(first["default"], true);
  EXPECT_FALSE(first.contains("passthrough_auth"));
  EXPECT_TRUE(std::regex_match(first["access_key"].get<std::string>(), std::regex("^\\$[A-Z_][A-Z0-9_]*$")));
  const auto& second = doc["model_providers"][1];
  EXPECT_EQ(second["passthrough_auth"], true);
  EXPECT_EQ(second["provider_interface"], "openai");
  EXPECT_FALSE(second.contains("access_key"));
  EXPECT_FALSE(second.contains("routing_preferences"));
  ASSERT_EQ(doc["routing_preferences"].size(), 2u);
  EXPECT_EQ(doc["routing_preferences"][0]["name"], "complex-reasoning");
  EXPECT_EQ(doc["routing_preferences"][0]["models"][0], "openai/gpt-4o");
  EXPECT_EQ(doc["routing_preferences"][1]["models"][0], "vllm/meta-llama/Llama-3.1-8B-Instruct");
}

TEST(Renderer, RendersV030WithInlinePreferences) {
  Fixture f;
  f.gw.spec.configVersion = "v0.3.0";
  auto doc = io::parse_documents(render(f.gw, {&f.openai}).config, "rendered").at(0).body;
  EXPECT_EQ(doc["version"], "v0.3.0");
  EXPECT_FALSE(doc.contains("routing_preferences"));
  EXPECT_EQ(doc["model_providers"][0]["routing_preferences"][0]["name"], "complex-reasoning");
}

TEST(Renderer, KeysOnlyAsVariables) {
  Fixture f;
  auto r = render(f.gw, {&f.openai, &f.vllm});
  ASSERT_EQ(r.keys.size(), 1u);
  EXPECT_EQ(r.keys[0].namespace_, "team-a");
  EXPECT_EQ(r.keys[0].secret, "openai-credentials");
  EXPECT_EQ(r.keys[0].key, "api-key");
  EXPECT_NE(r.config.find("$" + r.keys[0].variable), std::string::npos);
}

TEST(Renderer, SharedSecretKeyBindsOnce) {
  Fixture f;
  auto other = f.openai;
  other.metadata.name = "gpt4-mini";
  other.spec.model = "openai/gpt-4o-mini";
  other.spec.default_.reset();
  EXPECT_EQ(render(f.gw, {&f.openai, &other}).keys.size(), 1u);
}

TEST(Renderer, OrderDoesNotMatter) {
  Fixture f;
  EXPECT_EQ(render(f.gw, {&f.openai, &f.vllm}).config, render(f.gw, {&f.vllm, &f.openai}).config);
}

TEST(Renderer, ValuesThatLookLikeOtherTypesStayStrings) {
  Fixture f;
  f.vllm.spec.headers = {{"X-Flag", "true"}, {"X-Num", "8080"}};
  f.vllm.spec.name = "null";
  auto doc = io::parse_documents(render(f.gw, {&f.vllm}).config, "rendered").at(0).body;
  EXPECT_EQ(doc["model_providers"][0]["headers"]["X-Flag"], "true");
  EXPECT_EQ(doc["model_providers"][0]["headers"]["X-Num"], "8080");
  EXPECT_EQ(doc["model_providers"][0]["name"], "null");
}

TEST(KeyVariable, StableValidAndDistinct) {
  auto a = key_variable("a-b", "s", "k");
  auto b = key_variable("a_b", "s", "k");
  EXPECT_NE(a, b);
  EXPECT_EQ(a, key_variable("a-b", "s", "k"));
  EXPECT_TRUE(std::regex_match(a, std::regex("^PLANO_KEY_A_B_S_K_[0-9A-F]{8}$"))) << a;
}

TEST(Sha256, KnownVector) {
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

}  // namespace
}  // namespace plano::render
