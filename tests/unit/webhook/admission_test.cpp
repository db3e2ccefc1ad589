#include "webhook/admission.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <regex>
#include <set>
#include <sstream>

#include "core/metrics/registry.h"
#include "core/render/renderer.h"
#include "tests/unit/test_objects.h"
#include "webhook/webhook_server.h"

namespace plano::webhook {
namespace {

using nlohmann::json;
using plano::testing::gateway;
using plano::testing::provider;

struct Cluster {
  api::PlanoGateway gw = gateway();
  std::vector<api::ModelProvider> providers;
  Cluster() {
    auto a = provider("team-a", "gpt4", "openai/gpt-4o");
    a.spec.default_ = true;
    a.spec.accessKeySecretRef = api::SecretKeyRef{"team-a-openai-secret", "api-key"};
    a.spec.passthroughAuth.reset();
    a.metadata.creationTimestamp = "2026-01-01T00:00:00Z";
    providers.push_back(a);
  }
  // Like the webhook's cache: everything known, whatever gateway is asked for (review filters).
  ClusterLookup view() {
    return [this](const std::string& key) {
      std::vector<std::shared_ptr<const api::ModelProvider>> known;
      for (auto& p : providers) known.push_back(std::make_shared<const api::ModelProvider>(p));
      return make_view(key, {std::make_shared<const api::PlanoGateway>(gw)}, known,
                       [](const std::string&) { return std::map<std::string, std::string>{}; });
    };
  }
};

json provider_object(const std::string& ns, const std::string& name, json spec) {
  return {{"apiVersion", "plano-operator.io/v1alpha1"}, {"kind", "ModelProvider"},
          {"metadata", {{"name", name}, {"namespace", ns}}}, {"spec", spec}};
}

std::string request(const std::string& kind, const std::string& op, const json& object, const std::string& ns,
                    bool dry_run = false) {
  json r = {{"apiVersion", "admission.k8s.io/v1"},
            {"kind", "AdmissionReview"},
            {"request",
             {{"uid", "req-123"},
              {"kind", {{"group", "plano-operator.io"}, {"version", "v1alpha1"}, {"kind", kind}}},
              {"operation", op},
              {"namespace", ns},
              {"name", object.is_object() && object.contains("metadata") && object["metadata"].is_object() &&
                               object["metadata"].contains("name") ? object["metadata"]["name"] : json("")},
              {"object", object},
              {"dryRun", dry_run}}}};
  return r.dump();
}

// Every user may read every Secret; the tests of that check give their own answer.
AdmissionOutcome review(const std::string& body, const ClusterLookup& cluster) {
  return webhook::review(body, cluster, [](const json&, const std::string&, const std::string&) { return true; });
}

const json gpt4o_mini = {{"gatewayRef", {{"name", "shared"}, {"namespace", "platform"}}},
                         {"model", "openai/gpt-4o-mini"},
                         {"passthroughAuth", true}};

TEST(Admission, AllowsAValidProviderAndEchoesUid) {
  Cluster c;
  auto out = review(request("ModelProvider", "CREATE", provider_object("team-b", "mini", gpt4o_mini), "team-b"), c.view());
  EXPECT_EQ(out.httpStatus, 200);
  EXPECT_EQ(out.body["response"]["uid"], "req-123");
  EXPECT_EQ(out.body["response"]["allowed"], true);
  EXPECT_EQ(out.verdict, "allowed");
  EXPECT_EQ(out.kind, "ModelProvider");
}

TEST(Admission, DeniesKeyWithPassthroughNamingTheField) {
  Cluster c;
  auto spec = gpt4o_mini;
  spec["accessKeySecretRef"] = {{"name", "s"}, {"key", "k"}};
  auto out = review(request("ModelProvider", "CREATE", provider_object("team-b", "mini", spec), "team-b"), c.view());
  EXPECT_EQ(out.body["response"]["allowed"], false);
  EXPECT_EQ(out.body["response"]["status"]["code"], 422);
  const auto msg = out.body["response"]["status"]["message"].get<std::string>();
  EXPECT_NE(msg.find("spec.accessKeySecretRef: must not be set together with passthroughAuth"), std::string::npos) << msg;
  EXPECT_EQ(out.verdict, "denied");
}

TEST(Admission, ListsEveryFinding) {
  Cluster c;
  json spec = {{"gatewayRef", {{"name", "shared"}, {"namespace", "platform"}}}, {"model", "vllm/x"}, {"passthrough_auth", true}};
  auto out = review(request("ModelProvider", "CREATE", provider_object("team-b", "x", spec), "team-b"), c.view());
  const auto msg = out.body["response"]["status"]["message"].get<std::string>();
  EXPECT_NE(msg.find("spec.passthrough_auth: unknown field; did you mean \"passthroughAuth\""), std::string::npos) << msg;
}

TEST(Admission, DeniesAccessKeyOnPassthroughOnlyGateway) {
  Cluster c;
  c.gw.spec.allowedProviders.authModes = {api::AuthMode::Passthrough};
  json spec = {{"gatewayRef", {{"name", "shared"}, {"namespace", "platform"}}}, {"model", "openai/o3"},
               {"accessKeySecretRef", {{"name", "mine"}, {"key", "k"}}}};
  auto out = review(request("ModelProvider", "CREATE", provider_object("team-b", "o3", spec), "team-b"), c.view());
  EXPECT_EQ(out.body["response"]["allowed"], false);
  EXPECT_NE(out.body["response"]["status"]["message"].get<std::string>().find("does not allow auth mode AccessKey"), std::string::npos);
}

TEST(Admission, DeniesNamespaceTheGatewayDoesNotAllow) {
  Cluster c;
  c.gw.spec.allowedProviders.from = api::NamespacesFrom::Same;
  auto out = review(request("ModelProvider", "CREATE", provider_object("team-b", "mini", gpt4o_mini), "team-b"), c.view());
  EXPECT_EQ(out.body["response"]["allowed"], false);
  EXPECT_NE(out.body["response"]["status"]["message"].get<std::string>().find("spec.gatewayRef"), std::string::npos);
}

TEST(Admission, ConflictWithAnotherTenantNamesTheHolderButNoSecret) {
  Cluster c;
  auto spec = gpt4o_mini;
  spec["default"] = true;
  auto out = review(request("ModelProvider", "CREATE", provider_object("team-b", "mini", spec), "team-b"), c.view());
  EXPECT_EQ(out.body["response"]["allowed"], false);
  const auto msg = out.body["response"]["status"]["message"].get<std::string>();
  EXPECT_NE(msg.find("spec.default: another provider is already the default"), std::string::npos) << msg;
  EXPECT_NE(msg.find("held by ModelProvider/team-a/gpt4"), std::string::npos) << "the tenant knows whom to ask: " << msg;
  EXPECT_EQ(msg.find("team-a-openai-secret"), std::string::npos) << msg;
}

TEST(Admission, ConflictWithinOwnNamespaceNamesTheWinner) {
  Cluster c;
  json spec = {{"gatewayRef", {{"name", "shared"}, {"namespace", "platform"}}}, {"model", "azure_openai/gpt-4o"},
               {"baseURL", "https://x.openai.azure.com"}, {"name", "azure"}, {"passthroughAuth", true}};
  auto out = review(request("ModelProvider", "CREATE", provider_object("team-a", "azure", spec), "team-a"), c.view());
  const auto msg = out.body["response"]["status"]["message"].get<std::string>();
  EXPECT_NE(msg.find("model_id gpt-4o"), std::string::npos) << msg;
  EXPECT_NE(msg.find("ModelProvider/team-a/gpt4"), std::string::npos) << msg;
}

TEST(Admission, AliasConflictsNameTheHolderBothWays) {
  Cluster c;
  c.providers[0].spec.aliases = {"smart"};
  auto spec = gpt4o_mini;
  spec["aliases"] = {"fast", "smart"};
  auto out = review(request("ModelProvider", "CREATE", provider_object("team-b", "mini", spec), "team-b"), c.view());
  EXPECT_EQ(out.body["response"]["allowed"], false) << out.body.dump();
  auto msg = out.body["response"]["status"]["message"].get<std::string>();
  EXPECT_NE(msg.find("spec.aliases[1]: alias \"smart\" is already an alias on gateway platform/shared"), std::string::npos) << msg;
  EXPECT_NE(msg.find("held by ModelProvider/team-a/gpt4"), std::string::npos) << msg;
  // And the other way: a newcomer whose model_id is already someone's alias.
  c.providers[0].spec.aliases = {"gpt-4o-mini"};
  out = review(request("ModelProvider", "CREATE", provider_object("team-b", "mini", gpt4o_mini), "team-b"), c.view());
  msg = out.body["response"]["status"]["message"].get<std::string>();
  EXPECT_NE(msg.find("spec.model: \"gpt-4o-mini\" is already another provider's alias"), std::string::npos) << msg;
  EXPECT_NE(msg.find("held by ModelProvider/team-a/gpt4"), std::string::npos) << msg;
}

// An update that adds an alias claims something new, so it is judged as the newest, not in place.
TEST(Admission, UpdateAddingAnAliasAnotherHoldsIsRefused) {
  Cluster c;
  c.providers[0].spec.aliases = {"smart"};
  auto b = provider("team-b", "mini", "openai/gpt-4o-mini");
  b.metadata.creationTimestamp = "2025-01-01T00:00:00Z";
  b.status.conditions = {{"Programmed", "True", 1, "", "Programmed", ""}};
  c.providers.push_back(b);
  auto spec = gpt4o_mini;
  spec["aliases"] = {"smart"};
  auto out = review(request("ModelProvider", "UPDATE", provider_object("team-b", "mini", spec), "team-b"), c.view());
  EXPECT_EQ(out.body["response"]["allowed"], false) << out.body.dump();
  EXPECT_NE(out.body["response"]["status"]["message"].get<std::string>().find("alias \"smart\""), std::string::npos);
}

TEST(Admission, UpdateNeverConflictsWithItsOwnOlderVersion) {
  Cluster c;
  json spec = {{"gatewayRef", {{"name", "shared"}, {"namespace", "platform"}}}, {"model", "openai/gpt-4o"},
               {"accessKeySecretRef", {{"name", "rotated"}, {"key", "api-key"}}}, {"default", true}};
  auto out = review(request("ModelProvider", "UPDATE", provider_object("team-a", "gpt4", spec), "team-a"), c.view());
  EXPECT_EQ(out.body["response"]["allowed"], true) << out.body.dump();
}

TEST(Admission, UpdateCannotTakeAValueAnotherProviderHolds) {
  Cluster c;
  auto b = provider("team-b", "mini", "openai/gpt-4o-mini");
  b.metadata.creationTimestamp = "2025-01-01T00:00:00Z";  // older than gpt4, and wants to become default
  c.providers.push_back(b);
  auto spec = gpt4o_mini;
  spec["default"] = true;
  auto out = review(request("ModelProvider", "UPDATE", provider_object("team-b", "mini", spec), "team-b"), c.view());
  EXPECT_EQ(out.body["response"]["allowed"], false) << out.body.dump();
}

// gpt4 holds openai/gpt-4o, so an older claim keeps "dup" out; gpt4 then lets go of the model and
// asks for dup's routing preference. Without gpt4's earlier version dup would be in and hold it.
TEST(Admission, UpdateIsJudgedAsIfItsEarlierVersionHadNeverBeen) {
  Cluster c;
  auto dup = provider("team-b", "dup", "openai/gpt-4o");
  dup.metadata.creationTimestamp = "2026-02-01T00:00:00Z";
  dup.spec.routingPreferences = {{"quick", "short answers"}};
  c.providers.push_back(dup);
  json spec = {{"gatewayRef", {{"name", "shared"}, {"namespace", "platform"}}}, {"model", "openai/gpt-4.1"},
               {"accessKeySecretRef", {{"name", "team-a-openai-secret"}, {"key", "api-key"}}}, {"default", true},
               {"routingPreferences", json::array({{{"name", "quick"}, {"description", "mine now"}}})}};
  auto out = review(request("ModelProvider", "UPDATE", provider_object("team-a", "gpt4", spec), "team-a"), c.view());
  EXPECT_EQ(out.body["response"]["allowed"], false) << out.body.dump();
  const auto msg = out.body["response"]["status"]["message"].get<std::string>();
  EXPECT_NE(msg.find("routing preference \"quick\" is already defined"), std::string::npos) << msg;
}

// Two providers share one upstream (same interface, host and port); the older moving to another
// port would split it, which the other, still there, keeps on the old port.
TEST(Admission, UpdateMovingASharedUpstreamToAnotherPortIsRefused) {
  Cluster c;
  auto upstream_user = [](const std::string& ns, const std::string& name, const std::string& created) {
    auto p = provider(ns, name, "custom/" + name);
    p.spec.baseURL = "http://vllm.inference.svc:8000/v1";
    p.spec.providerInterface = "openai";
    p.metadata.creationTimestamp = created;
    return p;
  };
  c.providers.push_back(upstream_user("team-c", "first", "2026-01-02T00:00:00Z"));
  c.providers.push_back(upstream_user("team-c", "second", "2026-01-03T00:00:00Z"));
  json spec = {{"gatewayRef", {{"name", "shared"}, {"namespace", "platform"}}}, {"model", "custom/first"},
               {"baseURL", "http://vllm.inference.svc:9000/v1"}, {"providerInterface", "openai"}, {"passthroughAuth", true}};
  auto out = review(request("ModelProvider", "UPDATE", provider_object("team-c", "first", spec), "team-c"), c.view());
  EXPECT_EQ(out.body["response"]["allowed"], false) << out.body.dump();
  const auto msg = out.body["response"]["status"]["message"].get<std::string>();
  EXPECT_NE(msg.find("spec.baseURL: another provider"), std::string::npos) << msg;
  EXPECT_NE(msg.find("ModelProvider/team-c/second"), std::string::npos) << msg;
}

TEST(Admission, DryRunGetsTheSameVerdict) {
  Cluster c;
  auto spec = gpt4o_mini;
  spec["default"] = true;
  auto wet = review(request("ModelProvider", "CREATE", provider_object("team-b", "mini", spec), "team-b"), c.view());
  auto dry = review(request("ModelProvider", "CREATE", provider_object("team-b", "mini", spec), "team-b", true), c.view());
  EXPECT_EQ(wet.body, dry.body);
}

TEST(Admission, MissingGatewayIsAWarning) {
  Cluster c;
  auto spec = gpt4o_mini;
  spec["gatewayRef"]["name"] = "later";
  auto out = review(request("ModelProvider", "CREATE", provider_object("team-b", "mini", spec), "team-b"), c.view());
  EXPECT_EQ(out.body["response"]["allowed"], true);
  ASSERT_TRUE(out.body["response"].contains("warnings"));
  EXPECT_NE(out.body["response"]["warnings"][0].get<std::string>().find("does not exist"), std::string::npos);
}

TEST(Admission, GatewayNarrowingAuthModesWarnsListingProviders) {
  Cluster c;
  json gw = {{"apiVersion", "plano-operator.io/v1alpha1"}, {"kind", "PlanoGateway"},
             {"metadata", {{"name", "shared"}, {"namespace", "platform"}}},
             {"spec", {{"listeners", json::array({{{"name", "llm"}, {"type", "model"}, {"port", 12000}}})},
                       {"allowedProviders", {{"namespaces", {{"from", "All"}}}, {"authModes", json::array({"Passthrough"})}}}}}};
  auto out = review(request("PlanoGateway", "UPDATE", gw, "platform"), c.view());
  EXPECT_EQ(out.body["response"]["allowed"], true);
  ASSERT_TRUE(out.body["response"].contains("warnings")) << out.body.dump();
  const auto w = out.body["response"]["warnings"][0].get<std::string>();
  EXPECT_NE(w.find("team-a/gpt4 (AuthModeNotAllowed)"), std::string::npos) << w;
}

// What a gateway refers to among its providers may be applied after it (GitOps, any order): said,
// never refused.
TEST(Admission, AGatewayWhoseRoutingModelOrRateLimitIsNotServedIsAdmittedWithWarnings) {
  Cluster c;
  json gw = {{"apiVersion", "plano-operator.io/v1alpha1"}, {"kind", "PlanoGateway"},
             {"metadata", {{"name", "shared"}, {"namespace", "platform"}}},
             {"spec", {{"listeners", json::array({{{"name", "llm"}, {"type", "model"}, {"port", 12000}}})},
                       {"allowedProviders", {{"namespaces", {{"from", "All"}}}}},
                       {"routing", {{"modelProviderRef", {{"name", "gpt4"}, {"namespace", "team-a"}}}}},
                       {"rateLimits", json::array({{{"model", "openai/gpt-4.1"}, {"selector", {{"key", "x-team"}, {"value", "a"}}},
                                                    {"limit", {{"tokens", 10}, {"unit", "minute"}}}}})}}}};
  auto out = review(request("PlanoGateway", "UPDATE", gw, "platform"), c.view());
  EXPECT_EQ(out.body["response"]["allowed"], true) << out.body.dump();
  auto warnings = out.body["response"].value("warnings", json::array()).dump();
  EXPECT_EQ(warnings.find("spec.routing"), std::string::npos) << "team-a/gpt4 is served: " << warnings;
  EXPECT_NE(warnings.find("spec.rateLimits[0].model: no provider in the gateway's config serves openai/gpt-4.1"), std::string::npos)
      << warnings;
  gw["spec"]["routing"]["modelProviderRef"]["name"] = "router";
  out = review(request("PlanoGateway", "UPDATE", gw, "platform"), c.view());
  EXPECT_EQ(out.body["response"]["allowed"], true) << out.body.dump();
  warnings = out.body["response"].value("warnings", json::array()).dump();
  EXPECT_NE(warnings.find("spec.routing.modelProviderRef: no ModelProvider team-a/router attaches to this gateway"), std::string::npos)
      << warnings;
  EXPECT_NE(warnings.find("until it is served, the gateway keeps its last config"), std::string::npos) << warnings;
}

// A provider preferring cheapest on a gateway without cost metrics is refused with the field named;
// a gateway change that removes the metrics a provider relies on is admitted, saying whom it drops
// (the operator then refuses those providers, and the others keep running).
TEST(Admission, PreferringCheapestNeedsTheGatewaysCostMetrics) {
  Cluster c;
  json cheapest = gpt4o_mini;
  cheapest["routingPreferences"] = json::array({{{"name", "code"}, {"description", "writes code"}, {"prefer", "Cheapest"}}});
  auto out = review(request("ModelProvider", "CREATE", provider_object("team-b", "mini", cheapest), "team-b"), c.view());
  EXPECT_EQ(out.body["response"]["allowed"], false) << out.body.dump();
  EXPECT_NE(out.body["response"]["status"]["message"].get<std::string>().find(
                "spec.routingPreferences[0].prefer: gateway platform/shared has no cost metrics"),
            std::string::npos)
      << out.body.dump();

  c.gw.spec.modelMetrics = api::GatewayModelMetrics{api::GatewayCostMetrics{"models.dev", {}, {}, {}}, std::nullopt};
  out = review(request("ModelProvider", "CREATE", provider_object("team-b", "mini", cheapest), "team-b"), c.view());
  EXPECT_EQ(out.body["response"]["allowed"], true) << out.body.dump();
  auto mini = provider("team-b", "mini", "openai/gpt-4o-mini");
  mini.spec.routingPreferences = {{"code", "writes code", api::SelectionPreference::Cheapest}};
  c.providers.push_back(mini);
  json gw = {{"apiVersion", "plano-operator.io/v1alpha1"}, {"kind", "PlanoGateway"},
             {"metadata", {{"name", "shared"}, {"namespace", "platform"}}},
             {"spec", {{"listeners", json::array({{{"name", "llm"}, {"type", "model"}, {"port", 12000}}})},
                       {"allowedProviders", {{"namespaces", {{"from", "All"}}}}}}}};
  out = review(request("PlanoGateway", "UPDATE", gw, "platform"), c.view());
  EXPECT_EQ(out.body["response"]["allowed"], true) << out.body.dump();
  EXPECT_NE(out.body["response"].value("warnings", json::array()).dump().find(
                "this change drops 1 provider(s) from the gateway's config: team-b/mini (NotAllowedByGateway)"),
            std::string::npos)
      << out.body.dump();
}

TEST(Admission, DeniesAnInvalidGateway) {
  Cluster c;
  json gw = {{"apiVersion", "plano-operator.io/v1alpha1"}, {"kind", "PlanoGateway"},
             {"metadata", {{"name", "g"}, {"namespace", "platform"}}},
             {"spec", {{"listeners", json::array({{{"name", "llm"}, {"type", "model"}, {"port", 10000}}})}}}};
  auto out = review(request("PlanoGateway", "CREATE", gw, "platform"), c.view());
  EXPECT_EQ(out.body["response"]["allowed"], false);
  EXPECT_NE(out.body["response"]["status"]["message"].get<std::string>().find("spec.listeners[0].port"), std::string::npos);
}

TEST(Admission, DeleteIsAllowed) {
  Cluster c;
  auto out = review(request("ModelProvider", "DELETE", json(), "team-a"), c.view());
  EXPECT_EQ(out.body["response"]["allowed"], true);
}

TEST(Admission, BadRequestsGetA400WithAReason) {
  Cluster c;
  for (const char* body : {"{not json", "[]", R"({"apiVersion":"admission.k8s.io/v1beta1","kind":"AdmissionReview"})",
                                 R"({"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"})",
                                 R"({"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":7}})"}) {
    auto out = review(body, c.view());
    EXPECT_EQ(out.httpStatus, 400) << body;
    EXPECT_EQ(out.body["kind"], "Status");
    EXPECT_FALSE(out.body["message"].get<std::string>().empty());
  }
  json r = json::parse(request("ConfigMap", "CREATE", json::object(), "x"));
  r["request"]["kind"]["group"] = "";
  auto out = review(r.dump(), c.view());
  EXPECT_EQ(out.httpStatus, 400);
  EXPECT_NE(out.body["message"].get<std::string>().find("core/ConfigMap"), std::string::npos);
}

TEST(Admission, DeepNestingIsRefusedBeforeParsing) {
  Cluster c;
  auto deep = request("ModelProvider", "CREATE", provider_object("team-b", "mini", gpt4o_mini), "team-b");
  deep.insert(deep.size() - 1, ",\"x\":" + std::string(100, '[') + std::string(100, ']'));
  auto out = review(deep, c.view());
  EXPECT_EQ(out.httpStatus, 400);
  EXPECT_NE(out.body["message"].get<std::string>().find("nest"), std::string::npos) << out.body.dump();
  // Brackets inside strings do not count.
  auto quoted = request("ModelProvider", "CREATE", provider_object("team-b", "mini", gpt4o_mini), "team-b");
  quoted.insert(quoted.size() - 1, ",\"x\":\"" + std::string(100, '[') + "\"");
  EXPECT_EQ(review(quoted, c.view()).httpStatus, 200);
}

TEST(Admission, HostileObjectsAreDeniedNotCrashes) {
  Cluster c;
  for (const json& obj : {json{{"metadata", "x"}, {"spec", 5}}, json{{"metadata", {{"name", 5}}}, {"spec", {{"model", json::array()}}}},
                         json::object()}) {
    auto out = review(request("ModelProvider", "CREATE", obj, "team-a"), c.view());
    EXPECT_EQ(out.httpStatus, 200) << obj.dump();
    EXPECT_EQ(out.body["response"]["allowed"], false) << obj.dump();
  }
  auto out = review(request("ModelProvider", "CREATE", json("str"), "team-a"), c.view());
  EXPECT_EQ(out.httpStatus, 400);
}

// ---- a provider may only use a Secret its author can read (SubjectAccessReview) ----

struct SecretAccessLog {
  std::vector<std::string> asked;  // "user ns/name"
  bool allow = false;
  SecretReadAccess access() {
    return [this](const json& user, const std::string& ns, const std::string& name) {
      asked.push_back(user.value("username", "") + " " + ns + "/" + name);
      return allow;
    };
  }
};

std::string request_by(const std::string& user, const std::string& op, const json& object, const json& old_object = nullptr) {
  auto r = json::parse(request("ModelProvider", op, object, "team-a"));
  r["request"]["userInfo"] = {{"username", user}, {"groups", {"team-a-devs", "system:authenticated"}}};
  r["request"]["oldObject"] = old_object;  // null for a CREATE, as the API server sends it
  return r.dump();
}

json managed_key_spec(const std::string& secret) {
  return {{"gatewayRef", {{"name", "shared"}, {"namespace", "platform"}}},
          {"model", "openai/gpt-4o-mini"},
          {"accessKeySecretRef", {{"name", secret}, {"key", "password"}}}};
}

TEST(AdmissionSecretAccess, ASecretTheAuthorCannotReadIsRefused) {
  Cluster c;
  SecretAccessLog log;
  auto out = webhook::review(request_by("alice", "CREATE", provider_object("team-a", "mini", managed_key_spec("payments-db"))),
                             c.view(), log.access());
  ASSERT_EQ(log.asked, std::vector<std::string>{"alice team-a/payments-db"});
  EXPECT_FALSE(out.body["response"]["allowed"].get<bool>());
  const auto message = out.body["response"]["status"]["message"].get<std::string>();
  EXPECT_NE(message.find("spec.accessKeySecretRef.name: alice may not read Secret team-a/payments-db"), std::string::npos) << message;
  log.allow = true;
  out = webhook::review(request_by("alice", "CREATE", provider_object("team-a", "mini", managed_key_spec("payments-db"))),
                        c.view(), log.access());
  EXPECT_TRUE(out.body["response"]["allowed"].get<bool>()) << out.body.dump();
}

TEST(AdmissionSecretAccess, AskedWhenTheReferenceChangesOnly) {
  Cluster c;
  SecretAccessLog log;
  const auto before = provider_object("team-a", "mini", managed_key_spec("openai"));
  auto relabelled = before;
  relabelled["metadata"]["labels"] = {{"team", "a"}};
  auto out = webhook::review(request_by("argocd", "UPDATE", relabelled, before), c.view(), log.access());
  EXPECT_TRUE(out.body["response"]["allowed"].get<bool>()) << out.body.dump();
  EXPECT_TRUE(log.asked.empty()) << "an update that keeps the Secret is not asked again";
  out = webhook::review(request_by("mallory", "UPDATE", provider_object("team-a", "mini", managed_key_spec("payments-db")), before),
                        c.view(), log.access());
  EXPECT_EQ(log.asked, std::vector<std::string>{"mallory team-a/payments-db"});
  EXPECT_FALSE(out.body["response"]["allowed"].get<bool>());
  // Passthrough providers use no Secret: nothing to ask.
  out = webhook::review(request_by("mallory", "CREATE", provider_object("team-a", "mini2", gpt4o_mini)), c.view(), log.access());
  EXPECT_EQ(log.asked.size(), 1u);
  EXPECT_TRUE(out.body["response"]["allowed"].get<bool>());
}

TEST(AdmissionSecretAccess, RefusedWhenTheAnswerCannotBeHad) {
  Cluster c;
  auto out = webhook::review(request_by("alice", "CREATE", provider_object("team-a", "mini", managed_key_spec("openai"))), c.view(),
                             [](const json&, const std::string&, const std::string&) -> bool { throw std::runtime_error("connection refused"); });
  EXPECT_FALSE(out.body["response"]["allowed"].get<bool>());
  const auto message = out.body["response"]["status"]["message"].get<std::string>();
  EXPECT_NE(message.find("could not check that alice may read Secret team-a/openai (connection refused); retry"), std::string::npos)
      << message;
}

TEST(AdmissionConfigRoom, AProviderThatWouldPassTheConfigMapLimitIsRefusedWithTheLimitNamed) {
  Cluster c;
  auto full = std::make_shared<ClusterView>(*c.view()("platform/shared"));
  ASSERT_GT(full->configBytes, 0u) << "the view knows what its config renders to";
  ClusterLookup lookup = [&full](const std::string&) -> std::shared_ptr<const ClusterView> { return full; };
  full->configBytes = render::kMaxConfigBytes - 10;
  auto out = review(request("ModelProvider", "CREATE", provider_object("team-b", "mini", gpt4o_mini), "team-b"), lookup);
  EXPECT_FALSE(out.body["response"]["allowed"].get<bool>());
  const auto message = out.body["response"]["status"]["message"].get<std::string>();
  EXPECT_NE(message.find("over the 1000000-byte limit of a ConfigMap"), std::string::npos) << message;
  full->configBytes = render::kMaxConfigBytes - 2000;
  out = review(request("ModelProvider", "CREATE", provider_object("team-b", "mini", gpt4o_mini), "team-b"), lookup);
  EXPECT_TRUE(out.body["response"]["allowed"].get<bool>()) << out.body.dump();
}

// A flood got in while the webhook was not called and fills the config: the operator leaves the
// namespace with the most providers out first, so another tenant's provider is admitted (said),
// and the flood's next one is refused.
TEST(AdmissionConfigRoom, WhenTheConfigIsFullTheNamespaceWithTheMostProvidersGivesWay) {
  Cluster c;
  c.gw.spec.allowedProviders.maxProvidersPerNamespace = 10000;
  for (int i = 0; i < 1000; ++i) {
    auto p = provider("flood", "f" + std::to_string(i), "vllm/flood-" + std::to_string(i));
    p.spec.baseURL = "http://vllm-" + std::to_string(i) + ".flood.svc.cluster.local:8000/v1";
    p.spec.providerInterface = "openai";
    p.spec.routingPreferences = {{"f" + std::to_string(i), std::string(1000, 'x')}};
    c.providers.push_back(p);
  }
  const auto view = c.view()("platform/shared");
  ASSERT_GT(view->configBytes, render::kMaxConfigBytes);
  auto out = review(request("ModelProvider", "CREATE", provider_object("team-b", "mini", gpt4o_mini), "team-b"), c.view());
  EXPECT_TRUE(out.body["response"]["allowed"].get<bool>()) << out.body.dump();
  ASSERT_TRUE(out.body["response"].contains("warnings")) << out.body.dump();
  EXPECT_NE(out.body["response"]["warnings"].dump().find("providers of namespace flood (1000 on the gateway, the most) are left out"),
            std::string::npos) << out.body.dump();

  auto more = gpt4o_mini;
  more["model"] = "vllm/flood-more";
  more["baseURL"] = "http://vllm-more.flood.svc.cluster.local:8000/v1";
  more["providerInterface"] = "openai";
  out = review(request("ModelProvider", "CREATE", provider_object("flood", "f-more", more), "flood"), c.view());
  EXPECT_FALSE(out.body["response"]["allowed"].get<bool>());
  const auto message = out.body["response"]["status"]["message"].get<std::string>();
  EXPECT_NE(message.find("namespace flood would have 1001 provider(s) on the gateway, as many as any other"), std::string::npos)
      << message;

  // A change to one the flood already has is counted once, not as one more.
  auto f0 = more;
  f0["model"] = "vllm/flood-renamed";
  f0["baseURL"] = "http://vllm-0.flood.svc.cluster.local:8000/v1";
  f0["routingPreferences"] = json::array({{{"name", "f0"}, {"description", std::string(1000, 'x')}}});
  out = review(request("ModelProvider", "UPDATE", provider_object("flood", "f0", f0), "flood"), c.view());
  EXPECT_FALSE(out.body["response"]["allowed"].get<bool>());
  const auto changed = out.body["response"]["status"]["message"].get<std::string>();
  EXPECT_NE(changed.find("namespace flood would have 1000 provider(s) on the gateway"), std::string::npos) << changed;
}

// ---- the webhook orders claims as the operator does ----

TEST(AdmissionPrecedence, TheProviderTheOperatorKeepsStaysUpdatable) {
  // A second default got in while the webhook was not called; the operator keeps the older one.
  Cluster c;
  auto late = provider("team-b", "late", "openai/o3");
  late.spec.default_ = true;
  late.metadata.creationTimestamp = "2026-03-01T00:00:00Z";
  c.providers.push_back(late);
  auto kept = provider_object("team-a", "gpt4", {{"gatewayRef", {{"name", "shared"}, {"namespace", "platform"}}},
                                                 {"model", "openai/gpt-4o"}, {"default", true},
                                                 {"accessKeySecretRef", {{"name", "team-a-openai-secret"}, {"key", "api-key"}}}});
  kept["metadata"]["labels"] = {{"argocd.argoproj.io/instance", "team-a"}};
  auto out = review(request("ModelProvider", "UPDATE", kept, "team-a"), c.view());
  EXPECT_TRUE(out.body["response"]["allowed"].get<bool>()) << out.body.dump();
  // The one the operator leaves out is still refused, whatever it changes, until it gives up the default.
  auto refused = provider_object("team-b", "late", {{"gatewayRef", {{"name", "shared"}, {"namespace", "platform"}}},
                                                    {"model", "openai/o3"}, {"default", true}, {"passthroughAuth", true}});
  refused["metadata"]["labels"] = {{"argocd.argoproj.io/instance", "team-b"}};
  out = review(request("ModelProvider", "UPDATE", refused, "team-b"), c.view());
  EXPECT_FALSE(out.body["response"]["allowed"].get<bool>()) << out.body.dump();
}

TEST(AdmissionPrecedence, AHolderThatCannotServeYieldsToAWorkingNewcomer) {
  Cluster c;
  auto squatter = provider("team-c", "squat", "openai/o3");
  squatter.spec.passthroughAuth.reset();
  squatter.spec.accessKeySecretRef = api::SecretKeyRef{"does-not-exist", "k"};
  squatter.metadata.creationTimestamp = "2025-06-01T00:00:00Z";
  squatter.status.conditions = {{"ResolvedRefs", "False", 1, "", "SecretNotFound", "Secret team-c/does-not-exist does not exist"}};
  c.providers.push_back(squatter);
  const json spec = {{"gatewayRef", {{"name", "shared"}, {"namespace", "platform"}}}, {"model", "openai/o3"}, {"passthroughAuth", true}};
  auto out = review(request("ModelProvider", "CREATE", provider_object("team-b", "o3", spec), "team-b"), c.view());
  EXPECT_TRUE(out.body["response"]["allowed"].get<bool>()) << out.body.dump();
  ASSERT_TRUE(out.body["response"].contains("warnings"));
  EXPECT_NE(out.body["response"]["warnings"].dump().find("ModelProvider/team-c/squat also claims this, but cannot serve"),
            std::string::npos) << out.body.dump();
  // A holder that serves keeps it.
  c.providers.back().status.conditions.clear();
  out = review(request("ModelProvider", "CREATE", provider_object("team-b", "o3", spec), "team-b"), c.view());
  EXPECT_FALSE(out.body["response"]["allowed"].get<bool>()) << out.body.dump();
}

// Reviews naming made-up kinds and operations, as a hostile client sends them, add no series: the
// metrics' kind and operation labels only take values from fixed sets.
TEST(AdmissionMetrics, LabelsComeFromBoundedSetsWhateverTheRequestSays) {
  Cluster c;
  metrics::Registry registry;
  auto router = admission_router(c.view(), [] { return true; }, [](const json&, const std::string&, const std::string&) { return true; },
                                 registry);
  std::mt19937 random(13);
  auto made_up = [&] { return "X" + std::to_string(random() % 1000000); };
  auto post = [&](const std::string& body) {
    http::Request r;
    r.method = "POST";
    r.path = kValidatePath;
    r.headers = {{"Content-Type", "application/json"}};
    r.body = body;
    return router->handle(r).status;
  };
  EXPECT_EQ(post(request("ModelProvider", "CREATE", provider_object("team-b", "mini", gpt4o_mini), "team-b")), 200);
  EXPECT_EQ(post(request("ModelProvider", "DELETE", provider_object("team-b", "mini", gpt4o_mini), "team-b")), 200);
  for (int i = 0; i < 300; ++i) {
    const bool known_kind = i % 3 == 0;
    post(request(known_kind ? "ModelProvider" : made_up(), known_kind ? made_up() : "CREATE", json::object(), "team-a"));
  }
  const std::string text = registry.render();
  const std::set<std::string> kinds{"PlanoGateway", "ModelProvider", "other"};
  const std::set<std::string> operations{"CREATE", "UPDATE", "DELETE", "CONNECT", "other"};
  std::set<std::string> seen_kinds, seen_operations;
  std::size_t series = 0;
  const std::regex label(R"re((kind|operation)="([^"]*)")re");
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind("plano_webhook_admission_", 0) != 0) continue;
    ++series;
    for (auto it = std::sregex_iterator(line.begin(), line.end(), label); it != std::sregex_iterator(); ++it) {
      ((*it)[1] == "kind" ? seen_kinds : seen_operations).insert((*it)[2]);
    }
  }
  EXPECT_TRUE(std::includes(kinds.begin(), kinds.end(), seen_kinds.begin(), seen_kinds.end())) << text;
  EXPECT_TRUE(std::includes(operations.begin(), operations.end(), seen_operations.begin(), seen_operations.end())) << text;
  EXPECT_EQ(seen_kinds, (std::set<std::string>{"ModelProvider", "other"}));
  EXPECT_EQ(seen_operations, (std::set<std::string>{"CREATE", "DELETE", "other"}));
  // Request counters by (kind, operation, verdict) plus the histogram's buckets, sum and count per kind.
  EXPECT_LE(series, 10u + 2 * 14u) << text;
}

}  // namespace
}  // namespace plano::webhook
