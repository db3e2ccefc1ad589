#include "core/rules/object_rules.h"

#include <gtest/gtest.h>

#include "core/rules/tenant_text.h"
#include "tests/unit/test_objects.h"

namespace plano::rules {
namespace {

using plano::testing::dump;
using plano::testing::gateway;
using plano::testing::matching;
using plano::testing::provider;

// ---- ModelProvider: rule 1, auth ----

TEST(ProviderRules, PassthroughAloneIsValid) {
  auto mp = provider("team-a", "p", "openai/gpt-4o");
  EXPECT_TRUE(check_provider(mp).empty()) << dump(check_provider(mp));
}

TEST(ProviderRules, AccessKeyAloneIsValid) {
  auto mp = provider("team-a", "p", "openai/gpt-4o");
  mp.spec.passthroughAuth.reset();
  mp.spec.accessKeySecretRef = api::SecretKeyRef{"openai", "api-key"};
  EXPECT_TRUE(check_provider(mp).empty()) << dump(check_provider(mp));
}

TEST(ProviderRules, PassthroughFalseWithAccessKeyIsValid) {
  auto mp = provider("team-a", "p", "openai/gpt-4o");
  mp.spec.passthroughAuth = false;
  mp.spec.accessKeySecretRef = api::SecretKeyRef{"openai", "api-key"};
  EXPECT_TRUE(check_provider(mp).empty());
}

TEST(ProviderRules, PassthroughWithAccessKeyIsRejected) {
  auto mp = provider("team-a", "p", "openai/gpt-4o");
  mp.spec.accessKeySecretRef = api::SecretKeyRef{"openai", "api-key"};
  auto f = check_provider(mp);
  ASSERT_EQ(matching(f, "spec.accessKeySecretRef", "passthroughAuth: true").size(), 1u) << dump(f);
  EXPECT_EQ(f.front().severity, Severity::Error);
}

TEST(ProviderRules, NeitherAuthIsRejected) {
  auto mp = provider("team-a", "p", "openai/gpt-4o");
  mp.spec.passthroughAuth.reset();
  auto f = check_provider(mp);
  ASSERT_EQ(matching(f, "spec.passthroughAuth", "set passthroughAuth: true").size(), 1u) << dump(f);
  mp.spec.passthroughAuth = false;
  EXPECT_EQ(matching(check_provider(mp), "spec.passthroughAuth").size(), 1u);
}

// ---- rule 2, Plano's model rules ----

TEST(ProviderRules, ModelNeedsProviderPrefix) {
  for (const char* bad : {"gpt-4o", "/gpt-4o", "openai/"}) {
    auto mp = provider("team-a", "p", bad);
    EXPECT_EQ(matching(check_provider(mp), "spec.model", "<provider>/<model_id>").size(), 1u) << bad;
  }
  EXPECT_TRUE(check_provider(provider("team-a", "p", "openai/gpt-4o")).empty());
}

TEST(ProviderRules, ProvidersThatNeedBaseUrl) {
  for (const char* model : {"azure_openai/gpt-4o", "ollama/llama3", "qwen/qwen-max", "amazon_bedrock/nova", "plano/x"}) {
    auto mp = provider("team-a", "p", model);
    EXPECT_EQ(matching(check_provider(mp), "spec.baseURL", "is required").size(), 1u) << model;
    mp.spec.baseURL = "https://example.internal";
    EXPECT_TRUE(check_provider(mp).empty()) << model << dump(check_provider(mp));
  }
}

TEST(ProviderRules, UnknownProviderNeedsBaseUrlAndInterface) {
  auto mp = provider("team-a", "p", "vllm/llama");
  auto f = check_provider(mp);
  EXPECT_EQ(matching(f, "spec.baseURL", "does not know").size(), 1u) << dump(f);
  EXPECT_EQ(matching(f, "spec.providerInterface", "does not know").size(), 1u) << dump(f);
  mp.spec.baseURL = "http://vllm:8000/v1";
  mp.spec.providerInterface = "openai";
  EXPECT_TRUE(check_provider(mp).empty()) << dump(check_provider(mp));
}

TEST(ProviderRules, KnownProviderMustNotSetInterface) {
  auto mp = provider("team-a", "p", "openai/gpt-4o");
  mp.spec.providerInterface = "openai";
  EXPECT_EQ(matching(check_provider(mp), "spec.providerInterface", "must not be set").size(), 1u);
}

TEST(ProviderRules, InterfaceFromPlanosEnum) {
  auto mp = provider("team-a", "p", "custom/m");
  mp.spec.baseURL = "https://h";
  mp.spec.providerInterface = "anthropic";  // a provider, but not an interface value
  EXPECT_EQ(matching(check_provider(mp), "spec.providerInterface", "is not one of").size(), 1u);
}

TEST(ProviderRules, WildcardNeverDefault) {
  auto mp = provider("team-a", "p", "openai/*");
  EXPECT_TRUE(check_provider(mp).empty());
  mp.spec.default_ = true;
  EXPECT_EQ(matching(check_provider(mp), "spec.default", "wildcard").size(), 1u);
}

TEST(ProviderRules, WildcardWithoutRoutingPreferences) {
  auto mp = provider("team-a", "p", "openai/*");
  mp.spec.routingPreferences.push_back({"code", "writes code"});
  EXPECT_EQ(matching(check_provider(mp), "spec.routingPreferences", "wildcard").size(), 1u);
}

TEST(ProviderRules, BaseUrlMustBeHttpWithHost) {
  auto mp = provider("team-a", "p", "openai/gpt-4o");
  for (const char* bad : {"ftp://h", "api.openai.com", "https://"}) {
    mp.spec.baseURL = bad;
    EXPECT_EQ(matching(check_provider(mp), "spec.baseURL", "http:// or https://").size(), 1u) << bad;
  }
  mp.spec.baseURL = "https://api.openai.com/v1";
  EXPECT_TRUE(check_provider(mp).empty());
}

TEST(ProviderRules, BaseUrlWithoutEnvVars) {
  auto mp = provider("team-a", "p", "openai/gpt-4o");
  mp.spec.baseURL = "https://$HOST/v1";
  EXPECT_EQ(matching(check_provider(mp), "spec.baseURL", "environment variables").size(), 1u);
}

TEST(ProviderRules, BaseUrlWithoutCredentials) {
  auto mp = provider("team-a", "p", "openai/gpt-4o");
  mp.spec.baseURL = "https://user:pass@api.example.com";
  EXPECT_EQ(matching(check_provider(mp), "spec.baseURL", "credentials").size(), 1u);
}

TEST(ProviderRules, PlainHttpWithManagedKeyWarnsOutsideCluster) {
  auto mp = provider("team-a", "p", "ollama/llama3");
  mp.spec.passthroughAuth.reset();
  mp.spec.accessKeySecretRef = api::SecretKeyRef{"s", "k"};
  mp.spec.baseURL = "http://ollama.example.com";
  auto f = check_provider(mp);
  ASSERT_EQ(matching(f, "spec.baseURL", "clear text").size(), 1u);
  EXPECT_EQ(f.front().severity, Severity::Warning);
  mp.spec.baseURL = "http://ollama.ai.svc.cluster.local:11434";
  EXPECT_TRUE(check_provider(mp).empty());
}

TEST(ProviderRules, CredentialHeadersRejected) {
  auto mp = provider("team-a", "p", "openai/gpt-4o");
  mp.spec.headers = {{"Authorization", "Bearer sk-x"}, {"X-Team", "a"}};
  auto f = check_provider(mp);
  EXPECT_EQ(matching(f, "spec.headers.Authorization", "credential").size(), 1u) << dump(f);
  EXPECT_EQ(f.size(), 1u);
  mp.spec.headers = {{"x-api-key", "k"}};
  EXPECT_EQ(matching(check_provider(mp), "spec.headers.x-api-key").size(), 1u);
}

TEST(ProviderRules, RoutingPreferenceNamesUniqueWithinProvider) {
  auto mp = provider("team-a", "p", "openai/gpt-4o");
  mp.spec.routingPreferences = {{"code", "a"}, {"code", "b"}};
  EXPECT_EQ(matching(check_provider(mp), "spec.routingPreferences[1].name", "twice").size(), 1u);
}

TEST(ProviderRules, AliasesAreDistinctNewNamesWithinTheCrdsBounds) {
  auto mp = provider("team-a", "p", "openai/gpt-4o");
  mp.spec.aliases = {"fast", "team-a.summarize.v1"};
  EXPECT_TRUE(check_provider(mp).empty()) << dump(check_provider(mp));
  mp.spec.aliases = {"fast", "fast"};
  EXPECT_EQ(matching(check_provider(mp), "spec.aliases[1]", "twice").size(), 1u) << dump(check_provider(mp));
  mp.spec.name = "chat";
  for (const char* own : {"openai/gpt-4o", "gpt-4o", "chat"}) {
    mp.spec.aliases = {own};
    EXPECT_EQ(matching(check_provider(mp), "spec.aliases[0]", "already this provider's").size(), 1u) << own;
  }
  mp.spec.aliases = {"", std::string(kMaxAliasLength + 1, 'a')};
  EXPECT_EQ(matching(check_provider(mp), "spec.aliases[0]", "1 to 256").size(), 1u);
  EXPECT_EQ(matching(check_provider(mp), "spec.aliases[1]", "1 to 256").size(), 1u);
  mp.spec.aliases = {std::string(kMaxAliasLength, 'a')};
  EXPECT_TRUE(check_provider(mp).empty()) << dump(check_provider(mp));
  mp.spec.aliases.clear();
  for (std::size_t i = 0; i <= kMaxAliases; ++i) mp.spec.aliases.push_back("alias-" + std::to_string(i));
  EXPECT_EQ(matching(check_provider(mp), "spec.aliases", "at most 16").size(), 1u);
}

TEST(ProviderRules, WildcardWithoutAliases) {
  auto mp = provider("team-a", "p", "anthropic/*");
  mp.spec.aliases = {"claude"};
  EXPECT_EQ(matching(check_provider(mp), "spec.aliases", "wildcard").size(), 1u) << dump(check_provider(mp));
}

// ---- PlanoGateway ----

TEST(GatewayRules, DefaultGatewayIsValid) {
  EXPECT_TRUE(check_gateway(gateway()).empty()) << dump(check_gateway(gateway()));
}

TEST(GatewayRules, NeedsAListener) {
  auto gw = gateway();
  gw.spec.listeners.clear();
  EXPECT_EQ(matching(check_gateway(gw), "spec.listeners", "needs one listener").size(), 1u);
}

TEST(GatewayRules, AtMostEightListeners) {
  auto gw = gateway();
  for (int i = 0; i < 8; ++i) gw.spec.listeners.push_back({"l" + std::to_string(i), "model", 13000 + i, {}, {}});
  EXPECT_EQ(matching(check_gateway(gw), "spec.listeners", "at most 8").size(), 1u);
}

TEST(GatewayRules, ExactlyOneModelListener) {
  auto gw = gateway();
  gw.spec.listeners.push_back({"second", "model", 12002, {}, {}});
  EXPECT_EQ(matching(check_gateway(gw), "spec.listeners", "exactly one").size(), 1u);
}

TEST(GatewayRules, OnlyModelType) {
  auto gw = gateway();
  gw.spec.listeners[0].type = "prompt";
  EXPECT_EQ(matching(check_gateway(gw), "spec.listeners[0].type").size(), 1u);
}

TEST(GatewayRules, ListenerNamesUnique) {
  auto gw = gateway();
  gw.spec.listeners.push_back({"llm", "model", 12002, {}, {}});
  EXPECT_EQ(matching(check_gateway(gw), "spec.listeners[1].name", "unique").size(), 1u);
}

TEST(GatewayRules, PortRangeAndReservedPorts) {
  auto gw = gateway();
  // Below 1024 the container, which drops every capability, cannot bind.
  for (long long port : {0LL, 80LL, 1023LL, 65536LL}) {
    gw.spec.listeners[0].port = port;
    EXPECT_EQ(matching(check_gateway(gw), "spec.listeners[0].port", "not a port Plano can open").size(), 1u) << port;
  }
  for (long long port : {10000LL, 10001LL, 11000LL, 12001LL, 9091LL, 9092LL, 9901LL}) {
    gw.spec.listeners[0].port = port;
    EXPECT_EQ(matching(check_gateway(gw), "spec.listeners[0].port", "inside the Plano pod").size(), 1u) << port;
  }
  gw.spec.listeners[0].port = 8080;
  EXPECT_TRUE(check_gateway(gw).empty());
}

TEST(GatewayRules, ListenerBindsEveryAddress) {
  auto gw = gateway();
  for (const char* ok : {"0.0.0.0", "::"}) {
    gw.spec.listeners[0].address = ok;
    EXPECT_TRUE(check_gateway(gw).empty()) << ok << dump(check_gateway(gw));
  }
  for (const char* unreachable : {"127.0.0.1", "::1", "10.0.0.5", "$HOSTNAME"}) {
    gw.spec.listeners[0].address = unreachable;
    EXPECT_EQ(matching(check_gateway(gw), "spec.listeners[0].address", "kubelet's probes").size(), 1u) << unreachable;
  }
}

TEST(GatewayRules, NameMustMakeADns1035ServiceName) {
  for (const std::string& bad : std::vector<std::string>{"my.gateway", "1gateway", "gateway-", std::string(58, 'g'), "Gateway"}) {
    auto gw = gateway("platform", bad);
    EXPECT_EQ(matching(check_gateway(gw), "metadata.name", "DNS-1035").size(), 1u) << bad;
  }
  for (const std::string& good : std::vector<std::string>{"g", "llm-gateway", "g1", std::string(57, 'g')}) {
    auto gw = gateway("platform", good);
    EXPECT_TRUE(check_gateway(gw).empty()) << good << dump(check_gateway(gw));
  }
}

TEST(GatewayRules, SeedListenerNameIsValid) {
  auto gw = gateway();
  gw.spec.listeners[0].name = "model_listener";  // Plano's own examples use it
  EXPECT_TRUE(check_gateway(gw).empty()) << dump(check_gateway(gw));
}

TEST(GatewayRules, TimeoutIsADuration) {
  auto gw = gateway();
  gw.spec.listeners[0].timeout = "30 seconds";
  EXPECT_EQ(matching(check_gateway(gw), "spec.listeners[0].timeout").size(), 1u);
  gw.spec.listeners[0].timeout = "300s";
  EXPECT_TRUE(check_gateway(gw).empty());
}

TEST(GatewayRules, TracingEndpointIsHttpHostAndPortThatEnvoysConfigCarriesUnquoted) {
  auto gw = gateway();
  gw.spec.tracing = api::GatewayTracing{};
  for (const char* good : {"http://otel-collector.observability.svc.cluster.local:4317", "http://10.0.0.7:4317", "http://otel:1"}) {
    gw.spec.tracing->endpoint = good;
    EXPECT_TRUE(check_gateway(gw).empty()) << good << dump(check_gateway(gw));
  }
  for (const char* bad : {"https://otel:4317", "http://otel", "http://otel:4317/v1/traces", "http://otel:4317/", "http://otel:0", "http://otel:65536",
                          "http://[::1]:4317", "http://$HOME:4317", "http://otel #x:4317", "otel:4317", ""}) {
    gw.spec.tracing->endpoint = bad;
    EXPECT_EQ(matching(check_gateway(gw), "spec.tracing.endpoint", "http://<host>:<port>").size(), 1u) << bad;
  }
  gw.spec.tracing->endpoint = "http://otel:" + std::string(kMaxTracingEndpointLength, '4');
  EXPECT_EQ(matching(check_gateway(gw), "spec.tracing.endpoint").size(), 1u);
}

TEST(GatewayRules, TracingSamplingAndSpanAttributesWithinTheCrdsBounds) {
  auto gw = gateway();
  gw.spec.tracing = api::GatewayTracing{"http://otel:4317", 0, true, {"x-team-", "x-b3-"}, {{"env", "prod"}, {"gateway.tier", "shared"}}};
  EXPECT_TRUE(check_gateway(gw).empty()) << dump(check_gateway(gw));
  for (std::int64_t bad : {-1, 101}) {
    gw.spec.tracing->samplingPercent = bad;
    EXPECT_EQ(matching(check_gateway(gw), "spec.tracing.samplingPercent", "0 (none) to 100").size(), 1u) << bad;
  }
  gw.spec.tracing->samplingPercent = 100;
  gw.spec.tracing->headerPrefixes = {"X-Team-", "x team", "x-a", "x-a", std::string(kMaxHeaderPrefixLength + 1, 'x')};
  const auto findings = check_gateway(gw);
  EXPECT_EQ(matching(findings, "spec.tracing.spanAttributes.headerPrefixes[0]", "lower-case").size(), 1u) << dump(findings);
  EXPECT_EQ(matching(findings, "spec.tracing.spanAttributes.headerPrefixes[1]", "lower-case").size(), 1u);
  EXPECT_EQ(matching(findings, "spec.tracing.spanAttributes.headerPrefixes[3]", "twice").size(), 1u);
  EXPECT_EQ(matching(findings, "spec.tracing.spanAttributes.headerPrefixes[4]", "at most 64").size(), 1u);
  gw.spec.tracing->headerPrefixes = std::vector<std::string>(kMaxHeaderPrefixes + 1, "x-");
  EXPECT_EQ(matching(check_gateway(gw), "spec.tracing.spanAttributes.headerPrefixes", "at most 16").size(), 1u);
  gw.spec.tracing->headerPrefixes.clear();
  gw.spec.tracing->staticAttributes = {{"-lead", "v"}, {"a b", "v"}, {std::string(kMaxAttributeNameLength + 1, 'n'), "v"},
                                       {"long", std::string(kMaxAttributeValueLength + 1, 'v')}};
  const auto attributes = check_gateway(gw);
  EXPECT_EQ(matching(attributes, "spec.tracing.spanAttributes.static[\"-lead\"]", "attribute name").size(), 1u) << dump(attributes);
  EXPECT_EQ(matching(attributes, "spec.tracing.spanAttributes.static[\"a b\"]", "attribute name").size(), 1u);
  EXPECT_EQ(matching(attributes, "spec.tracing.spanAttributes.static[\"long\"]", "longer than 256").size(), 1u);
  EXPECT_EQ(attributes.size(), 4u) << dump(attributes);
  gw.spec.tracing->staticAttributes.clear();
  for (std::size_t i = 0; i <= kMaxStaticAttributes; ++i) gw.spec.tracing->staticAttributes["a" + std::to_string(i)] = "v";
  EXPECT_EQ(matching(check_gateway(gw), "spec.tracing.spanAttributes.static", "at most 32").size(), 1u);
}

// Span attribute values reach Plano's config like a tenant's strings (envsubst, then PyYAML).
TEST(GatewayRules, SpanAttributeValuesArriveAsWritten) {
  auto gw = gateway();
  gw.spec.tracing = api::GatewayTracing{"http://otel:4317", 100, std::nullopt, {}, {}};
  for (const std::string bad : {"$PLANO_KEY_1_TEAM_A_OPENAI_CREDENTIALS_API_KEY", "${HOME}", "a\xe2\x80\xa8" "b", "a\nb"}) {
    gw.spec.tracing->staticAttributes = {{"env", bad}};
    EXPECT_EQ(matching(check_gateway(gw), "spec.tracing.spanAttributes.static[\"env\"]", "contains").size(), 1u) << bad;
  }
}

api::GatewayRateLimit rate_limit(std::string model, std::string key, std::string value, std::int64_t tokens = 1000,
                                 api::RateLimitUnit unit = api::RateLimitUnit::Minute) {
  return api::GatewayRateLimit{std::move(model), std::move(key), std::move(value), tokens, unit};
}

TEST(GatewayRules, RateLimitsWithinTheCrdsBoundsAndPlanosU32) {
  auto gw = gateway();
  gw.spec.rateLimits = {rate_limit("openai/gpt-4o", "x-team", "team-a", 1), rate_limit("vllm/meta-llama/Llama-3.1-8B", "x-team", "Team A", 4294967295)};
  EXPECT_TRUE(check_gateway(gw).empty()) << dump(check_gateway(gw));
  for (std::int64_t bad : {std::int64_t{0}, std::int64_t{-1}, std::int64_t{4294967296}}) {
    gw.spec.rateLimits[0].tokens = bad;
    EXPECT_EQ(matching(check_gateway(gw), "spec.rateLimits[0].limit.tokens", "use 1 to 4294967295").size(), 1u) << bad;
  }
  gw.spec.rateLimits[0].tokens = 10;
  gw.spec.rateLimits[0].unit = api::RateLimitUnit::Day;
  const auto daily = check_gateway(gw);
  ASSERT_EQ(matching(daily, "spec.rateLimits[0].limit.tokens", "1 per hour (24 per day)").size(), 1u) << dump(daily);
  EXPECT_EQ(daily[0].severity, Severity::Warning);
  gw.spec.rateLimits[0].tokens = 24;
  EXPECT_TRUE(check_gateway(gw).empty());
  gw.spec.rateLimits = std::vector<api::GatewayRateLimit>(kMaxRateLimits + 1, rate_limit("openai/gpt-4o", "x-team", "a"));
  for (std::size_t i = 0; i < gw.spec.rateLimits.size(); ++i) gw.spec.rateLimits[i].selectorValue = "team-" + std::to_string(i);
  EXPECT_EQ(matching(check_gateway(gw), "spec.rateLimits", "at most 64").size(), 1u);
}

TEST(GatewayRules, ARateLimitNamesOneModelAsItsProviderDeclaresIt) {
  auto gw = gateway();
  for (const char* bad : {"gpt-4o", "/gpt-4o", "openai/"}) {
    gw.spec.rateLimits = {rate_limit(bad, "x-team", "a")};
    EXPECT_EQ(matching(check_gateway(gw), "spec.rateLimits[0].model", "<provider>/<model_id>").size(), 1u) << bad;
  }
  gw.spec.rateLimits = {rate_limit("openai/*", "x-team", "a")};
  EXPECT_EQ(matching(check_gateway(gw), "spec.rateLimits[0].model", "wildcard").size(), 1u);
  gw.spec.rateLimits = {rate_limit("openai/$PLANO_KEY_1_TEAM_A_OPENAI_API_KEY", "x-team", "a")};
  EXPECT_EQ(matching(check_gateway(gw), "spec.rateLimits[0].model", "contains").size(), 1u);
}

// Plano's filter looks the selector up exactly as the client named it, among Envoy's lower-case
// headers, and only those that reach it.
TEST(GatewayRules, ARateLimitSelectsOnALowerCaseHeaderThatReachesPlano) {
  auto gw = gateway();
  for (const char* bad : {"X-Team", "x team", "x:team", ""}) {
    gw.spec.rateLimits = {rate_limit("openai/gpt-4o", bad, "a")};
    EXPECT_EQ(matching(check_gateway(gw), "spec.rateLimits[0].selector.key", "lower-case HTTP header name").size(), 1u) << bad;
  }
  for (const char* consumed : {"connection", "host", "content-length", "transfer-encoding", "x-arch-ratelimit-selector"}) {
    gw.spec.rateLimits = {rate_limit("openai/gpt-4o", consumed, "a")};
    EXPECT_EQ(matching(check_gateway(gw), "spec.rateLimits[0].selector.key", "never reaches").size(), 1u) << consumed;
  }
  for (const std::string& bad : std::vector<std::string>{" team", "team ", "", "t\tab", "caf\xc3\xa9", std::string(kMaxSelectorValueLength + 1, 'v')}) {
    gw.spec.rateLimits = {rate_limit("openai/gpt-4o", "x-team", bad)};
    EXPECT_EQ(matching(check_gateway(gw), "spec.rateLimits[0].selector.value", "printable ASCII").size(), 1u) << bad;
  }
  gw.spec.rateLimits = {rate_limit("openai/gpt-4o", "x-team", "${HOME}")};
  EXPECT_EQ(matching(check_gateway(gw), "spec.rateLimits[0].selector.value", "contains").size(), 1u);
}

// Plano keeps the first limit of a (model_id, selector) and skips the rest with a log line only.
TEST(GatewayRules, ARepeatedRateLimitIsRefusedNamingBothEntries) {
  auto gw = gateway();
  gw.spec.rateLimits = {rate_limit("openai/gpt-4o", "x-team", "team-a"), rate_limit("openai/gpt-4o", "x-team", "team-b"),
                        rate_limit("openai/gpt-4o", "x-user", "team-a"), rate_limit("azure_openai/gpt-4o", "x-team", "team-a", 5)};
  const auto findings = check_gateway(gw);
  ASSERT_EQ(findings.size(), 1u) << dump(findings);
  EXPECT_EQ(matching(findings, "spec.rateLimits[3]", "as spec.rateLimits[0]; Plano would keep only the first").size(), 1u) << dump(findings);
  EXPECT_NE(findings[0].message.find("(gpt-4o)"), std::string::npos) << "the model_id Plano compares is named";
}

TEST(GatewayRules, RoutingNamesAProviderObjectAndABoundedContext) {
  auto gw = gateway();
  gw.spec.routing = api::GatewayRouting{{"router", "inference"}, 16384};
  EXPECT_TRUE(check_gateway(gw).empty()) << dump(check_gateway(gw));
  gw.spec.routing->modelProviderRef = {"Router_1", "In.ference"};
  auto findings = check_gateway(gw);
  EXPECT_EQ(matching(findings, "spec.routing.modelProviderRef.name", "name of a ModelProvider").size(), 1u) << dump(findings);
  EXPECT_EQ(matching(findings, "spec.routing.modelProviderRef.namespace", "namespace name").size(), 1u) << dump(findings);
  gw.spec.routing->modelProviderRef = {"router", std::nullopt};
  for (std::int64_t bad : {kMinRoutingContextLength - 1, kMaxRoutingContextLength + 1}) {
    gw.spec.routing->contextLength = bad;
    EXPECT_EQ(matching(check_gateway(gw), "spec.routing.contextLength", "1024 to 1048576").size(), 1u) << bad;
  }
}

// The metrics sources' strings go through Plano's start-up (envsubst, PyYAML) and are fetched by every
// pod: plain http(s) URLs, bounded, no variables or line breaks; a refresh no faster than every 10s.
TEST(GatewayRules, ModelMetricsWithinTheCrdsBoundsAndSafeToPaste) {
  auto gw = gateway();
  gw.spec.modelMetrics = api::GatewayModelMetrics{
      api::GatewayCostMetrics{"models.dev", std::nullopt, 3600, {{"openai/openai-gpt-4o", "openai/gpt-4o"}}},
      api::GatewayLatencyMetrics{"http://prometheus.monitoring.svc.cluster.local:9090", "sum by (model_name) (rate(x[5m]))", 60}};
  EXPECT_TRUE(check_gateway(gw).empty()) << dump(check_gateway(gw));
  for (const char* good : {"https://models.dev/api.json", "http://10.0.0.7:8080/v2/gen-ai/models/catalog", "http://mirror"}) {
    gw.spec.modelMetrics->cost->url = good;
    EXPECT_TRUE(check_gateway(gw).empty()) << good << dump(check_gateway(gw));
  }
  for (const char* bad : {"ftp://mirror/x", "http://$HOME/x", "http://mirror/${PLANO_KEY_1_X}", "http://mirror/a b", "http://mirror/x?y=1",
                          "http://mirror/x#y", "http://mirror/x\n  - type: cost", "mirror/x", ""}) {
    gw.spec.modelMetrics->cost->url = bad;
    gw.spec.modelMetrics->latency->url = bad;
    const auto findings = check_gateway(gw);
    EXPECT_EQ(matching(findings, "spec.modelMetrics.cost.url", "http(s)://<host>").size(), 1u) << bad << dump(findings);
    EXPECT_EQ(matching(findings, "spec.modelMetrics.latency.url", "http(s)://<host>").size(), 1u) << bad << dump(findings);
  }
  gw.spec.modelMetrics->cost->url = "http://mirror/" + std::string(kMaxMetricsUrlLength, 'a');
  EXPECT_EQ(matching(check_gateway(gw), "spec.modelMetrics.cost.url").size(), 1u);
  gw.spec.modelMetrics->cost->url.reset();
  gw.spec.modelMetrics->latency->url = "http://prometheus:9090";
  for (const char* bad : {"x{a=\"$HOME\"}", "x\n  - type: cost", "x\u2028y"}) {
    gw.spec.modelMetrics->latency->query = bad;
    EXPECT_EQ(matching(check_gateway(gw), "spec.modelMetrics.latency.query").size(), 1u) << bad;
  }
  gw.spec.modelMetrics->latency->query = std::string(kMaxLatencyQueryLength + 1, 'x');
  EXPECT_EQ(matching(check_gateway(gw), "spec.modelMetrics.latency.query", "longer than").size(), 1u);
  gw.spec.modelMetrics->latency->query = "x";
  gw.spec.modelMetrics->cost->modelAliases = {{"openai/$HOME", "openai/gpt-4o"}, {"openai/a", "openai/${PLANO_KEY_1_X}"}, {"", "x"}};
  auto findings = check_gateway(gw);
  EXPECT_EQ(matching(findings, "spec.modelMetrics.cost.modelAliases[\"openai/$HOME\"]", "envsubst").size(), 1u) << dump(findings);
  EXPECT_EQ(matching(findings, "spec.modelMetrics.cost.modelAliases[\"openai/a\"]", "envsubst").size(), 1u) << dump(findings);
  EXPECT_EQ(matching(findings, "spec.modelMetrics.cost.modelAliases[\"\"]", "1 to 256").size(), 1u) << dump(findings);
  gw.spec.modelMetrics->cost->modelAliases.clear();
  for (std::int64_t bad : {kMinMetricsRefreshSeconds - 1, kMaxMetricsRefreshSeconds + 1}) {
    gw.spec.modelMetrics->cost->refreshIntervalSeconds = bad;
    gw.spec.modelMetrics->latency->refreshIntervalSeconds = bad;
    findings = check_gateway(gw);
    EXPECT_EQ(matching(findings, "spec.modelMetrics.cost.refreshIntervalSeconds", "10 to 86400").size(), 1u) << bad;
    EXPECT_EQ(matching(findings, "spec.modelMetrics.latency.refreshIntervalSeconds", "10 to 86400").size(), 1u) << bad;
  }
  gw.spec.modelMetrics->cost = api::GatewayCostMetrics{"openrouter", std::nullopt, std::nullopt, {}};
  EXPECT_EQ(matching(check_gateway(gw), "spec.modelMetrics.cost.provider", "models.dev or digitalocean").size(), 1u);
  gw.spec.modelMetrics = api::GatewayModelMetrics{};
  EXPECT_EQ(matching(check_gateway(gw), "spec.modelMetrics", "names no source").size(), 1u);
  gw.spec.modelMetrics->latency = api::GatewayLatencyMetrics{"http://p:9090", "x", std::nullopt};
  gw.spec.configVersion = "v0.3.0";
  EXPECT_EQ(matching(check_gateway(gw), "spec.modelMetrics", "needs configVersion v0.4.0").size(), 1u);
}

TEST(GatewayRules, StateStorageNeedsAConnectionStringForPostgresOnly) {
  auto gw = gateway();
  gw.spec.stateStorage = api::GatewayStateStorage{api::StateStorageType::Postgres, std::nullopt};
  EXPECT_EQ(matching(check_gateway(gw), "spec.stateStorage.connectionStringSecretRef", "required for type Postgres").size(), 1u);
  gw.spec.stateStorage->connectionStringSecretRef = api::SecretKeyRef{"state-db", "url"};
  gw.spec.deployment.replicas = 3;
  EXPECT_TRUE(check_gateway(gw).empty()) << dump(check_gateway(gw));
  gw.spec.stateStorage->type = api::StateStorageType::Memory;
  EXPECT_EQ(matching(check_gateway(gw), "spec.stateStorage.connectionStringSecretRef", "only for type Postgres").size(), 1u);
  gw.spec.stateStorage->connectionStringSecretRef.reset();
  const auto findings = check_gateway(gw);
  ASSERT_EQ(matching(findings, "spec.stateStorage.type", "3 replicas").size(), 1u) << dump(findings);
  EXPECT_EQ(findings[0].severity, Severity::Warning);
  gw.spec.deployment.replicas = 1;
  EXPECT_TRUE(check_gateway(gw).empty());
}

TEST(GatewayRules, SelectorOnlyWithFromSelector) {
  auto gw = gateway();
  gw.spec.allowedProviders.from = api::NamespacesFrom::Selector;
  EXPECT_EQ(matching(check_gateway(gw), "spec.allowedProviders.namespaces.selector", "required").size(), 1u);
  gw.spec.allowedProviders.selector = api::LabelSelector{{{"tenant", "true"}}, {}};
  EXPECT_TRUE(check_gateway(gw).empty());
  gw.spec.allowedProviders.from = api::NamespacesFrom::All;
  EXPECT_EQ(matching(check_gateway(gw), "spec.allowedProviders.namespaces.selector", "only used").size(), 1u);
}

TEST(GatewayRules, SelectorExpressions) {
  auto gw = gateway();
  gw.spec.allowedProviders.from = api::NamespacesFrom::Selector;
  gw.spec.allowedProviders.selector = api::LabelSelector{{}, {{"tier", "In", {}}, {"x", "Near", {}}}};
  auto f = check_gateway(gw);
  EXPECT_EQ(matching(f, "spec.allowedProviders.namespaces.selector.matchExpressions[0].values").size(), 1u) << dump(f);
  EXPECT_EQ(matching(f, "spec.allowedProviders.namespaces.selector.matchExpressions[1].operator").size(), 1u);
}

TEST(GatewayRules, AuthModesNonEmptyAndDistinct) {
  auto gw = gateway();
  gw.spec.allowedProviders.authModes.clear();
  EXPECT_EQ(matching(check_gateway(gw), "spec.allowedProviders.authModes", "at least one").size(), 1u);
  gw.spec.allowedProviders.authModes = {api::AuthMode::AccessKey, api::AuthMode::AccessKey};
  EXPECT_EQ(matching(check_gateway(gw), "spec.allowedProviders.authModes", "twice").size(), 1u);
}

TEST(GatewayRules, DeploymentFields) {
  auto gw = gateway();
  gw.spec.deployment.replicas = -1;
  gw.spec.deployment.serviceType = "ExternalName";
  gw.spec.deployment.image = "";
  auto f = check_gateway(gw);
  EXPECT_EQ(matching(f, "spec.deployment.replicas").size(), 1u);
  EXPECT_EQ(matching(f, "spec.deployment.serviceType").size(), 1u);
  EXPECT_EQ(matching(f, "spec.deployment.image").size(), 1u);
}

TEST(GatewayRules, ReplicasWithinTheCrdBounds) {
  auto gw = gateway();
  for (std::int64_t replicas : {0, 1, 1000}) {
    gw.spec.deployment.replicas = replicas;
    EXPECT_TRUE(matching(check_gateway(gw), "spec.deployment.replicas").empty()) << replicas;
  }
  // 3000000000 is beyond a Deployment's int32 too.
  for (std::int64_t replicas : {-1LL, 1001LL, 3000000000LL}) {
    gw.spec.deployment.replicas = replicas;
    EXPECT_EQ(matching(check_gateway(gw), "spec.deployment.replicas",
                       std::to_string(replicas) + " is out of range; use 0 (stops the gateway) to 1000, the bounds the "
                                                  "CRD enforces")
                  .size(),
              1u)
        << replicas;
  }
}

TEST(GatewayRules, ResourcesAContainerWouldTake) {
  auto gw = gateway();
  gw.spec.deployment.resourceLimits = {{"cpu", "2"}, {"memory", "1Gi"}};
  gw.spec.deployment.resourceRequests = {{"cpu", "1500m"}, {"memory", "1Gi"}, {"ephemeral-storage", "1e9"}};
  EXPECT_TRUE(matching(check_gateway(gw), "spec.deployment.resources").empty());

  gw.spec.deployment.resourceLimits = {{"cpu", "-1"}, {"memory", "1Gi"}};
  gw.spec.deployment.resourceRequests = {
      {"cpu", "100m"}, {"memory", "1100Mi"}, {"nvidia.com/gpu", "one"}, {"ephemeral-storage", std::string(65, '1')}};
  const auto report = check_gateway(gw);
  EXPECT_EQ(matching(report, "spec.deployment.resources.limits.cpu", "-1 is negative; a container's resources must be 0 or more").size(), 1u);
  EXPECT_EQ(matching(report, "spec.deployment.resources.requests.memory",
                     "1100Mi is more than its limit 1Gi (spec.deployment.resources.limits.memory); a request may be at most "
                     "the limit").size(), 1u);
  EXPECT_EQ(matching(report, "spec.deployment.resources.requests.nvidia.com/gpu",
                     "\"one\" is not a quantity; write one such as 500m, 2 or 256Mi").size(), 1u);
  EXPECT_EQ(matching(report, "spec.deployment.resources.requests.ephemeral-storage",
                     "is longer than 64 characters (the CRD's limit); write it shorter").size(), 1u);
  // The cpu request has no usable limit to be held to.
  EXPECT_TRUE(matching(report, "spec.deployment.resources.requests.cpu").empty());
}

}  // namespace
}  // namespace plano::rules

