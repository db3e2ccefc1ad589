#include "core/api/decode.h"

#include <gtest/gtest.h>

#include "tests/unit/test_objects.h"

namespace plano::api {
namespace {

using plano::testing::yaml;

std::string errors(const std::vector<FieldError>& es) {
  std::string s;
  for (const auto& e : es) s += e.path + ": " + e.message + "\n";
  return s;
}

bool has(const std::vector<FieldError>& es, const std::string& path, const std::string& phrase) {
  for (const auto& e : es) {
    if (e.path == path && e.message.find(phrase) != std::string::npos) return true;
  }
  return false;
}

// Gateway shared/platform whose spec is `spec_lines`: a newline, then lines indented two spaces.
std::string gateway_with(const std::string& spec_lines) {
  return "apiVersion: plano-operator.io/v1alpha1\nkind: PlanoGateway\nmetadata: {name: shared, namespace: platform}\nspec:" +
         spec_lines;
}

// Provider team-a/a on gateway shared, model openai/gpt-4o, with `spec_lines` (indented two spaces) added.
std::string provider_with(const std::string& spec_lines) {
  return "apiVersion: plano-operator.io/v1alpha1\nkind: ModelProvider\nmetadata: {name: a, namespace: team-a}\nspec:\n"
         "  gatewayRef: {name: shared}\n  model: openai/gpt-4o" + spec_lines;
}

const char* kProvider = R"(
apiVersion: plano-operator.io/v1alpha1
kind: ModelProvider
metadata: {name: gpt4, namespace: team-a, labels: {app: x}}
spec:
  gatewayRef: {name: shared, namespace: platform}
  model: openai/gpt-4o
  name: "gpt-4o"
  accessKeySecretRef: {name: openai, key: api-key}
  default: true
  routingPreferences: [{name: code, description: writes code}]
  headers: {X-Team: "a"}
  aliases: [fast, "true"]
)";

TEST(Decode, ProviderFields) {
  auto d = decode_provider(yaml(kProvider));
  ASSERT_TRUE(d.errors.empty()) << errors(d.errors);
  const auto& mp = *d.object;
  EXPECT_EQ(mp.metadata.name, "gpt4");
  EXPECT_EQ(mp.metadata.labels.at("app"), "x");
  EXPECT_EQ(mp.gatewayNamespace(), "platform");
  EXPECT_EQ(mp.spec.accessKeySecretRef->key, "api-key");
  EXPECT_TRUE(mp.isDefault());
  EXPECT_FALSE(mp.usesPassthrough());
  EXPECT_EQ(mp.spec.routingPreferences.at(0).description, "writes code");
  EXPECT_EQ(mp.spec.headers.at("X-Team"), "a");
  EXPECT_EQ(mp.planoName(), "gpt-4o");
  EXPECT_EQ(mp.spec.aliases, (std::vector<std::string>{"fast", "true"}));
}

TEST(Decode, GatewayDefaults) {
  auto d = decode_gateway(yaml(gateway_with(R"(
  listeners: [{name: llm, type: model, port: 12000}]
)")));
  ASSERT_TRUE(d.errors.empty()) << errors(d.errors);
  const auto& gw = *d.object;
  EXPECT_EQ(gw.spec.configVersion, "v0.4.0");
  EXPECT_EQ(gw.spec.allowedProviders.from, NamespacesFrom::Same);
  EXPECT_EQ(gw.spec.allowedProviders.authModes.size(), 2u);
  EXPECT_EQ(gw.spec.deployment.image, kDefaultPlanoImage);
  EXPECT_EQ(gw.spec.deployment.replicas, 1);
  EXPECT_EQ(gw.spec.deployment.serviceType, "ClusterIP");
}

TEST(Decode, GatewayAllFields) {
  auto d = decode_gateway(yaml(gateway_with(R"(
  configVersion: v0.3.0
  listeners: [{name: llm, type: model, port: 8080, address: 0.0.0.0, timeout: 60s}]
  allowedProviders:
    namespaces: {from: Selector, selector: {matchLabels: {t: "1"}, matchExpressions: [{key: k, operator: In, values: [a]}]}}
    authModes: [Passthrough]
  deployment:
    image: katanemo/plano:0.4.36
    replicas: 3
    resources: {limits: {cpu: "1", memory: 512Mi}, requests: {cpu: 100m}}
    nodeSelector: {pool: gw}
    tolerations: [{key: k, operator: Equal, value: v, effect: NoSchedule, tolerationSeconds: 10}]
    podAnnotations: {a: b}
    serviceType: LoadBalancer
  tracing:
    endpoint: http://otel.observability:4317
    traceInternal: true
    spanAttributes: {headerPrefixes: [x-team-], static: {env: prod}}
  stateStorage: {type: Postgres, connectionStringSecretRef: {name: state-db, key: url}}
  rateLimits: [{model: openai/gpt-4o, selector: {key: x-team, value: team-a}, limit: {tokens: 4294967295, unit: day}}]
  routing: {modelProviderRef: {name: router, namespace: inference}, contextLength: 16384}
  modelMetrics:
    cost: {provider: digitalocean, url: "https://catalog.example/v2", refreshIntervalSeconds: 3600, modelAliases: {openai/openai-gpt-4o: openai/gpt-4o}}
    latency: {url: "http://prometheus:9090", query: 'sum by (model_name) (x)', refreshIntervalSeconds: 60}
)")));
  ASSERT_TRUE(d.errors.empty()) << errors(d.errors);
  const auto& s = d.object->spec;
  EXPECT_EQ(s.configVersion, "v0.3.0");
  EXPECT_EQ(*s.listeners[0].timeout, "60s");
  EXPECT_EQ(s.allowedProviders.selector->matchExpressions[0].values[0], "a");
  EXPECT_EQ(s.allowedProviders.authModes, std::vector<AuthMode>{AuthMode::Passthrough});
  EXPECT_EQ(s.deployment.replicas, 3);
  EXPECT_EQ(s.deployment.resourceLimits.at("memory"), "512Mi");
  EXPECT_EQ(s.deployment.tolerations[0].tolerationSeconds, 10);
  EXPECT_EQ(s.deployment.serviceType, "LoadBalancer");
  ASSERT_TRUE(s.tracing);
  EXPECT_EQ(s.tracing->endpoint, "http://otel.observability:4317");
  EXPECT_EQ(s.tracing->samplingPercent, 100) << "the CRD's default";
  EXPECT_EQ(s.tracing->traceInternal, true);
  EXPECT_EQ(s.tracing->headerPrefixes, std::vector<std::string>{"x-team-"});
  EXPECT_EQ(s.tracing->staticAttributes.at("env"), "prod");
  ASSERT_TRUE(s.stateStorage);
  EXPECT_EQ(s.stateStorage->type, StateStorageType::Postgres);
  EXPECT_EQ(s.stateStorage->connectionStringSecretRef->name, "state-db");
  ASSERT_EQ(s.rateLimits.size(), 1u);
  EXPECT_EQ(s.rateLimits[0].model, "openai/gpt-4o");
  EXPECT_EQ(s.rateLimits[0].selectorKey, "x-team");
  EXPECT_EQ(s.rateLimits[0].selectorValue, "team-a");
  EXPECT_EQ(s.rateLimits[0].tokens, 4294967295) << "beyond int32";
  EXPECT_EQ(s.rateLimits[0].unit, RateLimitUnit::Day);
  ASSERT_TRUE(s.routing);
  EXPECT_EQ(s.routing->modelProviderRef.name, "router");
  EXPECT_EQ(s.routing->modelProviderRef.namespace_, "inference");
  EXPECT_EQ(s.routing->contextLength, 16384);
  ASSERT_TRUE(s.modelMetrics && s.modelMetrics->cost && s.modelMetrics->latency);
  EXPECT_EQ(s.modelMetrics->cost->provider, "digitalocean");
  EXPECT_EQ(s.modelMetrics->cost->url, "https://catalog.example/v2");
  EXPECT_EQ(s.modelMetrics->cost->refreshIntervalSeconds, 3600);
  EXPECT_EQ(s.modelMetrics->cost->modelAliases.at("openai/openai-gpt-4o"), "openai/gpt-4o");
  EXPECT_EQ(s.modelMetrics->latency->url, "http://prometheus:9090");
  EXPECT_EQ(s.modelMetrics->latency->query, "sum by (model_name) (x)");
  EXPECT_EQ(s.modelMetrics->latency->refreshIntervalSeconds, 60);
}

// prefer is None unless written; Plano's spellings point at this API's fields.
TEST(Decode, RoutingPreferencePreferAndModelMetricsInPlanosSpelling) {
  auto d = decode_provider(yaml(provider_with(R"(
  routingPreferences:
    - {name: code, description: writes code, prefer: Cheapest}
    - {name: chat, description: small talk}
    - {name: fast, description: quick, prefer: Fastest}
)")));
  ASSERT_TRUE(d.errors.empty()) << errors(d.errors);
  const auto& prefs = d.object->spec.routingPreferences;
  EXPECT_EQ(prefs[0].prefer, SelectionPreference::Cheapest);
  EXPECT_EQ(prefs[1].prefer, SelectionPreference::None);
  EXPECT_EQ(prefs[2].prefer, SelectionPreference::Fastest);
  d = decode_provider(yaml(provider_with(R"(
  routingPreferences: [{name: code, description: writes code, prefer: cheapest, selection_policy: {prefer: cheapest}}]
)")));
  EXPECT_NE(errors(d.errors).find("spec.routingPreferences[0].prefer: is \"cheapest\"; use Cheapest, Fastest or None"), std::string::npos)
      << errors(d.errors);
  EXPECT_NE(errors(d.errors).find("did you mean \"prefer\""), std::string::npos) << errors(d.errors);
  auto g = decode_gateway(yaml(gateway_with(R"(
  listeners: [{name: llm, type: model, port: 12000}]
  model_metrics_sources: []
  modelMetrics: {latency: {url: "http://p:9090", refresh_interval: 5}}
)")));
  EXPECT_NE(errors(g.errors).find("did you mean \"modelMetrics\""), std::string::npos) << errors(g.errors);
  EXPECT_NE(errors(g.errors).find("did you mean \"refreshIntervalSeconds\""), std::string::npos) << errors(g.errors);
  EXPECT_NE(errors(g.errors).find("spec.modelMetrics.latency.query: is required"), std::string::npos) << errors(g.errors);
}

// Plano's own spellings are pointed at this API's, and a rate limit's parts are required.
TEST(Decode, RateLimitsAndRoutingInPlanosSpellingAreShownTheirFields) {
  auto d = decode_gateway(yaml(gateway_with(R"(
  listeners: [{name: llm, type: model, port: 12000}]
  ratelimits: []
  overrides: {llm_routing_model: plano/x}
  rateLimits: [{model: openai/gpt-4o, limit: {tokens: 10, unit: week}}]
  routing: {llm_routing_model: x}
)")));
  const auto text = errors(d.errors);
  EXPECT_NE(text.find("spec.ratelimits: unknown field; did you mean \"rateLimits\"?"), std::string::npos) << text;
  EXPECT_NE(text.find("spec.overrides: unknown field; did you mean \"routing\"?"), std::string::npos) << text;
  EXPECT_NE(text.find("spec.rateLimits[0].selector: is required"), std::string::npos) << text;
  EXPECT_NE(text.find("spec.rateLimits[0].limit.unit: is \"week\"; use second, minute, hour or day"), std::string::npos) << text;
  EXPECT_NE(text.find("spec.routing.modelProviderRef: is required"), std::string::npos) << text;
  EXPECT_NE(text.find("spec.routing.llm_routing_model: unknown field; did you mean \"modelProviderRef\"?"), std::string::npos) << text;
}

// The CRD's quantities are int-or-string: the API server refuses 1.5 unquoted.
TEST(Decode, ResourceQuantitiesAreIntegersOrStrings) {
  auto d = decode_gateway(yaml(gateway_with(R"(
  listeners: [{name: llm, type: model, port: 12000}]
  deployment: {resources: {limits: {cpu: 2, memory: 1.5, gpu: true}, requests: {cpu: "1.5"}}}
)")));
  EXPECT_EQ(d.object->spec.deployment.resourceLimits.at("cpu"), "2");
  EXPECT_EQ(d.object->spec.deployment.resourceRequests.at("cpu"), "1.5");
  EXPECT_TRUE(has(d.errors, "spec.deployment.resources.limits.memory",
                  "is the number 1.5, but a quantity must be an integer or a string: write \"1.5\"")) << errors(d.errors);
  EXPECT_TRUE(has(d.errors, "spec.deployment.resources.limits.gpu", "must be a quantity")) << errors(d.errors);
  EXPECT_EQ(d.errors.size(), 2u) << errors(d.errors);
}

TEST(Decode, UnknownFieldsSuggestTheRightOne) {
  auto d = decode_provider(yaml(R"(
apiVersion: plano-operator.io/v1alpha1
kind: ModelProvider
metadata: {name: p, namespace: team-a}
spec:
  gatewayRef: {name: shared}
  model: openai/gpt-4o
  passthrough_auth: true
  access_key: sk-live-123
  modle: x
  model_aliases: [fast]
  aliases: [smart, 12]
)"));
  EXPECT_TRUE(has(d.errors, "spec.passthrough_auth", "did you mean \"passthroughAuth\"")) << errors(d.errors);
  EXPECT_TRUE(has(d.errors, "spec.access_key", "did you mean \"accessKeySecretRef\"")) << errors(d.errors);
  EXPECT_TRUE(has(d.errors, "spec.access_key", "Secret")) << errors(d.errors);
  EXPECT_TRUE(has(d.errors, "spec.modle", "did you mean \"model\"")) << errors(d.errors);
  EXPECT_TRUE(has(d.errors, "spec.model_aliases", "did you mean \"aliases\"")) << errors(d.errors);
  EXPECT_TRUE(has(d.errors, "spec.aliases[1]", "must be a string")) << errors(d.errors);
  for (const auto& e : d.errors) EXPECT_EQ(e.message.find("sk-live-123"), std::string::npos) << "a key leaked into a message";
}

TEST(Decode, WrongTypesAreErrorsNotCrashes) {
  auto d = decode_gateway(yaml(gateway_with(R"(
  listeners: [{name: llm, type: model, port: "12000"}, 7]
  allowedProviders: [1, 2]
  deployment: {replicas: many, podAnnotations: {a: 1}}
)")));
  EXPECT_TRUE(has(d.errors, "spec.listeners[0].port", "must be an integer, not a string")) << errors(d.errors);
  EXPECT_TRUE(has(d.errors, "spec.listeners[1]", "must be an object")) << errors(d.errors);
  EXPECT_TRUE(has(d.errors, "spec.allowedProviders", "must be an object")) << errors(d.errors);
  EXPECT_TRUE(has(d.errors, "spec.deployment.replicas", "integer")) << errors(d.errors);
  EXPECT_TRUE(has(d.errors, "spec.deployment.podAnnotations.a", "must be a string")) << errors(d.errors);
}

TEST(Decode, RequiredFields) {
  auto d = decode_provider(yaml("apiVersion: plano-operator.io/v1alpha1\nkind: ModelProvider\nmetadata: {name: p}\nspec: {}\n"));
  EXPECT_TRUE(has(d.errors, "spec.gatewayRef", "is required")) << errors(d.errors);
  EXPECT_TRUE(has(d.errors, "spec.model", "is required")) << errors(d.errors);
  auto noSpec = decode_provider(yaml("apiVersion: plano-operator.io/v1alpha1\nkind: ModelProvider\nmetadata: {name: p}\n"));
  EXPECT_TRUE(has(noSpec.errors, "spec", "is required")) << errors(noSpec.errors);
}

TEST(Decode, EnumsAreChecked) {
  auto d = decode_gateway(yaml(R"(
apiVersion: plano-operator.io/v1alpha1
kind: PlanoGateway
metadata: {name: g}
spec:
  configVersion: v0.2.0
  listeners: [{name: llm, type: model, port: 12000}]
  allowedProviders: {namespaces: {from: Everyone}, authModes: [Passthrough, ApiKey]}
)"));
  EXPECT_TRUE(has(d.errors, "spec.configVersion", "v0.4.0")) << errors(d.errors);
  EXPECT_TRUE(has(d.errors, "spec.allowedProviders.namespaces.from", "Same, All or Selector")) << errors(d.errors);
  EXPECT_TRUE(has(d.errors, "spec.allowedProviders.authModes", "ApiKey")) << errors(d.errors);
}

TEST(Decode, WrongApiVersionAndKind) {
  auto d = decode_provider(yaml("apiVersion: plano-operator.io/v1\nkind: Provider\nmetadata: {name: p}\nspec: {gatewayRef: {name: g}, model: a/b, passthroughAuth: true}\n"));
  EXPECT_TRUE(has(d.errors, "apiVersion", "v1alpha1")) << errors(d.errors);
  EXPECT_TRUE(has(d.errors, "kind", "ModelProvider")) << errors(d.errors);
}

TEST(Decode, ApiServerMetadataIsAccepted) {
  auto d = decode_provider(nlohmann::json::parse(R"({"apiVersion":"plano-operator.io/v1alpha1","kind":"ModelProvider",
    "metadata":{"name":"p","namespace":"n","uid":"u","resourceVersion":"7","generation":2,
      "creationTimestamp":"2026-01-01T00:00:00Z","managedFields":[{}],"finalizers":["x"]},
    "spec":{"gatewayRef":{"name":"g"},"model":"a/b","passthroughAuth":true},
    "status":{"observedGeneration":1,"conditions":[{"type":"Accepted","status":"True","reason":"Accepted","message":"","lastTransitionTime":"2026-01-01T00:00:00Z"}]}})"));
  ASSERT_TRUE(d.errors.empty()) << errors(d.errors);
  EXPECT_EQ(d.object->metadata.generation, 2);
  EXPECT_EQ(d.object->status.conditions.at(0).type, "Accepted");
}

TEST(Decode, TypeMetaOfNonObjects) {
  EXPECT_EQ(type_meta(nlohmann::json::array()).kind, "");
  EXPECT_EQ(type_meta(nlohmann::json{{"kind", 3}}).kind, "");
  EXPECT_EQ(type_meta(nlohmann::json{{"kind", "X"}, {"apiVersion", "v1"}}).kind, "X");
}

}  // namespace
}  // namespace plano::api
