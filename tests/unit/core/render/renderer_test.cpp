#include "core/render/renderer.h"

#include <gtest/gtest.h>

#include <algorithm>
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

TEST(KeyVariable, NumberedSoThatNamesSpeltAlikeStayApart) {
  // The old variables mapped case and punctuation to the same token: "Team-A"/"team.a" collided.
  Fixture f;
  auto a = f.openai, b = f.openai, c = f.openai;
  a.metadata.namespace_ = "a-b";
  b.metadata.namespace_ = "a_b";
  c.metadata.namespace_ = "a.b";
  for (auto* mp : {&a, &b, &c}) mp->spec.default_.reset();
  b.spec.model = "openai/gpt-4o-mini";
  c.spec.model = "openai/gpt-4.1";
  const auto r = render(f.gw, {&c, &b, &a});
  ASSERT_EQ(r.keys.size(), 3u);
  // Sorted by namespace, secret, key: "a-b" < "a.b" < "a_b".
  EXPECT_EQ(r.keys[0].variable, "PLANO_KEY_1_A_B_OPENAI_CREDENTIALS_API_KEY");
  EXPECT_EQ(r.keys[0].namespace_, "a-b");
  EXPECT_EQ(r.keys[1].variable, "PLANO_KEY_2_A_B_OPENAI_CREDENTIALS_API_KEY");
  EXPECT_EQ(r.keys[1].namespace_, "a.b");
  EXPECT_EQ(r.keys[2].variable, "PLANO_KEY_3_A_B_OPENAI_CREDENTIALS_API_KEY");
  EXPECT_EQ(r.keys[2].namespace_, "a_b");
  auto doc = io::parse_documents(r.config, "rendered").at(0).body;
  for (const auto& entry : doc["model_providers"]) {
    const auto ns = entry["model"] == "openai/gpt-4o" ? "a-b" : entry["model"] == "openai/gpt-4o-mini" ? "a_b" : "a.b";
    const auto& binding = *std::find_if(r.keys.begin(), r.keys.end(), [&](const KeyBinding& k) { return k.namespace_ == ns; });
    EXPECT_EQ(entry["access_key"], "$" + binding.variable) << ns;
  }
}

TEST(KeyVariable, ValidForASecretDataKeyAtAnyLength) {
  const std::string long_name(253, 'k');
  const auto v = key_variable(12, std::string(63, 'n'), long_name, long_name);
  EXPECT_LE(v.size(), 253u);
  EXPECT_EQ(v.rfind("PLANO_KEY_12_NNN", 0), 0u) << v;
  EXPECT_TRUE(std::regex_match(v, std::regex("^[A-Z_][A-Z0-9_]*$"))) << v;
}

TEST(KeyValue, WordsThatSurviveAnUnquotedPasteAreAccepted) {
  for (const char* value : {"sk-proj-AbC123_xyz", "AIzaSyD-9tSrke72I6e", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY+",
                            "c2VjcmV0=", "0a1b2c3d4e5f", "1password-key", "~tilde", "-leading-dash", "n0", "yes-no"}) {
    EXPECT_EQ(key_value_problem(value), std::nullopt) << value;
  }
}

TEST(KeyValue, ValuesYamlWouldBreakOrRetypeAreRefusedWithoutQuotingThem) {
  for (const char* value : {"abc: def", "a b", "key#1", "\"quoted\"", "line\nbreak", "{a}", "[a]", "a,b", "*ref",
                            "&anchor", "!tag", "%x", "@x", "`x`", "x|y", "x>y", "caf\xc3\xa9", "'q'"}) {
    const auto problem = key_value_problem(value);
    ASSERT_TRUE(problem.has_value()) << value;
    EXPECT_EQ(problem->find(value), std::string::npos) << "the message must not quote the key: " << *problem;
  }
  for (const char* value : {"12345", "-1", "+1.5", "1e5", "1_000", "0x1F", "0o17", "0b101", ".5", ".inf", "-.Inf", ".NaN",
                            "2026-12-06", "true", "False", "ON", "off", "yes", "No", "y", "N", "null", "NULL", "~", "=", "-"}) {
    EXPECT_TRUE(key_value_problem(value).has_value()) << value;
  }
  EXPECT_TRUE(key_value_problem("").has_value());
  EXPECT_TRUE(key_value_problem(std::string(16 * 1024 + 1, 'k')).has_value());
  EXPECT_EQ(key_value_problem(std::string(16 * 1024, 'k')), std::nullopt);
}

TEST(Renderer, TenantStringsPyYamlWouldBreakAreEscaped) {
  // U+2028, U+2029 and NEL end a line for PyYAML even inside quotes; DEL is refused outright.
  Fixture f;
  f.vllm.spec.routingPreferences = {{"quick-answers", "one\xE2\x80\xA8" "two\xE2\x80\xA9" "three\xC2\x85" "four\x7F"}};
  const auto config = render(f.gw, {&f.vllm}).config;
  EXPECT_EQ(config.find("\xE2\x80\xA8"), std::string::npos);
  EXPECT_EQ(config.find("\xE2\x80\xA9"), std::string::npos);
  EXPECT_EQ(config.find("\xC2\x85"), std::string::npos);
  EXPECT_EQ(config.find('\x7F'), std::string::npos);
  EXPECT_NE(config.find("one\\u2028two\\u2029three\\x85four\\x7f"), std::string::npos) << config;
}