namespace plano::rules {
namespace {

// ---- tenant strings: what Plano's start-up (envsubst, then PyYAML) would change ----

// Each tenant string field of a provider holding `text`, as (field path, provider).
std::vector<std::pair<std::string, api::ModelProvider>> providers_holding(const std::string& text) {
  std::vector<std::pair<std::string, api::ModelProvider>> out;
  auto base = plano::testing::provider("team-b", "p", "openai/gpt-4o");
  auto with = [&](std::string field, auto set) {
    auto mp = base;
    set(mp);
    out.emplace_back(std::move(field), std::move(mp));
  };
  with("spec.model", [&](auto& mp) { mp.spec.model = "openai/gpt-" + text; });
  with("spec.name", [&](auto& mp) { mp.spec.name = "n" + text; });
  with("spec.httpHost", [&](auto& mp) { mp.spec.httpHost = "h" + text; });
  with("spec.headers.X-Steal", [&](auto& mp) { mp.spec.headers = {{"X-Steal", text}}; });
  with("spec.routingPreferences[0].name", [&](auto& mp) { mp.spec.routingPreferences = {{"r" + text, "d"}}; });
  with("spec.routingPreferences[0].description", [&](auto& mp) { mp.spec.routingPreferences = {{"r", text}}; });
  with("spec.baseURL", [&](auto& mp) { mp.spec.baseURL = "https://collector.example/" + text; });
  with("spec.aliases[0]", [&](auto& mp) { mp.spec.aliases = {"a" + text}; });
  return out;
}

TEST(TenantText, VariablesEnvsubstWouldExpandAreRefusedInEveryField) {
  for (const std::string payload : {"$PLANO_KEY_1_TEAM_A_OPENAI_CREDENTIALS_API_KEY", "${PLANO_KEY_1_X}", "$HOME",
                                    "x$HOSTNAME", "$_underscore", "${}"}) {
    for (const auto& [field, mp] : providers_holding(payload)) {
      const auto findings = check_provider(mp);
      EXPECT_EQ(matching(findings, field, "'$'").size(), 1u) << field << " " << payload << "\n" << dump(findings);
    }
  }
}

TEST(TenantText, DollarsEnvsubstLeavesAloneAreAccepted) {
  for (const std::string harmless : {"costs $5", "$", "a$", "$ sign", "$$5"}) {
    auto mp = plano::testing::provider("team-b", "p", "openai/gpt-4o");
    mp.spec.routingPreferences = {{"r", harmless}};
    mp.spec.headers = {{"X-Price", harmless}};
    EXPECT_TRUE(check_provider(mp).empty()) << harmless << dump(check_provider(mp));
  }
}

TEST(TenantText, LineBreaksAndControlsAreRefusedInEveryField) {
  for (const std::string& payload : std::vector<std::string>{"a\nb", "a\rb", std::string("a\0b", 3), "a\x7f" "b", "a\xc2\x85" "b", "a\xe2\x80\xa8" "b",
                                    "a\xe2\x80\xa9" "b", "a\x1b[31m"}) {
    for (const auto& [field, mp] : providers_holding(payload)) {
      const auto findings = check_provider(mp);
      EXPECT_EQ(matching(findings, field, "control character").size(), 1u) << field << "\n" << dump(findings);
    }
  }
  auto mp = plano::testing::provider("team-b", "p", "openai/gpt-4o");
  mp.spec.routingPreferences = {{"r", "tabs\tand unicode \xc3\xa9 \xe4\xb8\xad are fine"}};
  EXPECT_TRUE(check_provider(mp).empty()) << dump(check_provider(mp));
}

TEST(TenantText, HeaderNamesAreHttpTokensReportedWithoutRawBytes) {
  for (const std::string bad : {"X Tenant", "X:Tenant", "X-\xe2\x80\xa8model_providers", "X\nY", "", "X-\xc3\xa9"}) {
    auto mp = plano::testing::provider("team-b", "p", "openai/gpt-4o");
    mp.spec.headers = {{bad, "v"}};
    const auto findings = check_provider(mp);
    ASSERT_EQ(findings.size(), 1u) << dump(findings);
    EXPECT_EQ(findings[0].field, header_field(bad));
    EXPECT_NE(findings[0].message.find("not an HTTP header name"), std::string::npos);
    for (unsigned char c : findings[0].field) EXPECT_TRUE(c >= 0x20 && c < 0x7F) << findings[0].field;
  }
  EXPECT_EQ(header_field("X-Tenant"), "spec.headers.X-Tenant");
  EXPECT_EQ(header_field("a b\n\""), "spec.headers[\"a b\\x0a\\\"\"]");
  auto mp = plano::testing::provider("team-b", "p", "openai/gpt-4o");
  mp.spec.headers = {{"X-Weird!#$%&'*+-.^_`|~9", "v"}};
  EXPECT_TRUE(check_provider(mp).empty()) << dump(check_provider(mp));
}

TEST(TenantText, HostsAreNamesOrAddressesThatEnvoysConfigCarriesUnquoted) {
  // Envoy's template writes base_url's host and http_host unquoted: YAML indicators there break
  // or change Envoy's config for every tenant on the gateway.
  for (const std::string bad : {"*api.example.com", "&a", "!tag", "|x", ">x", "'q'", "\"q\"", "%x", "`x`", "{x: y}", ",x",
                                "host: x", "host #x", "a b", "-leading.example.com"}) {
    auto mp = plano::testing::provider("team-b", "p", "openai/gpt-4o");
    mp.spec.httpHost = bad;
    EXPECT_EQ(matching(check_provider(mp), "spec.httpHost").size(), 1u) << bad << dump(check_provider(mp));
    auto url = plano::testing::provider("team-b", "u", "custom/x");
    url.spec.providerInterface = "openai";
    url.spec.baseURL = "https://" + bad + "/v1";
    EXPECT_GE(matching(check_provider(url), "spec.baseURL").size(), 1u) << bad << dump(check_provider(url));
  }
  for (const std::string good : {"api.example.com", "api.example.com:8443", "10.0.0.1", "10.0.0.1:80", "[::1]:8080", "[fd00::1]",
                                 "vllm.inference.svc.cluster.local", "localhost"}) {
    auto mp = plano::testing::provider("team-b", "p", "openai/gpt-4o");
    mp.spec.httpHost = good;
    EXPECT_TRUE(check_provider(mp).empty()) << good << dump(check_provider(mp));
  }
  auto url = plano::testing::provider("team-b", "u", "custom/x");
  url.spec.providerInterface = "openai";
  for (const std::string good : {"https://api.example.com/v1", "http://[::1]:8000/v1", "http://10.0.0.1:8000", "https://a.b.c.d/x?y=1"}) {
    url.spec.baseURL = good;
    EXPECT_TRUE(check_provider(url).empty()) << good << dump(check_provider(url));
  }
  url.spec.baseURL = "https://api.example.com/v\t1";  // the CRD refuses a tab too
  EXPECT_EQ(matching(check_provider(url), "spec.baseURL", "spaces or tabs").size(), 1u) << dump(check_provider(url));
}

}  // namespace
}  // namespace plano::rules
