#include "operator/gateway_plan.h"

#include <gtest/gtest.h>

#include <cstdio>

#include "core/encoding/base64.h"
#include "core/render/renderer.h"
#include "operator/conditions.h"
#include "operator/desired_objects.h"
#include "tests/unit/test_objects.h"

namespace plano::op {
namespace {

using nlohmann::json;
using plano::testing::gateway;
using plano::testing::provider;

struct Cluster {
  api::PlanoGateway gw = gateway();
  std::vector<api::ModelProvider> providers;
  std::map<std::string, std::map<std::string, std::string>> secrets;  // ns/name -> data
  std::optional<json> deployment, keys;  // live owned objects

  Cluster() {
    gw.metadata.uid = "gw-uid";
    gw.metadata.generation = 3;
    auto a = provider("team-a", "gpt4", "openai/gpt-4o");
    a.spec.passthroughAuth.reset();
    a.spec.accessKeySecretRef = api::SecretKeyRef{"openai", "api-key"};
    a.spec.default_ = true;
    a.metadata.generation = 2;
    a.metadata.creationTimestamp = "2026-01-01T00:00:00Z";
    auto b = provider("team-b", "claude", "anthropic/claude-sonnet-4-5");
    b.metadata.generation = 1;
    b.metadata.creationTimestamp = "2026-01-02T00:00:00Z";
    providers = {a, b};
    secrets["team-a/openai"] = {{"api-key", "sk-test-secret-value"}};
  }

  GatewaySnapshot snapshot(bool with_gateway = true) {
    GatewaySnapshot s;
    s.namespace_ = "platform";
    s.name = "shared";
    s.gateway = with_gateway ? &gw : nullptr;
    for (auto& p : providers) s.providers.push_back(&p);
    s.namespaceLabels = [](const std::string&) { return std::map<std::string, std::string>{}; };
    s.secretData = [this](const std::string& ns, const std::string& name) -> std::optional<std::map<std::string, std::string>> {
      auto it = secrets.find(ns + "/" + name);
      if (it == secrets.end()) return std::nullopt;
      return it->second;
    };
    s.liveDeployment = deployment ? &*deployment : nullptr;
    s.liveKeysSecret = keys ? &*keys : nullptr;
    s.now = "2026-11-27T12:00:00Z";
    return s;
  }

  // Feeds the plan's owned objects back as live, as the API server would after the applies.
  void applied(const GatewayPlan& plan) {
    deployment = plan.deployment;
    keys = plan.keysSecret;
    accept(plan);
  }

  // Feeds the plan's statuses back, as the API server would after the writes.
  void accept(const GatewayPlan& plan) {
    if (plan.gatewayStatus) gw.status = decode_gateway_status(*plan.gatewayStatus);
    for (const auto& change : plan.providerStatuses) {
      for (auto& p : providers) {
        if (p.metadata.namespace_ == change.namespace_ && p.metadata.name == change.name) {
          p.status = decode_provider_status(status_json(change.status));
        }
      }
    }
  }

  static api::PlanoGatewayStatus decode_gateway_status(const json& j) {
    json obj = {{"apiVersion", api::kApiVersion}, {"kind", api::kGatewayKind}, {"metadata", {{"name", "x"}}},
                {"spec", {{"listeners", json::array()}}}, {"status", j}};
    return api::decode_gateway(obj).object->status;
  }
  static api::ModelProviderStatus decode_provider_status(const json& j) {
    json obj = {{"apiVersion", api::kApiVersion}, {"kind", api::kProviderKind}, {"metadata", {{"name", "x"}}},
                {"spec", {{"gatewayRef", {{"name", "g"}}}, {"model", "a/b"}, {"passthroughAuth", true}}}, {"status", j}};
    return api::decode_provider(obj).object->status;
  }