TEST(Renderer, AliasesTargetTheirProvidersModelSortedAndQuotedAsKeys) {
  Fixture f;
  f.openai.spec.aliases = {"smart", "true"};
  f.vllm.spec.aliases = {"fast", "a: b #c"};
  const auto config = render(f.gw, {&f.vllm, &f.openai}).config;
  EXPECT_EQ(config, render(f.gw, {&f.openai, &f.vllm}).config);
  auto doc = io::parse_documents(config, "rendered").at(0).body;
  const auto& aliases = doc["model_aliases"];
  ASSERT_EQ(aliases.size(), 4u) << config;
  EXPECT_EQ(aliases["smart"]["target"], "openai/gpt-4o");
  EXPECT_EQ(aliases["true"]["target"], "openai/gpt-4o") << "a key YAML reads as a boolean stays a string";
  EXPECT_EQ(aliases["fast"]["target"], "vllm/meta-llama/Llama-3.1-8B-Instruct");
  EXPECT_EQ(aliases["a: b #c"]["target"], "vllm/meta-llama/Llama-3.1-8B-Instruct");
  EXPECT_LT(config.find("\"a: b #c\":"), config.find("  fast:")) << "sorted by alias: " << config;
  EXPECT_EQ(render(f.gw, {}).config.find("model_aliases"), std::string::npos);
}

TEST(Renderer, TracingAsPlanoSpellsIt) {
  Fixture f;
  EXPECT_EQ(render(f.gw, {&f.openai}).config.find("tracing"), std::string::npos);
  f.gw.spec.tracing = api::GatewayTracing{"http://otel:4317", 25, false, {"x-team-"}, {{"true", "8080"}, {"env", "prod"}}};
  const auto config = render(f.gw, {&f.openai}).config;
  auto doc = io::parse_documents(config, "rendered").at(0).body;
  const auto& t = doc["tracing"];
  EXPECT_EQ(t["random_sampling"], 25);
  EXPECT_EQ(t["trace_arch_internal"], false);
  EXPECT_EQ(t["opentracing_grpc_endpoint"], "http://otel:4317");
  EXPECT_EQ(t["span_attributes"]["header_prefixes"], nlohmann::json::array({"x-team-"}));
  EXPECT_EQ(t["span_attributes"]["static"], (nlohmann::json{{"env", "prod"}, {"true", "8080"}})) << config;
  f.gw.spec.tracing->staticAttributes.clear();
  f.gw.spec.tracing->headerPrefixes.clear();
  f.gw.spec.tracing->traceInternal.reset();
  doc = io::parse_documents(render(f.gw, {&f.openai}).config, "rendered").at(0).body;
  EXPECT_EQ(doc["tracing"], (nlohmann::json{{"random_sampling", 25}, {"opentracing_grpc_endpoint", "http://otel:4317"}}));
}

TEST(Renderer, StateStorageNamesTheConnectionStringOnlyByItsVariable) {
  Fixture f;
  f.gw.spec.stateStorage = api::GatewayStateStorage{};
  auto doc = io::parse_documents(render(f.gw, {&f.openai}).config, "rendered").at(0).body;
  EXPECT_EQ(doc["state_storage"], (nlohmann::json{{"type", "memory"}}));
  f.gw.spec.stateStorage = api::GatewayStateStorage{api::StateStorageType::Postgres, api::SecretKeyRef{"state-db", "url"}};
  const auto r = render(f.gw, {&f.openai});
  doc = io::parse_documents(r.config, "rendered").at(0).body;
  EXPECT_EQ(doc["state_storage"]["type"], "postgres");
  ASSERT_EQ(r.keys.size(), 2u);
  const auto binding = std::find_if(r.keys.begin(), r.keys.end(), [](const KeyBinding& b) { return b.secret == "state-db"; });
  ASSERT_NE(binding, r.keys.end());
  EXPECT_EQ(binding->namespace_, "platform") << "the gateway's own namespace";
  EXPECT_EQ(binding->key, "url");
  EXPECT_EQ(doc["state_storage"]["connection_string"], "$" + binding->variable);
}

