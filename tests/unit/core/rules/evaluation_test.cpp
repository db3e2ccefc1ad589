#include "core/rules/evaluation.h"

#include <gtest/gtest.h>

#include <functional>
#include <set>

#include "core/rules/label_selector.h"
#include "core/rules/object_rules.h"
#include "tests/unit/test_objects.h"

namespace plano::rules {
namespace {

using plano::testing::dump;
using plano::testing::gateway;
using plano::testing::matching;
using plano::testing::provider;

struct World {
  std::vector<api::PlanoGateway> gateways{gateway()};
  std::vector<api::ModelProvider> providers;
  std::map<std::string, std::map<std::string, std::string>> labels;

  Evaluation run() {
    std::vector<const api::PlanoGateway*> g;
    for (auto& x : gateways) g.push_back(&x);
    std::vector<const api::ModelProvider*> p;
    for (auto& x : providers) p.push_back(&x);
    return evaluate(g, p, [this](const std::string& ns) -> std::optional<std::map<std::string, std::string>> {
      auto it = labels.find(ns);
      if (it == labels.end()) return std::nullopt;
      return it->second;
    });
  }
};

const ProviderVerdict& verdict(const Evaluation& e, const std::string& key) { return e.providers.at(key); }

TEST(Evaluation, AcceptsValidProviders) {
  World w;
  w.providers = {provider("team-a", "a", "openai/gpt-4o"), provider("team-b", "b", "anthropic/claude-sonnet-4-5")};
  w.providers[0].spec.default_ = true;
  auto e = w.run();
  EXPECT_TRUE(e.findings.empty()) << dump(e.findings);
  EXPECT_EQ(e.gateways.at("platform/shared").accepted.size(), 2u);
  EXPECT_TRUE(verdict(e, "team-a/a").accepted());
}

// The routing model is a provider the gateway names; until the gateway serves it, rendering would
// send every tenant's routed prompts to Plano's hosted router.
TEST(Evaluation, TheRoutingModelMustBeServedByTheGateway) {
  World w;
  w.gateways[0].spec.routing = api::GatewayRouting{{"router", std::nullopt}, std::nullopt};
  w.providers = {provider("team-a", "a", "openai/gpt-4o")};
  w.providers[0].spec.default_ = true;
  w.providers[0].spec.routingPreferences = {{"code", "writes code"}};
  auto problem = [&w] {
    auto e = w.run();
    const auto f = matching(e.findings, "spec.routing.modelProviderRef");
    EXPECT_LE(f.size(), 1u) << dump(e.findings);
    return f.empty() ? std::string() : f[0].message;
  };
  EXPECT_NE(problem().find("no ModelProvider platform/router attaches to this gateway"), std::string::npos) << problem();
  EXPECT_NE(problem().find("archfc.katanemo.dev"), std::string::npos) << "the consequence is said";

  w.providers.push_back(provider("platform", "router", "vllm/katanemo/Plano-Orchestrator-4B"));
  w.providers.back().spec.gatewayRef.name = "other";
  EXPECT_NE(problem().find("attaches to this gateway"), std::string::npos) << "attached to another gateway";

  w.providers.back().spec.gatewayRef.name = "shared";
  w.providers.back().spec.baseURL = "http://vllm.inference:8000/v1";
  w.providers.back().spec.providerInterface = "openai";
  EXPECT_EQ(problem(), "") << "served";
  const auto e = w.run();
  EXPECT_FALSE(has_error(e.findings)) << dump(e.findings);

  // A tenant's older provider holds the model_id first: the platform's provider is refused, and said so.
  auto squatter = provider("team-b", "squat", "openai/katanemo/Plano-Orchestrator-4B");
  squatter.spec.baseURL = "https://api.example.com/v1";
  w.providers.insert(w.providers.begin(), squatter);
  EXPECT_NE(problem().find("ModelProvider platform/router is refused: model_id katanemo/Plano-Orchestrator-4B is already served"),
            std::string::npos) << problem();
  EXPECT_NE(problem().find("team-b/squat"), std::string::npos) << "the holder is named to the platform: " << problem();

  w.providers.erase(w.providers.begin());
  w.providers.back().spec.model = "vllm/*";
  EXPECT_NE(problem().find("wildcard"), std::string::npos) << problem();
}

TEST(Evaluation, RoutingModelProblemSaysWhenAnAcceptedProviderIsNotInTheConfig) {
  auto gw = gateway();
  gw.spec.routing = api::GatewayRouting{{"router", std::string("platform")}, std::nullopt};
  auto router = provider("platform", "router", "openai/gpt-4o-mini");
  std::map<std::string, ProviderVerdict> verdicts{{"platform/router", ProviderVerdict{&router}}};
  EXPECT_EQ(routing_model_problem(gw, {&router}, verdicts), std::nullopt);
  const auto left_out = routing_model_problem(gw, {}, verdicts);
  ASSERT_TRUE(left_out);
  EXPECT_NE(left_out->find("accepted but not in the config"), std::string::npos) << *left_out;
  EXPECT_EQ(routing_model_problem(gateway(), {}, {}), std::nullopt) << "no spec.routing, nothing to serve";
}

// Plano compares the request's resolved model_id: a limit for a model no provider serves limits
// nothing, and one written with another prefix limits the provider of that model_id.
TEST(Evaluation, ARateLimitThatLimitsNothingIsAWarning) {
  World w;
  w.providers = {provider("team-a", "a", "openai/gpt-4o"), provider("team-b", "b", "anthropic/*")};
  w.providers[0].spec.default_ = true;
  auto& limits = w.gateways[0].spec.rateLimits;
  limits = {{"openai/gpt-4o", "x-team", "a", 10, api::RateLimitUnit::Minute},
            {"anthropic/claude-sonnet-4-5", "x-team", "a", 10, api::RateLimitUnit::Minute},
            {"openai/gpt-4.1", "x-team", "a", 10, api::RateLimitUnit::Minute},
            {"azure_openai/gpt-4o", "x-team", "b", 10, api::RateLimitUnit::Minute}};
  const auto e = w.run();
  EXPECT_FALSE(has_error(e.findings)) << dump(e.findings);
  EXPECT_TRUE(matching(e.findings, "spec.rateLimits[0].model").empty()) << "served";
  EXPECT_TRUE(matching(e.findings, "spec.rateLimits[1].model").empty()) << "served by the wildcard";
  const auto inert = matching(e.findings, "spec.rateLimits[2].model", "no provider in the gateway's config serves openai/gpt-4.1");
  ASSERT_EQ(inert.size(), 1u) << dump(e.findings);
  EXPECT_EQ(inert[0].severity, Severity::Warning);
  EXPECT_EQ(matching(e.findings, "spec.rateLimits[3].model", "applies to the provider of openai/gpt-4o").size(), 1u) << dump(e.findings);
}

TEST(Evaluation, MissingGatewayIsAWarning) {
  World w;
  w.providers = {provider("team-a", "a", "openai/gpt-4o")};
  w.providers[0].spec.gatewayRef.name = "nope";
  auto e = w.run();
  EXPECT_EQ(verdict(e, "team-a/a").reason, Reason::GatewayNotFound);
  auto f = matching(e.findings, "spec.gatewayRef", "platform/nope");
  ASSERT_EQ(f.size(), 1u) << dump(e.findings);
  EXPECT_EQ(f[0].severity, Severity::Warning);
  EXPECT_FALSE(has_error(e.findings));
}

TEST(Evaluation, GatewayRefNamespaceDefaultsToProviders) {
  World w;
  w.providers = {provider("platform", "a", "openai/gpt-4o")};
  w.providers[0].spec.gatewayRef.namespace_.reset();
  w.providers[0].spec.default_ = true;
  auto e = w.run();
  EXPECT_TRUE(verdict(e, "platform/a").accepted()) << dump(e.findings);
}

TEST(Evaluation, InvalidProviderIsNotAccepted) {
  World w;
  w.providers = {provider("team-a", "a", "gpt-4o")};
  auto e = w.run();
  EXPECT_EQ(verdict(e, "team-a/a").reason, Reason::Invalid);
  EXPECT_TRUE(e.gateways.at("platform/shared").accepted.empty());
  EXPECT_EQ(e.gateways.at("platform/shared").attached.size(), 1u);
}

// ---- rule 3, gateway policy ----

TEST(Evaluation, SameNamespacePolicy) {
  World w;
  w.gateways[0].spec.allowedProviders.from = api::NamespacesFrom::Same;
  w.providers = {provider("team-a", "a", "openai/gpt-4o"), provider("platform", "p", "openai/gpt-4o-mini")};
  auto e = w.run();
  EXPECT_EQ(verdict(e, "team-a/a").reason, Reason::NotAllowedByGateway);
  EXPECT_EQ(matching(e.findings, "spec.gatewayRef", "own namespace").size(), 1u) << dump(e.findings);
  EXPECT_TRUE(verdict(e, "platform/p").accepted());
}

TEST(Evaluation, SelectorPolicy) {
  World w;
  auto& allowed = w.gateways[0].spec.allowedProviders;
  allowed.from = api::NamespacesFrom::Selector;
  allowed.selector = api::LabelSelector{{{"tenant", "true"}}, {}};
  w.labels = {{"team-a", {{"tenant", "true"}}}, {"team-b", {}}};
  w.providers = {provider("team-a", "a", "openai/gpt-4o"), provider("team-b", "b", "openai/gpt-4o-mini"),
                 provider("team-c", "c", "openai/o3")};
  auto e = w.run();
  EXPECT_TRUE(verdict(e, "team-a/a").accepted());
  EXPECT_EQ(verdict(e, "team-b/b").reason, Reason::NotAllowedByGateway);
  EXPECT_NE(verdict(e, "team-b/b").message.find("does not match"), std::string::npos);
  EXPECT_EQ(verdict(e, "team-c/c").reason, Reason::NotAllowedByGateway);
  EXPECT_NE(verdict(e, "team-c/c").message.find("not known"), std::string::npos);
}

TEST(Evaluation, AuthModePolicy) {
  World w;
  w.gateways[0].spec.allowedProviders.authModes = {api::AuthMode::Passthrough};
  w.providers = {provider("team-a", "a", "openai/gpt-4o"), provider("team-b", "b", "openai/gpt-4o-mini")};
  w.providers[1].spec.passthroughAuth.reset();
  w.providers[1].spec.accessKeySecretRef = api::SecretKeyRef{"k", "v"};
  auto e = w.run();
  EXPECT_TRUE(verdict(e, "team-a/a").accepted());
  EXPECT_EQ(verdict(e, "team-b/b").reason, Reason::AuthModeNotAllowed);
  EXPECT_EQ(matching(e.findings, "spec.accessKeySecretRef", "does not allow auth mode AccessKey").size(), 1u);

  w.gateways[0].spec.allowedProviders.authModes = {api::AuthMode::AccessKey};
  e = w.run();
  EXPECT_EQ(verdict(e, "team-a/a").reason, Reason::AuthModeNotAllowed);
  EXPECT_EQ(verdict(e, "team-a/a").field, "spec.passthroughAuth");
  EXPECT_TRUE(verdict(e, "team-b/b").accepted());
}

// ---- rule 4, conflicts: the earlier provider wins ----

TEST(Evaluation, SecondDefaultLoses) {
  World w;
  w.providers = {provider("team-a", "a", "openai/gpt-4o"), provider("team-b", "b", "openai/gpt-4o-mini")};
  w.providers[0].spec.default_ = true;
  w.providers[1].spec.default_ = true;
  auto e = w.run();
  const auto& v = verdict(e, "team-b/b");
  EXPECT_EQ(v.reason, Reason::Conflict);
  EXPECT_EQ(v.field, "spec.default");
  ASSERT_TRUE(v.winner);
  EXPECT_EQ(v.winner->describe(), "ModelProvider/team-a/a");
  EXPECT_NE(describe(v).find("ModelProvider/team-a/a"), std::string::npos);
  EXPECT_EQ(v.message.find("team-a"), std::string::npos) << "the plain message must not name the other tenant";
}

TEST(Evaluation, DuplicateModelLoses) {
  World w;
  w.providers = {provider("team-a", "a", "openai/gpt-4o"), provider("team-b", "b", "openai/gpt-4o")};
  auto e = w.run();
  EXPECT_EQ(verdict(e, "team-b/b").reason, Reason::Conflict);
  EXPECT_TRUE(verdict(e, "team-a/a").accepted());
}

TEST(Evaluation, DuplicateModelIdLoses) {
  World w;
  w.providers = {provider("team-a", "a", "openai/gpt-4o"), provider("team-b", "b", "azure_openai/gpt-4o")};
  w.providers[1].spec.baseURL = "https://x.openai.azure.com";
  w.providers[1].spec.name = "azure";
  auto e = w.run();
  EXPECT_EQ(matching(e.findings, "spec.model", "model_id gpt-4o").size(), 1u) << dump(e.findings);
}

TEST(Evaluation, DuplicateNameLoses) {
  World w;
  w.providers = {provider("team-a", "a", "openai/gpt-4o"), provider("team-b", "b", "openai/gpt-4o-mini")};
  w.providers[0].spec.name = "chat";
  w.providers[1].spec.name = "chat";
  auto e = w.run();
  EXPECT_EQ(matching(e.findings, "spec.name", "\"chat\"").size(), 1u) << dump(e.findings);
}

// An alias is a name on the gateway: the later claimant loses, whether it claims the name as an
// alias or as its name, model or model_id, and the verdict names the holder.
TEST(Evaluation, AliasesShareOneSetOfNamesWithNamesModelsAndModelIds) {
  struct Case {
    const char* about;
    std::function<void(api::ModelProvider& first, api::ModelProvider& later)> set;
    const char* field;
    const char* phrase;
  };
  const std::vector<Case> cases = {
      {"alias vs alias", [](auto& a, auto& b) { a.spec.aliases = {"fast"}, b.spec.aliases = {"smart", "fast"}; },
       "spec.aliases[1]", "alias \"fast\" is already an alias"},
      {"alias vs name", [](auto& a, auto& b) { a.spec.name = "fast", b.spec.aliases = {"fast"}; },
       "spec.aliases[0]", "is already a provider name"},
      {"alias vs model", [](auto& a, auto& b) { a.spec.name = "chat", b.spec.aliases = {"openai/gpt-4o"}; },
       "spec.aliases[0]", "alias \"openai/gpt-4o\" is already a model"},
      {"alias vs model_id", [](auto&, auto& b) { b.spec.aliases = {"gpt-4o"}; }, "spec.aliases[0]", "is already a model"},
      {"name vs alias", [](auto& a, auto& b) { a.spec.aliases = {"fast"}, b.spec.name = "fast"; },
       "spec.name", "\"fast\" is already another provider's alias"},
      {"model vs alias", [](auto& a, auto&) { a.spec.aliases = {"anthropic/claude-sonnet-4-5"}; },
       "spec.model", "is already another provider's alias"},
      {"model_id vs alias", [](auto& a, auto&) { a.spec.aliases = {"claude-sonnet-4-5"}; },
       "spec.model", "\"claude-sonnet-4-5\" is already another provider's alias"},
  };
  for (const auto& c : cases) {
    World w;
    w.providers = {provider("team-a", "a", "openai/gpt-4o"), provider("team-b", "b", "anthropic/claude-sonnet-4-5")};
    c.set(w.providers[0], w.providers[1]);
    auto e = w.run();
    EXPECT_TRUE(verdict(e, "team-a/a").accepted()) << c.about << "\n" << dump(e.findings);
    const auto& lost = verdict(e, "team-b/b");
    EXPECT_EQ(lost.reason, Reason::Conflict) << c.about;
    ASSERT_TRUE(lost.winner) << c.about;
    EXPECT_EQ(lost.winner->describe(), "ModelProvider/team-a/a") << c.about;
    EXPECT_EQ(matching(e.findings, c.field, c.phrase).size(), 1u) << c.about << "\n" << dump(e.findings);
    EXPECT_EQ(e.gateways.at("platform/shared").accepted.size(), 1u) << c.about;
  }
}

TEST(Evaluation, DistinctAliasesAreAcceptedAndClaimed) {
  World w;
  w.providers = {provider("team-a", "a", "openai/gpt-4o"), provider("team-b", "b", "anthropic/claude-sonnet-4-5")};
  w.providers[0].spec.aliases = {"smart"};
  w.providers[1].spec.aliases = {"writer", "claude"};
  auto e = w.run();
  EXPECT_FALSE(has_error(e.findings)) << dump(e.findings);
  const auto& aliases = e.gateways.at("platform/shared").claims.aliases;
  EXPECT_EQ(aliases.size(), 3u);
  EXPECT_EQ(aliases.at("claude"), &w.providers[1]);
}

TEST(Evaluation, SameHostDifferentPortLoses) {
  World w;
  w.providers = {provider("team-a", "a", "vllm/llama"), provider("team-b", "b", "vllm/qwen")};
  w.providers[0].spec.baseURL = "http://gpu.internal:8000/v1";
  w.providers[1].spec.baseURL = "http://gpu.internal:8001/v1";
  for (auto& p : w.providers) p.spec.providerInterface = "openai";
  auto e = w.run();
  EXPECT_EQ(matching(e.findings, "spec.baseURL", "port 8000").size(), 1u) << dump(e.findings);
  // Same port shares one upstream, which is fine.
  w.providers[1].spec.baseURL = "http://gpu.internal:8000/v2";
  EXPECT_TRUE(w.run().providers.at("team-b/b").accepted());
  // A different interface makes a different upstream.
  w.providers[1].spec.baseURL = "http://gpu.internal:8001/v1";
  w.providers[1].spec.providerInterface = "mistral";
  EXPECT_TRUE(w.run().providers.at("team-b/b").accepted());
}

TEST(Evaluation, RoutingPreferenceNamesUniqueAcrossGateway) {
  World w;
  w.providers = {provider("team-a", "a", "openai/gpt-4o"), provider("team-b", "b", "openai/gpt-4o-mini")};
  w.providers[0].spec.routingPreferences = {{"code", "x"}};
  w.providers[1].spec.routingPreferences = {{"chat", "y"}, {"code", "z"}};
  auto e = w.run();
  EXPECT_EQ(matching(e.findings, "spec.routingPreferences[1].name", "\"code\"").size(), 1u) << dump(e.findings);
}

// One namespace's providers may share a preference (its models are theirs) when they agree on its
// description and prefer; another namespace may not use its name, which would pull that tenant's traffic.
TEST(Evaluation, ARoutingPreferenceIsSharedWithinANamespaceOnly) {
  World w;
  w.providers = {provider("team-a", "a", "openai/gpt-4o"), provider("team-a", "a2", "anthropic/claude-sonnet-4-5"),
                 provider("team-b", "b", "openai/gpt-4o-mini")};
  w.providers[0].spec.default_ = true;
  w.providers[0].spec.routingPreferences = {{"code", "writes code"}};
  w.providers[1].spec.routingPreferences = {{"code", "writes code"}};
  w.providers[2].spec.routingPreferences = {{"code", "writes code"}};
  auto e = w.run();
  EXPECT_TRUE(verdict(e, "team-a/a2").accepted()) << dump(e.findings);
  const auto& b = verdict(e, "team-b/b");
  EXPECT_EQ(b.reason, Reason::Conflict);
  EXPECT_EQ(b.field, "spec.routingPreferences[0].name");
  EXPECT_NE(b.message.find("by another namespace"), std::string::npos) << b.message;
  EXPECT_EQ(b.winner, ref_of(w.providers[0])) << "the holder is named";
  const auto& claim = e.gateways.at("platform/shared").claims.preferences.at("code");
  EXPECT_EQ(claim.namespace_, "team-a");
  EXPECT_EQ(claim.holders.size(), 2u);

  w.providers[1].spec.routingPreferences = {{"code", "writes and reviews code"}};
  e = w.run();
  EXPECT_EQ(verdict(e, "team-a/a2").field, "spec.routingPreferences[0].description");
  EXPECT_NE(verdict(e, "team-a/a2").message.find("with another description"), std::string::npos) << verdict(e, "team-a/a2").message;
  EXPECT_EQ(verdict(e, "team-a/a2").winner, ref_of(w.providers[0]));

  w.gateways[0].spec.modelMetrics = api::GatewayModelMetrics{api::GatewayCostMetrics{"models.dev", {}, {}, {}}, std::nullopt};
  w.providers[1].spec.routingPreferences = {{"code", "writes code", api::SelectionPreference::Cheapest}};
  e = w.run();
  EXPECT_EQ(verdict(e, "team-a/a2").field, "spec.routingPreferences[0].prefer");
  EXPECT_NE(verdict(e, "team-a/a2").message.find("with another prefer (None)"), std::string::npos) << verdict(e, "team-a/a2").message;
  w.providers[0].spec.routingPreferences[0].prefer = api::SelectionPreference::Cheapest;
  EXPECT_TRUE(verdict(w.run(), "team-a/a2").accepted());
}

// Plano refuses to start with prefer: cheapest and no cost source (fastest and no latency source):
// such a provider is refused, never rendered, and the rest of the gateway keeps working.
TEST(Evaluation, PreferringCheapestOrFastestNeedsTheGatewaysMetrics) {
  World w;
  w.providers = {provider("team-a", "a", "openai/gpt-4o"), provider("team-b", "b", "openai/gpt-4o-mini")};
  w.providers[0].spec.default_ = true;
  w.providers[1].spec.routingPreferences = {{"chat", "small talk"}, {"code", "writes code", api::SelectionPreference::Cheapest}};
  auto e = w.run();
  auto refused = verdict(e, "team-b/b");
  EXPECT_EQ(refused.reason, Reason::NotAllowedByGateway);
  EXPECT_EQ(refused.field, "spec.routingPreferences[1].prefer");
  EXPECT_NE(refused.message.find("no cost metrics (spec.modelMetrics.cost)"), std::string::npos) << refused.message;
  EXPECT_NE(refused.message.find("use prefer: None"), std::string::npos) << refused.message;
  EXPECT_TRUE(verdict(e, "team-a/a").accepted());
  EXPECT_EQ(e.gateways.at("platform/shared").accepted.size(), 1u);

  w.gateways[0].spec.modelMetrics = api::GatewayModelMetrics{api::GatewayCostMetrics{"models.dev", {}, {}, {}}, std::nullopt};
  EXPECT_TRUE(verdict(w.run(), "team-b/b").accepted());
  w.providers[1].spec.routingPreferences[1].prefer = api::SelectionPreference::Fastest;
  refused = verdict(w.run(), "team-b/b");
  EXPECT_EQ(refused.reason, Reason::NotAllowedByGateway);
  EXPECT_NE(refused.message.find("no latency metrics (spec.modelMetrics.latency)"), std::string::npos) << refused.message;
  w.gateways[0].spec.modelMetrics->latency = api::GatewayLatencyMetrics{"http://p:9090", "x", std::nullopt};
  EXPECT_TRUE(verdict(w.run(), "team-b/b").accepted());
}

TEST(Evaluation, ConflictsAreScopedToOneGateway) {
  World w;
  w.gateways.push_back(gateway("platform", "other"));
  w.providers = {provider("team-a", "a", "openai/gpt-4o"), provider("team-b", "b", "openai/gpt-4o")};
  w.providers[1].spec.gatewayRef.name = "other";
  auto e = w.run();
  EXPECT_TRUE(verdict(e, "team-b/b").accepted());
}

TEST(Evaluation, LoserDoesNotBlockOthers) {
  World w;
  w.providers = {provider("team-a", "a", "openai/gpt-4o"), provider("team-b", "b", "openai/gpt-4o"),
                 provider("team-c", "c", "openai/gpt-4o-mini")};
  w.providers[1].spec.default_ = true;  // b loses on model, so its default claim must not count
  w.providers[2].spec.default_ = true;
  auto e = w.run();
  EXPECT_EQ(verdict(e, "team-b/b").reason, Reason::Conflict);
  EXPECT_TRUE(verdict(e, "team-c/c").accepted());
}

TEST(Evaluation, WarnsWhenNoDefault) {
  World w;
  w.providers = {provider("team-a", "a", "openai/gpt-4o")};
  auto e = w.run();
  auto f = matching(e.findings, "spec", "default");
  ASSERT_EQ(f.size(), 1u);
  EXPECT_EQ(f[0].severity, Severity::Warning);
  EXPECT_EQ(f[0].object.kind, "PlanoGateway");
}

// a holds the default, its model, name and a routing preference; b and c share one upstream.
World world_with_every_claim() {
  World w;
  w.providers = {provider("team-a", "a", "openai/gpt-4o"), provider("team-b", "b", "vllm/llama"),
                 provider("team-c", "c", "vllm/qwen")};
  w.providers[0].spec.default_ = true;
  w.providers[0].spec.routingPreferences = {{"code", "x"}};
  for (auto i : {1, 2}) {
    w.providers[i].spec.baseURL = "http://gpu.internal:8000/v1";
    w.providers[i].spec.providerInterface = "openai";
  }
  return w;
}

// judge_next on a finished evaluation says of a provider exactly what evaluating everyone again
// with it last says: verdict, refusal message and winner, and its findings in order.
TEST(JudgeNext, SameAsEvaluatingWithTheProviderLast) {
  World w = world_with_every_claim();
  w.providers.push_back(provider("team-b", "loser", "openai/gpt-4o"));
  w.gateways[0].spec.allowedProviders.authModes = {api::AuthMode::Passthrough};

  std::vector<api::ModelProvider> candidates;
  candidates.push_back(provider("team-c", "fine", "openai/gpt-4.1"));
  candidates.push_back(provider("team-c", "invalid", "no-slash"));
  candidates.push_back(provider("team-c", "elsewhere", "openai/gpt-4.1"));
  candidates.back().spec.gatewayRef.name = "missing";
  candidates.push_back(provider("team-c", "keyed", "openai/gpt-4.1"));
  candidates.back().spec.passthroughAuth.reset();
  candidates.back().spec.accessKeySecretRef = api::SecretKeyRef{"s", "k"};
  candidates.push_back(provider("team-c", "second-default", "openai/gpt-4.1"));
  candidates.back().spec.default_ = true;
  candidates.push_back(provider("team-c", "same-model", "openai/gpt-4o"));
  candidates.push_back(provider("team-c", "same-model-id", "azure_openai/gpt-4o"));
  candidates.back().spec.baseURL = "https://x.openai.azure.com";
  candidates.push_back(provider("team-c", "same-name", "openai/gpt-4.1"));
  candidates.back().spec.name = "openai/gpt-4o";
  candidates.push_back(provider("team-c", "other-port", "vllm/mistral"));
  candidates.back().spec.baseURL = "http://gpu.internal:8001/v1";
  candidates.back().spec.providerInterface = "openai";
  candidates.push_back(provider("team-c", "same-preference", "openai/gpt-4.1"));
  candidates.back().spec.routingPreferences = {{"chat", "y"}, {"code", "z"}};
  candidates.push_back(provider("team-a", "shared-preference", "openai/gpt-4.1"));
  candidates.back().spec.routingPreferences = {{"code", "x"}};
  candidates.push_back(provider("team-a", "other-description", "openai/gpt-4.1"));
  candidates.back().spec.routingPreferences = {{"code", "y"}};
  candidates.push_back(provider("team-c", "cheapest-without-cost", "openai/gpt-4.1"));
  candidates.back().spec.routingPreferences = {{"chat", "y", api::SelectionPreference::Cheapest}};

  const auto before = w.run();
  const auto* gateway = &before.gateways.at("platform/shared");
  std::set<Reason> reasons;
  for (const auto& candidate : candidates) {
    World with_candidate = w;
    with_candidate.providers.push_back(candidate);
    const auto after = with_candidate.run();
    const auto key = api::key_of(candidate.metadata);
    const auto& expected = after.providers.at(key);
    std::vector<Finding> expected_findings;
    for (const auto& f : after.findings) {
      if (f.object == ref_of(candidate)) expected_findings.push_back(f);
    }
    const bool on_gateway = candidate.spec.gatewayRef.name == "shared";
    const auto j = judge_next(candidate, on_gateway ? gateway : nullptr, nullptr);
    EXPECT_EQ(j.verdict.reason, expected.reason) << key;
    EXPECT_EQ(j.verdict.field, expected.field) << key;
    EXPECT_EQ(j.verdict.message, expected.message) << key;
    EXPECT_EQ(j.verdict.winner, expected.winner) << key;
    EXPECT_EQ(dump(j.findings), dump(expected_findings)) << key;
    reasons.insert(expected.reason);
  }
  // Every kind of verdict was compared.
  EXPECT_EQ(reasons, (std::set<Reason>{Reason::Accepted, Reason::Invalid, Reason::GatewayNotFound,
                                        Reason::NotAllowedByGateway, Reason::AuthModeNotAllowed, Reason::Conflict}));
}

TEST(JudgeNext, ClaimsOfTheReplacedVersionDoNotCount) {
  World w = world_with_every_claim();
  const auto e = w.run();
  const auto* gateway = &e.gateways.at("platform/shared");
  // a, changed but keeping its model, default and preference, is not in its own way.
  auto a = w.providers[0];
  a.spec.routingPreferences = {{"code", "changed"}};
  const auto self = ref_of(a);
  EXPECT_TRUE(judge_next(a, gateway, nullptr, &self).verdict.accepted());
  EXPECT_EQ(judge_next(a, gateway, nullptr).verdict.reason, Reason::Conflict);
  // A preference two providers share: either may change it first (else neither could); the other,
  // newer one is then refused until it follows.
  World shared = world_with_every_claim();
  shared.providers.push_back(provider("team-a", "a2", "openai/gpt-4.1"));
  shared.providers.back().spec.routingPreferences = {{"code", "x"}};
  const auto shared_run = shared.run();
  const auto* shared_gateway = &shared_run.gateways.at("platform/shared");
  auto a2 = shared.providers.back();
  a2.spec.routingPreferences = {{"code", "changed"}};
  const auto a2_self = ref_of(a2);
  EXPECT_TRUE(judge_next(a2, shared_gateway, nullptr, &a2_self).verdict.accepted());
  shared.providers.back() = a2;
  EXPECT_EQ(shared.run().providers.at("team-a/a2").field, "spec.routingPreferences[0].description");
  // b moving its shared upstream to another port meets c, which still holds it on 8000.
  auto b = w.providers[1];
  b.spec.baseURL = "http://gpu.internal:9000/v1";
  const auto b_self = ref_of(b);
  const auto j = judge_next(b, gateway, nullptr, &b_self);
  EXPECT_EQ(j.verdict.reason, Reason::Conflict);
  EXPECT_EQ(j.verdict.field, "spec.baseURL");
  EXPECT_EQ(j.verdict.winner, ref_of(w.providers[2]));
}

TEST(Evaluation, MarksGatewaysWithConflicts) {
  World w;
  w.providers = {provider("team-a", "a", "openai/gpt-4o")};
  w.providers[0].spec.default_ = true;
  EXPECT_FALSE(w.run().gateways.at("platform/shared").conflicts);
  w.providers.push_back(provider("team-b", "b", "openai/gpt-4o"));
  EXPECT_TRUE(w.run().gateways.at("platform/shared").conflicts);
}

TEST(Evaluation, ByAgeOrdersOldestFirst) {
  auto a = provider("team-b", "a", "openai/x");
  auto b = provider("team-a", "b", "openai/y");
  auto c = provider("team-a", "c", "openai/z");
  a.metadata.creationTimestamp = "2026-01-02T00:00:00Z";
  b.metadata.creationTimestamp = "2026-01-02T00:00:00Z";
  c.metadata.creationTimestamp = "2026-01-01T00:00:00Z";
  std::vector<const api::ModelProvider*> v{&a, &b, &c};
  by_age(v);
  EXPECT_EQ(v[0], &c);
  EXPECT_EQ(v[1], &b);  // same age: namespace/name decides
  EXPECT_EQ(v[2], &a);
}

// A copy of a provider that keeps only the conditions read_by_rules names serves and is programmed
// exactly as the provider does, whatever its conditions say.
TEST(Evaluation, TheConditionsTheRulesReadDecideServingAndProgrammed) {
  const std::vector<api::Condition> possible = {{"ResolvedRefs", "True", 1, "t", "Resolved", "m"},
                                                {"ResolvedRefs", "False", 1, "t", "SecretNotFound", "m"},
                                                {"Programmed", "True", 1, "t", "Programmed", "m"},
                                                {"Programmed", "False", 1, "t", "NotAccepted", "m"},
                                                {"Accepted", "False", 1, "t", "Conflict", "m"},
                                                {"Ready", "True", 1, "t", "Ready", "m"}};
  int kept_some = 0;
  for (unsigned subset = 0; subset < (1u << possible.size()); ++subset) {
    auto mp = provider("team-b", "p", "openai/x");
    for (std::size_t i = 0; i < possible.size(); ++i) {
      if (subset & (1u << i)) mp.status.conditions.push_back(possible[i]);
    }
    auto copy = mp;
    std::erase_if(copy.status.conditions, [](const api::Condition& c) { return !read_by_rules(c); });
    kept_some += copy.status.conditions.empty() ? 0 : 1;
    EXPECT_EQ(can_serve(copy), can_serve(mp)) << subset;
    EXPECT_EQ(is_programmed(copy), is_programmed(mp)) << subset;
  }
  EXPECT_GT(kept_some, 0);
}

TEST(LabelSelector, Semantics) {
  api::LabelSelector s{{{"a", "1"}}, {{"b", "In", {"x", "y"}}, {"c", "DoesNotExist", {}}, {"d", "Exists", {}}}};
  EXPECT_TRUE(matches(s, {{"a", "1"}, {"b", "x"}, {"d", ""}}));
  EXPECT_FALSE(matches(s, {{"a", "2"}, {"b", "x"}, {"d", ""}}));
  EXPECT_FALSE(matches(s, {{"a", "1"}, {"b", "z"}, {"d", ""}}));
  EXPECT_FALSE(matches(s, {{"a", "1"}, {"b", "x"}, {"c", ""}, {"d", ""}}));
  EXPECT_FALSE(matches(s, {{"a", "1"}, {"b", "x"}}));
  api::LabelSelector notin{{}, {{"env", "NotIn", {"prod"}}}};
  EXPECT_TRUE(matches(notin, {}));
  EXPECT_FALSE(matches(notin, {{"env", "prod"}}));
  EXPECT_TRUE(matches(api::LabelSelector{}, {}));
}

TEST(Evaluation, ANamespaceGetsAtMostItsShareOfTheGateway) {
  World w;
  w.gateways[0].spec.allowedProviders.maxProvidersPerNamespace = 2;
  for (int i = 0; i < 3; ++i) w.providers.push_back(provider("team-b", "p" + std::to_string(i), "openai/m" + std::to_string(i)));
  w.providers.push_back(provider("team-c", "c0", "openai/c0"));
  auto e = w.run();
  EXPECT_TRUE(verdict(e, "team-b/p0").accepted());
  EXPECT_TRUE(verdict(e, "team-b/p1").accepted());
  const auto& third = verdict(e, "team-b/p2");
  EXPECT_EQ(third.reason, Reason::NotAllowedByGateway);
  EXPECT_EQ(third.field, "spec.gatewayRef");
  EXPECT_NE(third.message.find("at most 2 providers from each namespace"), std::string::npos) << third.message;
  EXPECT_TRUE(verdict(e, "team-c/c0").accepted()) << "another namespace keeps its own share";
  // An update of a provider already counted is judged without its earlier version.
  const ObjectRef self{api::kProviderKind, "team-b", "p1"};
  auto changed = w.providers[1];
  changed.spec.model = "openai/m1-changed";
  EXPECT_TRUE(judge_next(changed, &e.gateways.at("platform/shared"), nullptr, &self).verdict.accepted());
}

}  // namespace
}  // namespace plano::rules