  const api::Condition& condition(const std::string& provider_name, const std::string& type) {
    for (auto& p : providers) {
      if (p.metadata.name == provider_name) return *find_condition(p.status.conditions, type);
    }
    throw std::logic_error("no provider " + provider_name);
  }
};

TEST(GatewayPlan, AppliesOwnedObjectsWithKeysOnlyInTheSecret) {
  Cluster c;
  auto plan = plan_gateway(c.snapshot());
  ASSERT_TRUE(plan.apply);
  const auto config = plan.configMap["data"][kConfigKey].get<std::string>();
  EXPECT_EQ(config.find("sk-test-secret-value"), std::string::npos);
  EXPECT_NE(config.find("openai/gpt-4o"), std::string::npos);
  ASSERT_EQ(plan.keysSecret["data"].size(), 1u);
  EXPECT_EQ(*encoding::base64_decode(plan.keysSecret["data"].begin()->get<std::string>()), "sk-test-secret-value");
  EXPECT_NE(config.find("$" + plan.keysSecret["data"].begin().key()), std::string::npos);
  EXPECT_EQ(plan.configMap["metadata"]["ownerReferences"][0]["uid"], "gw-uid");
  EXPECT_EQ(plan.deployment["spec"]["template"]["spec"]["containers"][0]["envFrom"][0]["secretRef"]["name"], "shared-plano-keys");
  EXPECT_EQ(plan.deployment["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["httpGet"]["port"], 12000);
  EXPECT_EQ(plan.service["spec"]["ports"][0]["port"], 12000);
  ASSERT_TRUE(plan.gatewayStatus);
  EXPECT_EQ((*plan.gatewayStatus)["acceptedProviders"], 2);
  EXPECT_EQ((*plan.gatewayStatus)["observedGeneration"], 3);
  EXPECT_EQ(plan.gatewayStatus->dump().find("sk-test"), std::string::npos);
}

TEST(GatewayPlan, SteadyStateChangesNothing) {
  Cluster c;
  c.accept(plan_gateway(c.snapshot()));
  auto again = plan_gateway(c.snapshot());
  EXPECT_FALSE(again.gatewayStatus) << again.gatewayStatus->dump();
  EXPECT_TRUE(again.providerStatuses.empty());
  EXPECT_TRUE(again.events.empty());
}

TEST(GatewayPlan, KeyRotationChangesRolloutHashOnly) {
  Cluster c;
  auto first = plan_gateway(c.snapshot());
  c.accept(first);
  c.secrets["team-a/openai"]["api-key"] = "sk-rotated";
  auto second = plan_gateway(c.snapshot());
  EXPECT_EQ(first.configMap, second.configMap);
  EXPECT_NE(first.deployment["spec"]["template"]["metadata"]["annotations"][kConfigHashAnnotation],
            second.deployment["spec"]["template"]["metadata"]["annotations"][kConfigHashAnnotation]);
  ASSERT_EQ(second.events.size(), 1u);
  EXPECT_EQ(second.events[0].reason, "ConfigRolledOut");
  EXPECT_EQ(second.events[0].note.find("sk-rotated"), std::string::npos);
}

TEST(GatewayPlan, MissingSecretKeepsProviderOutOfConfig) {
  Cluster c;
  c.secrets.clear();
  auto plan = plan_gateway(c.snapshot());
  c.accept(plan);
  EXPECT_EQ(plan.configMap["data"][kConfigKey].get<std::string>().find("openai/gpt-4o"), std::string::npos);
  EXPECT_EQ(c.condition("gpt4", "ResolvedRefs").reason, "SecretNotFound");
  EXPECT_EQ(c.condition("gpt4", "Programmed").status, "False");
  EXPECT_EQ(c.condition("gpt4", "Accepted").status, "True");
  EXPECT_TRUE(plan.awaitsSecret) << "a Secret created later is not watched: the gateway looks again";
  c.secrets["team-a/openai"] = {{"other", "x"}};
  auto key_missing = plan_gateway(c.snapshot());
  c.accept(key_missing);
  EXPECT_EQ(c.condition("gpt4", "ResolvedRefs").reason, "KeyNotFound");
  EXPECT_FALSE(key_missing.awaitsSecret) << "a labelled Secret is watched";
}

// One Warning per new problem: a missing Secret says so once, a changed reason says so again, a
// repeat of the same state says nothing, and the recovery is a Normal Event.
TEST(GatewayPlan, EachNewProblemOfAProviderIsOneWarning) {
  Cluster c;
  c.secrets.clear();
  auto events_of = [](const GatewayPlan& plan, const std::string& name) {
    std::vector<std::string> out;
    for (const auto& e : plan.events) {
      if (e.name == name) out.push_back(e.type + " " + e.reason);
    }
    return out;
  };
  auto plan = plan_gateway(c.snapshot());
  EXPECT_EQ(events_of(plan, "gpt4"), (std::vector<std::string>{"Normal Accepted", "Warning SecretNotFound"}));
  EXPECT_EQ(events_of(plan, "claude"), (std::vector<std::string>{"Normal Accepted"}));
  c.accept(plan);
  EXPECT_TRUE(plan_gateway(c.snapshot()).events.empty());
  c.secrets["team-a/openai"] = {{"other", "x"}};
  plan = plan_gateway(c.snapshot());
  EXPECT_EQ(events_of(plan, "gpt4"), (std::vector<std::string>{"Warning KeyNotFound"}));
  c.accept(plan);
  c.secrets["team-a/openai"] = {{"api-key", "sk-ok"}};
  plan = plan_gateway(c.snapshot());
  EXPECT_EQ(events_of(plan, "gpt4"), (std::vector<std::string>{"Normal Resolved", "Normal Programmed"}));
  c.accept(plan);
  // A refusal whose reason changes is news again.
  c.providers[1].spec.default_ = true;  // claude is younger: it loses the default
  plan = plan_gateway(c.snapshot());
  EXPECT_EQ(events_of(plan, "claude"), (std::vector<std::string>{"Warning Conflict"}));
  c.accept(plan);
  c.gw.spec.allowedProviders.from = api::NamespacesFrom::Same;
  plan = plan_gateway(c.snapshot());
  EXPECT_EQ(events_of(plan, "claude"), (std::vector<std::string>{"Warning NotAllowedByGateway"}));
}

TEST(GatewayPlan, ConflictNamesTheWinnerAndOlderWins) {
  Cluster c;
  c.providers[1].spec.default_ = true;  // claude is younger: it loses
  auto plan = plan_gateway(c.snapshot());
  c.accept(plan);
  const auto& lost = c.condition("claude", "Accepted");
  EXPECT_EQ(lost.status, "False");
  EXPECT_EQ(lost.reason, "Conflict");
  EXPECT_NE(lost.message.str().find("ModelProvider/team-a/gpt4"), std::string::npos) << lost.message;
  EXPECT_EQ(c.condition("gpt4", "Programmed").status, "True");
  bool warned = std::any_of(plan.events.begin(), plan.events.end(),
                            [](const EventNote& e) { return e.reason == "Conflict" && e.type == "Warning"; });
  EXPECT_TRUE(warned);
  // The winner goes away: the loser is promoted.
  c.providers.erase(c.providers.begin());
  c.accept(plan_gateway(c.snapshot()));
  EXPECT_EQ(c.condition("claude", "Accepted").status, "True");
  EXPECT_EQ(c.condition("claude", "Programmed").status, "True");
}

TEST(GatewayPlan, MissingGatewayMarksProviders) {
  Cluster c;
  auto plan = plan_gateway(c.snapshot(false));
  EXPECT_FALSE(plan.apply);
  EXPECT_FALSE(plan.gatewayStatus);
  c.accept(plan);
  EXPECT_EQ(c.condition("gpt4", "Accepted").reason, "GatewayNotFound");
  EXPECT_EQ(c.condition("gpt4", "Programmed").status, "False");
}

TEST(GatewayPlan, InvalidGatewayKeepsLastGoodConfig) {
  Cluster c;
  c.gw.spec.listeners[0].port = 10000;
  auto plan = plan_gateway(c.snapshot());
  EXPECT_FALSE(plan.apply);
  c.accept(plan);
  const auto* programmed = find_condition(c.gw.status.conditions, "Programmed");
  ASSERT_TRUE(programmed);
  EXPECT_EQ(programmed->status, "False");
  EXPECT_NE(programmed->message.str().find("last good config"), std::string::npos);
  EXPECT_NE(programmed->message.str().find("spec.listeners[0].port"), std::string::npos);
}

// The Postgres connection string travels like a key: in the keys Secret, as a variable in the
// config. Until it is there and usable, the pods keep the last config (they would not start).
TEST(GatewayPlan, ThePostgresConnectionStringTravelsOnlyInTheKeysSecret) {
  Cluster c;
  c.gw.spec.stateStorage = api::GatewayStateStorage{api::StateStorageType::Postgres, api::SecretKeyRef{"state-db", "url"}};
  auto waiting = plan_gateway(c.snapshot());
  EXPECT_FALSE(waiting.apply);
  EXPECT_TRUE(waiting.awaitsSecret);
  c.accept(waiting);
  auto programmed = *find_condition(c.gw.status.conditions, "Programmed");
  EXPECT_EQ(programmed.reason, "SecretNotFound");
  EXPECT_NE(programmed.message.str().find("spec.stateStorage.connectionStringSecretRef: Secret platform/state-db does not exist"),
            std::string::npos) << programmed.message;
  EXPECT_EQ(find_condition(c.gw.status.conditions, "Reconciling")->status, "True") << "a Secret applied later is waited for";

  c.secrets["platform/state-db"] = {{"url", "postgresql://plano:p w@db:5432/plano"}};
  auto refused = plan_gateway(c.snapshot());
  EXPECT_FALSE(refused.apply);
  c.accept(refused);
  programmed = *find_condition(c.gw.status.conditions, "Programmed");
  EXPECT_EQ(programmed.reason, "InvalidKeyValue");
  EXPECT_EQ(programmed.message.str().find("p w@"), std::string::npos) << "the value is never quoted: " << programmed.message;
  EXPECT_EQ(find_condition(c.gw.status.conditions, "Stalled")->status, "True");

  const std::string url = "postgresql://plano:s3cr%40t@plano-db.platform.svc:5432/plano?connect_timeout=5";
  c.secrets["platform/state-db"] = {{"url", url}};
  auto plan = plan_gateway(c.snapshot());
  ASSERT_TRUE(plan.apply);
  const auto config = plan.configMap["data"][kConfigKey].get<std::string>();
  EXPECT_EQ(config.find("s3cr"), std::string::npos) << config;
  std::string variable;
  for (const auto& [var, value] : plan.keysSecret["data"].items()) {
    if (*encoding::base64_decode(value.get<std::string>()) == url) variable = var;
  }
  ASSERT_FALSE(variable.empty()) << plan.keysSecret.dump();
  EXPECT_NE(config.find("  connection_string: \"$" + variable + "\""), std::string::npos) << config;
  const auto sources = json::parse(plan.keysSecret["metadata"]["annotations"][kKeySourcesAnnotation].get<std::string>());
  EXPECT_EQ(sources[variable], "platform/state-db/url") << "its source is recorded, so a revocation rolls at once";
}

// The issue's flood with the webhook not called: one namespace's providers fill the config. The
// flood gives way, not the other tenants, not even one who comes after the flood.
// The routing model reads every tenant's routed prompts: while the provider the gateway names is not
// served, a config would send them to Plano's hosted router, so the last config keeps running.
TEST(GatewayPlan, TheConfigWaitsForTheRoutingModelToBeServed) {
  Cluster c;
  c.gw.spec.routing = api::GatewayRouting{{"router", std::nullopt}, std::nullopt};
  c.providers[0].spec.routingPreferences = {{"code", "writes code"}};
  auto waiting = plan_gateway(c.snapshot());
  EXPECT_FALSE(waiting.apply);
  c.accept(waiting);
  auto programmed = *find_condition(c.gw.status.conditions, "Programmed");
  EXPECT_EQ(programmed.status, "False");
  EXPECT_EQ(programmed.reason, "RoutingModelNotServed");
  EXPECT_NE(programmed.message.str().find("spec.routing.modelProviderRef: no ModelProvider platform/router attaches to this gateway"),
            std::string::npos) << programmed.message;
  EXPECT_NE(programmed.message.str().find("the last good config keeps running"), std::string::npos) << programmed.message;
  EXPECT_EQ(find_condition(c.gw.status.conditions, "Accepted")->status, "True");
  EXPECT_EQ(find_condition(c.gw.status.conditions, "Reconciling")->status, "True") << "a provider applied later is waited for";

  // The router appears, but its key does not resolve yet: still held, and said why.
  auto router = provider("platform", "router", "vllm/katanemo/Plano-Orchestrator-4B");
  router.spec.gatewayRef = api::GatewayRef{"shared", std::nullopt};
  router.spec.baseURL = "http://orchestrator.inference:8000/v1";
  router.spec.providerInterface = "openai";
  router.spec.passthroughAuth.reset();
  router.spec.accessKeySecretRef = api::SecretKeyRef{"router", "token"};
  router.metadata.creationTimestamp = "2026-01-03T00:00:00Z";
  c.providers.push_back(router);
  auto unresolved = plan_gateway(c.snapshot());
  EXPECT_FALSE(unresolved.apply);
  c.accept(unresolved);
  programmed = *find_condition(c.gw.status.conditions, "Programmed");
  EXPECT_NE(programmed.message.str().find("is accepted but not in the config"), std::string::npos) << programmed.message;

  c.secrets["platform/router"] = {{"token", "router-token-value"}};
  auto plan = plan_gateway(c.snapshot());
  ASSERT_TRUE(plan.apply);
  const auto config = plan.configMap["data"][kConfigKey].get<std::string>();
  EXPECT_NE(config.find("overrides:\n  llm_routing_model: \"vllm/katanemo/Plano-Orchestrator-4B\"\n"), std::string::npos) << config;
  c.accept(plan);
  EXPECT_EQ(find_condition(c.gw.status.conditions, "Programmed")->status, "True");

  // A tenant's older provider that held the router's model_id before the router was programmed keeps
  // it: the router is refused, the config held.
  auto squatter = provider("team-b", "squat", "openai/katanemo/Plano-Orchestrator-4B");
  squatter.spec.baseURL = "https://api.example.com/v1";
  squatter.metadata.creationTimestamp = "2025-12-01T00:00:00Z";
  c.providers[2].status = {};
  c.providers.push_back(squatter);
  auto refused = plan_gateway(c.snapshot());
  EXPECT_FALSE(refused.apply);
  c.accept(refused);
  programmed = *find_condition(c.gw.status.conditions, "Programmed");
  EXPECT_EQ(programmed.reason, "RoutingModelNotServed");
  EXPECT_NE(programmed.message.str().find("ModelProvider platform/router is refused"), std::string::npos) << programmed.message;
}

TEST(GatewayPlan, ARateLimitThatLimitsNothingIsSaidNotHeld) {
  Cluster c;
  c.gw.spec.rateLimits = {{"openai/gpt-4o", "x-team", "team-a", 1000, api::RateLimitUnit::Minute},
                          {"openai/gpt-4.1", "x-team", "team-a", 1000, api::RateLimitUnit::Minute}};
  auto plan = plan_gateway(c.snapshot());
  ASSERT_TRUE(plan.apply);
  c.accept(plan);
  const auto& programmed = *find_condition(c.gw.status.conditions, "Programmed");
  EXPECT_EQ(programmed.status, "True");
  EXPECT_EQ(programmed.message.str().find("spec.rateLimits[0]"), std::string::npos) << programmed.message;
  EXPECT_NE(programmed.message.str().find("spec.rateLimits[1].model: no provider in the gateway's config serves openai/gpt-4.1"),
            std::string::npos) << programmed.message;

  // Many are counted, not each quoted.
  for (int i = 0; i < 60; ++i) {
    c.gw.spec.rateLimits.push_back({"openai/gpt-4.1", "x-user", "user-" + std::to_string(i), 1000, api::RateLimitUnit::Minute});
  }
  c.accept(plan_gateway(c.snapshot()));
  const auto& many = find_condition(c.gw.status.conditions, "Programmed")->message.str();
  EXPECT_NE(many.find("spec.rateLimits[4].model"), std::string::npos) << many;
  EXPECT_EQ(many.find("spec.rateLimits[5].model"), std::string::npos) << many;
  EXPECT_NE(many.find("and 57 more spec.rateLimits limit nothing"), std::string::npos) << many;
}

// A gateway that loses the metrics a provider's preference needs leaves only that provider out
// (Plano would not start with it); the others keep being served, and it returns with the metrics.
TEST(GatewayPlan, AProviderWhosePreferenceLostItsMetricsIsLeftOutAlone) {
  Cluster c;
  c.gw.spec.modelMetrics = api::GatewayModelMetrics{api::GatewayCostMetrics{"models.dev", {}, 3600, {}}, std::nullopt};
  c.providers[1].spec.routingPreferences = {{"code", "writes code", api::SelectionPreference::Cheapest}};
  auto plan = plan_gateway(c.snapshot());
  ASSERT_TRUE(plan.apply);
  c.accept(plan);
  auto config = plan.configMap["data"][kConfigKey].get<std::string>();
  EXPECT_NE(config.find("prefer: cheapest"), std::string::npos) << config;
  EXPECT_NE(config.find("model_metrics_sources:"), std::string::npos) << config;
  EXPECT_EQ(c.condition("claude", "Programmed").status, "True");

  c.gw.spec.modelMetrics.reset();
  plan = plan_gateway(c.snapshot());
  ASSERT_TRUE(plan.apply);
  c.accept(plan);
  config = plan.configMap["data"][kConfigKey].get<std::string>();
  EXPECT_EQ(config.find("anthropic/claude-sonnet-4-5"), std::string::npos) << config;
  EXPECT_EQ(config.find("selection_policy"), std::string::npos) << config;
  const auto& refused = c.condition("claude", "Accepted");
  EXPECT_EQ(refused.status, "False");
  EXPECT_EQ(refused.reason, "NotAllowedByGateway");
  EXPECT_NE(refused.message.str().find("spec.modelMetrics.cost"), std::string::npos) << refused.message;
  EXPECT_EQ(c.condition("gpt4", "Programmed").status, "True");
}

TEST(GatewayPlan, OversizedConfigIsSharedSoTheFloodingNamespaceGivesWay) {
  Cluster c;
  c.gw.spec.allowedProviders.maxProvidersPerNamespace = 10000;  // a share too generous to stop the flood first
  for (int i = 0; i < 6000; ++i) {
    auto p = provider("team-c", "p" + std::to_string(i), "vllm/a-rather-long-model-name-for-sizing-" + std::to_string(i));
    p.spec.baseURL = "http://vllm-" + std::to_string(i) + ".inference.svc.cluster.local:8000/v1";
    p.spec.providerInterface = "openai";
    char created[32];
    std::snprintf(created, sizeof created, "2026-02-01T%02d:%02d:%02dZ", i / 3600, i / 60 % 60, i % 60);
    p.metadata.creationTimestamp = created;
    c.providers.push_back(p);
  }
  auto late = provider("team-d", "late", "vllm/after-the-flood");
  late.spec.baseURL = "http://vllm-late.team-d.svc.cluster.local:8000/v1";
  late.spec.providerInterface = "openai";
  late.metadata.creationTimestamp = "2026-03-01T00:00:00Z";
  c.providers.push_back(late);
  auto plan = plan_gateway(c.snapshot());
  ASSERT_TRUE(plan.apply) << "a flood must not freeze the gateway";
  const auto config = plan.configMap["data"][kConfigKey].get<std::string>();
  EXPECT_LE(config.size(), render::kMaxConfigBytes);
  // The other tenants' providers, the newest included, and the flood's oldest are served; the
  // flood's newest give way.
  EXPECT_NE(config.find("openai/gpt-4o"), std::string::npos);
  EXPECT_NE(config.find("anthropic/claude-sonnet-4-5"), std::string::npos);
  EXPECT_NE(config.find("vllm/after-the-flood"), std::string::npos);
  EXPECT_NE(config.find("sizing-0\""), std::string::npos);
  EXPECT_EQ(config.find("sizing-5999\""), std::string::npos);
  c.accept(plan);
  const auto* programmed = find_condition(c.gw.status.conditions, "Programmed");
  ASSERT_TRUE(programmed);
  EXPECT_EQ(programmed->status, "True");
  EXPECT_NE(programmed->message.str().find("provider(s) left out"), std::string::npos) << programmed->message;
  EXPECT_EQ(c.condition("p0", "Programmed").status, "True");
  EXPECT_EQ(c.condition("p5999", "Programmed").status, "False");
  EXPECT_EQ(c.condition("p5999", "Programmed").reason, "ConfigTooLarge");
  EXPECT_NE(c.condition("p5999", "Programmed").message.str().find("the namespaces with the most providers on the gateway give way"),
            std::string::npos);
  EXPECT_EQ(c.condition("late", "Programmed").status, "True");
  // acceptedProviders counts exactly the providers that are served.
  int served = 0;
  for (const auto& p : c.providers) served += c.condition(p.metadata.name, "Programmed").status == "True";
  EXPECT_EQ((*plan.gatewayStatus)["acceptedProviders"], served);
  EXPECT_GT(served, 2);
  EXPECT_LT(served, 6003);
}

TEST(GatewayPlan, ARefusedApplyIsReportedOnceAndKeepsTheRunningHash) {
  Cluster c;
  c.accept(plan_gateway(c.snapshot()));
  const auto running = c.gw.status.configHash;
  c.secrets["team-a/openai"]["api-key"] = "sk-rotated";
  auto plan = plan_gateway(c.snapshot());
  const auto failure = apply_failure(c.gw, plan, "the API server refused Deployment platform/shared-plano: bad", c.snapshot().now);
  c.gw.status = Cluster::decode_gateway_status(failure.status);
  const auto* programmed = find_condition(c.gw.status.conditions, "Programmed");
  ASSERT_TRUE(programmed);
  EXPECT_EQ(programmed->status, "False");
  EXPECT_EQ(programmed->reason, "ApplyFailed");
  EXPECT_NE(programmed->message.str().find("refused Deployment platform/shared-plano: bad"), std::string::npos);
  EXPECT_EQ(c.gw.status.configHash, running);
  ASSERT_TRUE(failure.event);
  EXPECT_EQ(failure.event->type, "Warning");
  EXPECT_EQ(failure.event->reason, "ApplyFailed");
  // The retry fails the same way: no second Event; another failure is news again.
  EXPECT_FALSE(apply_failure(c.gw, plan, "the API server refused Deployment platform/shared-plano: bad", c.snapshot().now).event);
  EXPECT_TRUE(apply_failure(c.gw, plan, "the API server refused Service platform/shared-plano: other", c.snapshot().now).event);
}

TEST(GatewayPlan, AKeyValueStartUpWouldBreakLeavesOnlyItsProviderOut) {
  Cluster c;
  c.secrets["team-a/openai"]["api-key"] = "abc: def";
  auto plan = plan_gateway(c.snapshot());
  c.accept(plan);
  ASSERT_TRUE(plan.apply);
  const auto config = plan.configMap["data"][kConfigKey].get<std::string>();
  EXPECT_EQ(config.find("openai/gpt-4o"), std::string::npos);
  EXPECT_NE(config.find("anthropic/claude-sonnet-4-5"), std::string::npos);
  EXPECT_TRUE(plan.keysSecret["data"].empty());
  EXPECT_EQ(c.condition("gpt4", "ResolvedRefs").reason, "InvalidKeyValue");
  EXPECT_EQ(c.condition("gpt4", "ResolvedRefs").message.str().find("abc: def"), std::string::npos);
  EXPECT_EQ(c.condition("claude", "Programmed").status, "True");
}

std::string pod_hash(const json& deployment) {
  return deployment["spec"]["template"]["metadata"]["annotations"][kConfigHashAnnotation].get<std::string>();
}

TEST(GatewayPlan, ChangesWithinTheRolloutIntervalWaitForItsEnd) {
  Cluster c;
  auto snap = c.snapshot();  // 12:00:00, the first rollout
  c.applied(plan_gateway(snap));
  const auto first = pod_hash(*c.deployment);
  // 10 s later a provider goes: the config changes now, the pods at 12:00:30.
  c.providers.pop_back();
  snap = c.snapshot();
  snap.now = "2026-11-27T12:00:10Z";
  auto held = plan_gateway(snap);
  ASSERT_TRUE(held.rolloutHeldUntil);
  EXPECT_EQ(to_rfc3339(*held.rolloutHeldUntil), "2026-11-27T12:00:30Z");
  EXPECT_EQ(pod_hash(held.deployment), first);
  EXPECT_EQ(held.configMap["data"][kConfigKey].get<std::string>().find("anthropic"), std::string::npos);
  ASSERT_TRUE(held.gatewayStatus);
  EXPECT_EQ((*held.gatewayStatus)["configHash"], first) << "the status tells what the pods run";
  c.applied(held);
  EXPECT_NE(find_condition(c.gw.status.conditions, "Programmed")->message.str().find("keep config"), std::string::npos);
  // At 12:00:30 the gathered change rolls, once.
  snap = c.snapshot();
  snap.now = "2026-11-27T12:00:30Z";
  auto rolled = plan_gateway(snap);
  EXPECT_FALSE(rolled.rolloutHeldUntil);
  EXPECT_NE(pod_hash(rolled.deployment), first);
  EXPECT_EQ(rolled.deployment["metadata"]["annotations"][kRolledAtAnnotation], "2026-11-27T12:00:30Z");
  c.applied(rolled);
  // 0s rolls on every change.
  c.gw.spec.deployment.minRolloutInterval = "0s";
  c.providers.pop_back();
  snap = c.snapshot();
  snap.now = "2026-11-27T12:00:31Z";
  EXPECT_FALSE(plan_gateway(snap).rolloutHeldUntil);
}

TEST(GatewayPlan, ARevokedKeyRollsAtOnceWhateverTheInterval) {
  Cluster c;
  c.applied(plan_gateway(c.snapshot()));
  const auto first = pod_hash(*c.deployment);
  c.secrets["team-a/openai"]["api-key"] = "sk-rotated";  // the owner rotates: the old key must stop being served
  auto snap = c.snapshot();
  snap.now = "2026-11-27T12:00:05Z";
  auto plan = plan_gateway(snap);
  EXPECT_FALSE(plan.rolloutHeldUntil);
  EXPECT_NE(pod_hash(plan.deployment), first);
  c.applied(plan);
  c.secrets.clear();  // the Secret is deleted
  snap = c.snapshot();
  snap.now = "2026-11-27T12:00:06Z";
  plan = plan_gateway(snap);
  EXPECT_FALSE(plan.rolloutHeldUntil);
  EXPECT_TRUE(plan.keysSecret["data"].empty());
}

TEST(GatewayPlan, MovingToAnotherSecretIsNoRevocationAndWaits) {
  // A tenant flapping between two Secrets of its own revokes nothing: the interval holds.
  Cluster c;
  c.secrets["team-a/openai-2"] = {{"api-key", "sk-second"}};
  c.applied(plan_gateway(c.snapshot()));
  c.providers[0].spec.accessKeySecretRef->name = "openai-2";
  auto snap = c.snapshot();
  snap.now = "2026-11-27T12:00:05Z";
  auto plan = plan_gateway(snap);
  EXPECT_TRUE(plan.rolloutHeldUntil);
  EXPECT_EQ(plan.keysSecret["metadata"]["annotations"][kKeySourcesAnnotation],
            json({{"PLANO_KEY_1_TEAM_A_OPENAI_2_API_KEY", "team-a/openai-2/api-key"}}).dump());
}

TEST(GatewayPlan, AProviderThatCannotServeHoldsNothingAndAWorkingOneKeepsWhatItHolds) {
  Cluster c;
  // An older provider of team-c claims openai/gpt-4o with a Secret that does not exist.
  auto squatter = provider("team-c", "squat", "openai/gpt-4o");
  squatter.spec.passthroughAuth.reset();
  squatter.spec.accessKeySecretRef = api::SecretKeyRef{"missing", "api-key"};
  squatter.metadata.creationTimestamp = "2025-01-01T00:00:00Z";
  c.providers.push_back(squatter);
  c.accept(plan_gateway(c.snapshot()));
  EXPECT_EQ(c.condition("gpt4", "Programmed").status, "True") << c.condition("gpt4", "Programmed").message;
  EXPECT_EQ(c.condition("squat", "Accepted").reason, "Conflict");
  // Its Secret appears: it can serve now, but the working provider keeps the model it serves.
  c.secrets["team-c/missing"] = {{"api-key", "sk-late"}};
  c.accept(plan_gateway(c.snapshot()));
  EXPECT_EQ(c.condition("gpt4", "Programmed").status, "True");
  EXPECT_EQ(c.condition("squat", "Accepted").reason, "Conflict");
  EXPECT_NE(c.condition("squat", "Accepted").message.str().find("held by ModelProvider/team-a/gpt4"), std::string::npos)
      << c.condition("squat", "Accepted").message;
}

// Which of Ready, Reconciling and Stalled is True, with its reason ("Stalled/Invalid"), or what is wrong.
std::string summary(const std::vector<api::Condition>& conditions, std::int64_t generation) {
  std::string out;
  for (const char* type : {"Ready", "Reconciling", "Stalled"}) {
    const auto* c = find_condition(conditions, type);
    if (!c) return std::string("no ") + type;
    if (c->observedGeneration != generation) return std::string(type) + " is from another generation";
    if (c->status == "True") out += (out.empty() ? "" : " and ") + std::string(type) + "/" + c->reason;
  }
  return out;
}
std::string summary(const api::PlanoGateway& gw) { return summary(gw.status.conditions, gw.metadata.generation); }
std::string summary(const api::ModelProvider& mp) { return summary(mp.status.conditions, mp.metadata.generation); }

// The Deployment `plan` applies, as the Deployment controller reports it once every pod is available.
json rolled_out(const GatewayPlan& plan) {
  auto d = plan.deployment;
  const auto replicas = d["spec"].value("replicas", 1);
  d["metadata"]["generation"] = 1;
  d["status"] = {{"observedGeneration", 1}, {"replicas", replicas}, {"availableReplicas", replicas}, {"updatedReplicas", replicas}};
  return d;
}

TEST(GatewayPlan, ReadyFollowsTheDeployment) {
  Cluster c;
  auto plan = plan_gateway(c.snapshot());
  c.accept(plan);
  EXPECT_EQ(summary(c.gw), "Reconciling/DeploymentNotAvailable");
  EXPECT_EQ(find_condition(c.gw.status.conditions, "Ready")->message, "the Deployment does not exist yet");
  // Mid-rollout: the new pod is available, the old one not yet gone (it still serves the old config).
  c.applied(plan);
  c.deployment = rolled_out(plan);
  (*c.deployment)["status"]["replicas"] = 2;
  c.accept(plan_gateway(c.snapshot()));
  EXPECT_EQ(summary(c.gw), "Reconciling/DeploymentNotAvailable");
  EXPECT_EQ(find_condition(c.gw.status.conditions, "Ready")->message, "1 replica(s) of the previous config still running");
  c.deployment = rolled_out(plan);
  c.accept(plan_gateway(c.snapshot()));
  EXPECT_EQ(summary(c.gw), "Ready/Available");
  // An old Deployment fully available is no Ready for a config it does not run yet (a rotated key
  // rolls at once).
  c.secrets["team-a/openai"]["api-key"] = "sk-rotated";
  c.accept(plan_gateway(c.snapshot()));
  EXPECT_EQ(summary(c.gw), "Reconciling/RollingOut");
}

TEST(GatewayPlan, AProviderWaitingOnThePodsIsNotRewrittenWhenAnotherChangeRollsAgain) {
  Cluster c;
  c.applied(plan_gateway(c.snapshot()));  // the pods never become available
  ASSERT_EQ(summary(c.providers[1]), "Reconciling/GatewayNotReady");
  // Another tenant's key rotates: a new config, a new rollout; claude's own state is unchanged.
  c.secrets["team-a/openai"]["api-key"] = "sk-rotated";
  const auto next = plan_gateway(c.snapshot());
  ASSERT_TRUE(next.gatewayStatus);
  for (const auto& change : next.providerStatuses) {
    EXPECT_NE(change.name, "claude") << "one tenant's change rewrote another's status: " << status_json(change.status).dump();
  }
}

TEST(GatewayPlan, SummaryConditionsSayWhatAPipelineWaitsForAndWhatNeedsAChange) {
  Cluster c;
  c.secrets.clear();  // gpt4's Secret is still to come
  auto plan = plan_gateway(c.snapshot());
  c.applied(plan);
  EXPECT_EQ(summary(c.providers[0]), "Reconciling/SecretNotFound");
  EXPECT_EQ(c.condition("gpt4", "Reconciling").message, "Secret team-a/openai does not exist");
  EXPECT_EQ(summary(c.providers[1]), "Reconciling/GatewayNotReady") << "in the config, not yet served";
  c.deployment = rolled_out(plan);
  c.accept(plan_gateway(c.snapshot()));
  EXPECT_EQ(summary(c.gw), "Ready/Available");
  EXPECT_EQ(summary(c.providers[1]), "Ready/Programmed");
  EXPECT_EQ(c.condition("claude", "Stalled").status, "False");
  // The Secret exists without the key: no wait fixes that.
  c.secrets["team-a/openai"] = {{"other", "x"}};
  c.accept(plan_gateway(c.snapshot()));
  EXPECT_EQ(summary(c.providers[0]), "Stalled/KeyNotFound");
  EXPECT_EQ(c.condition("gpt4", "Ready").reason, "KeyNotFound");
  // Refused: Stalled with the refusal (claude, serving, keeps the default gpt4 asks for too).
  c.providers[1].spec.default_ = true;
  c.secrets["team-a/openai"] = {{"api-key", "sk-x"}};
  c.accept(plan_gateway(c.snapshot()));
  EXPECT_EQ(summary(c.providers[0]), "Stalled/Conflict");
  EXPECT_NE(c.condition("gpt4", "Stalled").message.str().find("ModelProvider/team-b/claude"), std::string::npos)
      << c.condition("gpt4", "Stalled").message;
  // A gateway still to come is waited for.
  c.accept(plan_gateway(c.snapshot(false)));
  EXPECT_EQ(summary(c.providers[0]), "Reconciling/GatewayNotFound");
}

TEST(GatewayPlan, ARefusedGatewayIsStalledAndSoAreItsProviders) {
  Cluster c;
  c.gw.spec.listeners[0].port = 10000;
  c.accept(plan_gateway(c.snapshot()));
  EXPECT_EQ(summary(c.gw), "Stalled/Invalid");
  EXPECT_NE(find_condition(c.gw.status.conditions, "Stalled")->message.str().find("spec.listeners[0].port"), std::string::npos);
  EXPECT_EQ(find_condition(c.gw.status.conditions, "Reconciling")->reason, "Stalled");
  EXPECT_EQ(summary(c.providers[1]), "Stalled/GatewayNotProgrammed");
}

TEST(GatewayPlan, ARolloutThatCannotFinishOrIsRefusedIsStalled) {
  Cluster c;
  auto plan = plan_gateway(c.snapshot());
  c.applied(plan);
  c.deployment = rolled_out(plan);
  (*c.deployment)["status"]["availableReplicas"] = 0;
  (*c.deployment)["status"]["conditions"] = json::array(
      {{{"type", "Progressing"}, {"status", "False"}, {"reason", "ProgressDeadlineExceeded"},
        {"message", "ReplicaSet \"shared-plano-abc\" has timed out progressing."}}});
  c.accept(plan_gateway(c.snapshot()));
  EXPECT_EQ(summary(c.gw), "Stalled/ProgressDeadlineExceeded");
  EXPECT_NE(find_condition(c.gw.status.conditions, "Stalled")->message.str().find("timed out progressing"), std::string::npos);
  EXPECT_EQ(summary(c.providers[1]), "Stalled/GatewayNotReady") << "new in the config, and the pods never come";
  const auto failure = apply_failure(c.gw, plan, "the API server refused Deployment platform/shared-plano: bad", c.snapshot().now);
  c.gw.status = Cluster::decode_gateway_status(failure.status);
  EXPECT_EQ(summary(c.gw), "Stalled/ApplyFailed");
}

TEST(GatewayPlan, AHeldRolloutIsInProgressAndServedProvidersStayReady) {
  Cluster c;
  auto plan = plan_gateway(c.snapshot());
  c.applied(plan);
  c.deployment = rolled_out(plan);
  c.accept(plan_gateway(c.snapshot()));
  ASSERT_EQ(summary(c.providers[0]), "Ready/Programmed");
  // A new provider 10 s after the rollout waits for minRolloutInterval; the served ones are untouched.
  auto late = provider("team-b", "late", "mistral/mistral-large");
  late.metadata.creationTimestamp = "2026-01-03T00:00:00Z";
  c.providers.push_back(late);
  auto snap = c.snapshot();
  snap.now = "2026-11-27T12:00:10Z";
  auto held = plan_gateway(snap);
  ASSERT_TRUE(held.rolloutHeldUntil);
  ASSERT_EQ(held.providerStatuses.size(), 1u) << "only the new provider's status is written";
  c.accept(held);
  EXPECT_EQ(summary(c.gw), "Reconciling/RolloutHeld");
  EXPECT_NE(find_condition(c.gw.status.conditions, "Reconciling")->message.str().find("until 2026-11-27T12:00:30Z"), std::string::npos);
  EXPECT_EQ(summary(c.providers[2]), "Reconciling/GatewayNotReady");
  EXPECT_EQ(summary(c.providers[0]), "Ready/Programmed");
}

TEST(GatewayPlan, TransitionTimeMovesOnlyOnChange) {
  Cluster c;
  c.accept(plan_gateway(c.snapshot()));
  auto snap = c.snapshot();
  snap.now = "2026-11-27T13:00:00Z";
  c.accept(plan_gateway(snap));
  EXPECT_EQ(c.condition("gpt4", "Accepted").lastTransitionTime, "2026-11-27T12:00:00Z");
}

TEST(DesiredObjects, NeedsApply) {
  json desired = {{"data", {{"a", "1"}}}, {"metadata", {{"name", "x"}}}};
  json live = {{"data", {{"a", "1"}}}, {"metadata", {{"name", "x"}, {"resourceVersion", "5"}}}};
  EXPECT_FALSE(needs_apply(desired, &live));
  EXPECT_TRUE(needs_apply(desired, nullptr));
  live["data"]["b"] = "stale";
  EXPECT_TRUE(needs_apply(desired, &live));
  json spec = {{"spec", {{"ports", json::array({{{"port", 1}}})}}}};
  json spec_live = {{"spec", {{"ports", json::array({{{"port", 1}, {"nodePort", 3}}})}, {"clusterIP", "10.0.0.1"}}}};
  EXPECT_FALSE(needs_apply(spec, &spec_live));
  json empty = {{"data", json::object()}, {"metadata", {{"name", "x"}}}};
  json empty_live = {{"metadata", {{"name", "x"}}}};
  EXPECT_FALSE(needs_apply(empty, &empty_live)) << "the server drops empty data";
  spec_live["spec"]["ports"][0]["port"] = 2;
  EXPECT_TRUE(needs_apply(spec, &spec_live));
}

TEST(DesiredObjects, TheDeploymentStartsOfflineRollsWithoutLosingCapacityAndDrains) {
  auto gw = gateway();
  gw.spec.deployment.resourceRequests = api::kDefaultResourceRequests;
  gw.spec.deployment.resourceLimits = api::kDefaultResourceLimits;
  gw.spec.listeners[0].timeout = "10m";
  const auto d = desired_deployment(gw, "hash", "now");
  const auto& pod = d["spec"]["template"]["spec"];
  const auto& c = pod["containers"][0];
  EXPECT_EQ(c["env"][1], (json{{"name", "UV_NO_PROJECT"}, {"value", "1"}}));
  EXPECT_EQ(d["spec"]["strategy"]["rollingUpdate"], (json{{"maxUnavailable", 0}, {"maxSurge", 1}}));
  EXPECT_EQ(pod["terminationGracePeriodSeconds"], 630) << "10m + 30s";
  const auto& hook = c["lifecycle"]["preStop"]["exec"]["command"];
  EXPECT_EQ(hook[0], "python3");
  EXPECT_EQ(hook[3], "620") << "the hook stops waiting 10 s before the grace period ends";
  EXPECT_EQ(hook[4], "http://127.0.0.1:9901");
  EXPECT_EQ(c["readinessProbe"]["httpGet"]["path"], "/v1/models") << "through Envoy to brightstaff";
  EXPECT_EQ(c["livenessProbe"]["httpGet"]["path"], "/healthz") << "Envoy alone";
  EXPECT_EQ(c["resources"]["requests"], (json{{"cpu", "250m"}, {"memory", "256Mi"}, {"ephemeral-storage", "1Gi"}}));
  EXPECT_EQ(c["resources"]["limits"], (json{{"cpu", "1"}, {"memory", "512Mi"}}));
  EXPECT_EQ(c["volumeMounts"][1], (json{{"name", "logs"}, {"mountPath", "/var/log"}}));
  EXPECT_EQ(pod["volumes"][1]["emptyDir"]["sizeLimit"], "1Gi");
  EXPECT_EQ(pod["initContainers"][0]["volumeMounts"][0]["name"], "logs");

  gw.spec.deployment.terminationGracePeriodSeconds = 900;
  gw.spec.deployment.resourceLimits["ephemeral-storage"] = "2Gi";
  const auto custom = desired_deployment(gw, "hash", "now");
  EXPECT_EQ(custom["spec"]["template"]["spec"]["terminationGracePeriodSeconds"], 900);
  EXPECT_FALSE(custom["spec"]["template"]["spec"]["containers"][0]["resources"]["requests"].contains("ephemeral-storage"))
      << "Kubernetes takes the request from the limit; a larger request would be refused";
}

TEST(DesiredObjects, ADisruptionBudgetOnlyWithMoreThanOneReplica) {
  auto gw = gateway();
  EXPECT_FALSE(desired_disruption_budget(gw)) << "one replica: a budget would block every node drain";
  gw.spec.deployment.replicas = 3;
  const auto pdb = desired_disruption_budget(gw);
  ASSERT_TRUE(pdb);
  EXPECT_EQ((*pdb)["spec"]["maxUnavailable"], 1);
  EXPECT_EQ((*pdb)["spec"]["selector"]["matchLabels"], desired_deployment(gw, "h", "n")["spec"]["selector"]["matchLabels"]);
  EXPECT_EQ((*pdb)["metadata"]["ownerReferences"][0]["kind"], "PlanoGateway");
  gw.spec.deployment.podDisruptionBudget = false;
  EXPECT_FALSE(desired_disruption_budget(gw));
}

}  // namespace
}  // namespace plano::op