// Plano's filter compares the model_id; the limits keep the gateway's order.
TEST(Renderer, RateLimitsAsPlanoSpellsThemWithTheModelId) {
  Fixture f;
  EXPECT_EQ(render(f.gw, {&f.openai}).config.find("ratelimits"), std::string::npos);
  f.gw.spec.rateLimits = {{"vllm/meta-llama/Llama-3.1-8B-Instruct", "x-team", "b", 4294967295, api::RateLimitUnit::Day},
                          {"openai/gpt-4o", "x-team", "true", 100, api::RateLimitUnit::Second}};
  const auto config = render(f.gw, {&f.openai, &f.vllm}).config;
  const auto doc = io::parse_documents(config, "rendered").at(0).body;
  EXPECT_EQ(doc["ratelimits"], (nlohmann::json::array({
                                   {{"model", "meta-llama/Llama-3.1-8B-Instruct"},
                                    {"selector", {{"key", "x-team"}, {"value", "b"}}},
                                    {"limit", {{"tokens", 4294967295}, {"unit", "day"}}}},
                                   {{"model", "gpt-4o"},
                                    {"selector", {{"key", "x-team"}, {"value", "true"}}},
                                    {"limit", {{"tokens", 100}, {"unit", "second"}}}}})))
      << config;
}

// The override names the routing provider's model only when that provider is rendered: callers
// hold the config otherwise (rules::routing_model_problem).
TEST(Renderer, RoutingModelIsTheServedProvidersModel) {
  Fixture f;
  f.gw.spec.routing = api::GatewayRouting{{"llama", std::string("team-b")}, 16384};
  auto doc = io::parse_documents(render(f.gw, {&f.openai, &f.vllm}).config, "rendered").at(0).body;
  EXPECT_EQ(doc["overrides"], (nlohmann::json{{"llm_routing_model", "vllm/meta-llama/Llama-3.1-8B-Instruct"},
                                              {"orchestrator_model_context_length", 16384}}));
  f.gw.spec.routing->contextLength.reset();
  f.gw.spec.routing->modelProviderRef.namespace_.reset();  // the gateway's own namespace: platform/llama
  doc = io::parse_documents(render(f.gw, {&f.openai, &f.vllm}).config, "rendered").at(0).body;
  EXPECT_FALSE(doc.contains("overrides")) << doc.dump();
}

// A preference several providers share lists all their models, sorted whatever the providers'
// order; selection_policy only when it is not Plano's default (none); the metrics sources as declared.
TEST(Renderer, SharedPreferencesListEveryModelWithTheirPolicyAndTheMetricsSources) {
  Fixture f;
  auto claude = provider("team-b", "claude", "anthropic/claude-sonnet-4-5");
  f.vllm.spec.routingPreferences = {{"quick-answers", "short questions", api::SelectionPreference::Fastest}};
  claude.spec.routingPreferences = f.vllm.spec.routingPreferences;
  f.gw.spec.modelMetrics = api::GatewayModelMetrics{
      api::GatewayCostMetrics{"digitalocean", "https://catalog.example/v2", 3600, {{"openai/openai-gpt-4o", "openai/gpt-4o"}}},
      api::GatewayLatencyMetrics{"http://prometheus:9090", "sum by (model_name) (x)", std::nullopt}};
  const auto config = render(f.gw, {&f.vllm, &claude, &f.openai}).config;
  EXPECT_EQ(config, render(f.gw, {&f.openai, &claude, &f.vllm}).config) << "the same whatever the order";
  auto doc = io::parse_documents(config, "rendered").at(0).body;
  EXPECT_EQ(doc["routing_preferences"],
            (nlohmann::json::array({{{"name", "complex-reasoning"}, {"description", "hard questions"}, {"models", {"openai/gpt-4o"}}},
                                    {{"name", "quick-answers"},
                                     {"description", "short questions"},
                                     {"models", {"anthropic/claude-sonnet-4-5", "vllm/meta-llama/Llama-3.1-8B-Instruct"}},
                                     {"selection_policy", {{"prefer", "fastest"}}}}})))
      << config;
  EXPECT_EQ(doc["model_metrics_sources"],
            (nlohmann::json::array({{{"type", "cost"}, {"provider", "digitalocean"}, {"url", "https://catalog.example/v2"},
                                     {"refresh_interval", 3600}, {"model_aliases", {{"openai/openai-gpt-4o", "openai/gpt-4o"}}}},
                                    {{"type", "latency"}, {"provider", "prometheus"}, {"url", "http://prometheus:9090"},
                                     {"query", "sum by (model_name) (x)"}}})))
      << config;
  f.gw.spec.modelMetrics.reset();
  EXPECT_FALSE(io::parse_documents(render(f.gw, {&f.openai}).config, "rendered").at(0).body.contains("model_metrics_sources"));
}

TEST(ConnectionString, PostgresUrisThatSurviveAnUnquotedPaste) {
  for (const char* good : {"postgresql://plano:s3cr%40t@db.platform.svc:5432/plano", "postgres://db/plano?connect_timeout=5&application_name=plano"}) {
    EXPECT_EQ(connection_string_problem(good), std::nullopt) << good;
  }
  for (const char* bad : {"", "host=db user=plano", "mysql://db/plano", "postgresql://u:p w@db/x", "postgresql://u:p#w@db/x",
                          "postgresql://u:$HOME@db/x", "postgresql://db/x\n  - model: y", "postgres://db/x?a:"}) {
    EXPECT_TRUE(connection_string_problem(bad).has_value()) << bad;
  }
}

TEST(Sha256, KnownVector) {
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

}  // namespace
}  // namespace plano::render
