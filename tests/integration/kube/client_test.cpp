// Every request type of kube::Client against a real kube-apiserver.
#include "core/kube/client.h"

#include <gtest/gtest.h>

#include <atomic>
#include <set>
#include <thread>

#include "core/http/server.h"
#include "core/kube/events.h"
#include "tests/support/control_plane.h"

namespace plano::kube {
namespace {

using testing::admin_client;
using testing::create_namespace;
using testing::expect_api_error;

json config_map(const std::string& ns, const std::string& name, json data = json::object(),
                json labels = json::object()) {
  return {{"apiVersion", "v1"},
          {"kind", "ConfigMap"},
          {"metadata", {{"name", name}, {"namespace", ns}, {"labels", labels}}},
          {"data", data}};
}

TEST(ClientRequests, CreateGetAndTypedErrors) {
  Client& client = admin_client();
  std::string ns = create_namespace(client, "create");

  json created = client.create(resources::kConfigMaps, ns, config_map(ns, "settings", {{"mode", "fast"}}));
  EXPECT_EQ(created["metadata"]["namespace"], ns);
  EXPECT_FALSE(created["metadata"]["uid"].get<std::string>().empty());

  json fetched = client.get(resources::kConfigMaps, ns, "settings");
  EXPECT_EQ(fetched["data"]["mode"], "fast");
  EXPECT_EQ(fetched["metadata"]["resourceVersion"], created["metadata"]["resourceVersion"]);

  ApiError exists = expect_api_error([&] { client.create(resources::kConfigMaps, ns, config_map(ns, "settings")); });
  EXPECT_EQ(exists.code(), 409);
  EXPECT_EQ(exists.reason(), ErrorReason::AlreadyExists) << exists.what() << " [" << exists.status_reason() << "]";
  EXPECT_NE(std::string(exists.what()).find("POST /api/v1/namespaces/" + ns + "/configmaps"), std::string::npos)
      << exists.what();

  ApiError missing = expect_api_error([&] { client.get(resources::kConfigMaps, ns, "absent"); });
  EXPECT_EQ(missing.code(), 404);
  EXPECT_EQ(missing.reason(), ErrorReason::NotFound);
  EXPECT_EQ(missing.status_reason(), "NotFound");
}

TEST(ClientRequests, InvalidObjectsCarryTheFieldCauses) {
  Client& client = admin_client();
  std::string ns = create_namespace(client, "invalid");
  ApiError invalid =
      expect_api_error([&] { client.create(resources::kConfigMaps, ns, config_map(ns, "Not_A_Valid_Name")); });
  EXPECT_EQ(invalid.code(), 422);
  EXPECT_EQ(invalid.reason(), ErrorReason::Invalid);
  ASSERT_FALSE(invalid.causes().empty());
  EXPECT_EQ(invalid.causes()[0].field, "metadata.name");
  EXPECT_FALSE(invalid.causes()[0].message.empty());
}

TEST(ClientRequests, ListPaginatesAndFiltersByLabelAndField) {
  Client& client = admin_client();
  std::string ns = create_namespace(client, "list");
  for (int i = 0; i < 7; ++i) {
    std::string app = i < 4 ? "a" : "b";
    client.create(resources::kConfigMaps, ns, config_map(ns, "cm-" + std::to_string(i), {}, {{"app", app}}));
  }

  ListOptions small_pages;
  small_pages.limit = 2;
  ListResult first = client.list_page(resources::kConfigMaps, ns, small_pages);
  EXPECT_EQ(first.items.size(), 2u);
  EXPECT_FALSE(first.continue_token.empty());
  EXPECT_FALSE(first.resource_version.empty());

  // list() follows continue tokens; kube-root-ca.crt is absent (no controller-manager), so exactly ours.
  ListResult all = client.list(resources::kConfigMaps, ns, small_pages);
  std::set<std::string> names;
  for (const auto& item : all.items) {
    names.insert(item["metadata"]["name"].get<std::string>());
    EXPECT_EQ(item["kind"], "ConfigMap") << "list items get apiVersion/kind filled in";
  }
  EXPECT_EQ(names.size(), 7u);
  EXPECT_TRUE(all.continue_token.empty());
  EXPECT_FALSE(all.resource_version.empty());

  ListOptions by_label;
  by_label.label_selector = "app=a";
  EXPECT_EQ(client.list(resources::kConfigMaps, ns, by_label).items.size(), 4u);
  by_label.label_selector = "app in (a,b),app!=a";
  EXPECT_EQ(client.list(resources::kConfigMaps, ns, by_label).items.size(), 3u);

  ListOptions by_field;
  by_field.field_selector = "metadata.name=cm-5";
  ListResult one = client.list(resources::kConfigMaps, ns, by_field);
  ASSERT_EQ(one.items.size(), 1u);
  EXPECT_EQ(one.items[0]["metadata"]["labels"]["app"], "b");

  // Across all namespaces, filtered to ours by label and namespace field.
  ListOptions everywhere;
  everywhere.field_selector = "metadata.namespace=" + ns;
  EXPECT_EQ(client.list(resources::kConfigMaps, "", everywhere).items.size(), 7u);
}

TEST(ClientRequests, ServerSideApplyTracksOwnersAndReportsConflicts) {
  Client& client = admin_client();
  std::string ns = create_namespace(client, "apply");

  json desired = {{"metadata", {{"name", "applied"}, {"namespace", ns}}}, {"data", {{"owner", "operator"}}}};
  json first = client.apply(resources::kConfigMaps, desired, {"plano-operator"});
  EXPECT_EQ(first["data"]["owner"], "operator");
  EXPECT_EQ(first["kind"], "ConfigMap");  // apiVersion/kind were filled from the resource
  json again = client.apply(resources::kConfigMaps, desired, {"plano-operator"});
  EXPECT_EQ(again["metadata"]["resourceVersion"], first["metadata"]["resourceVersion"]) << "apply is idempotent";

  json competing = {{"metadata", {{"name", "applied"}, {"namespace", ns}}}, {"data", {{"owner", "someone-else"}}}};
  ApiError conflict = expect_api_error([&] { client.apply(resources::kConfigMaps, competing, {"other-manager"}); });
  EXPECT_EQ(conflict.code(), 409);
  EXPECT_EQ(conflict.reason(), ErrorReason::Conflict);
  ASSERT_FALSE(conflict.causes().empty());
  EXPECT_EQ(conflict.causes()[0].field, ".data.owner");

  json forced = client.apply(resources::kConfigMaps, competing, {"other-manager", /*force=*/true});
  EXPECT_EQ(forced["data"]["owner"], "someone-else");
  std::set<std::string> managers;
  for (const auto& entry : forced["metadata"]["managedFields"]) managers.insert(entry["manager"].get<std::string>());
  EXPECT_TRUE(managers.count("other-manager"));

  json dry = client.apply(resources::kConfigMaps,
                          {{"metadata", {{"name", "dry"}, {"namespace", ns}}}, {"data", {{"x", "1"}}}},
                          {"plano-operator", false, /*dry_run=*/true});
  EXPECT_EQ(dry["data"]["x"], "1");
  EXPECT_EQ(expect_api_error([&] { client.get(resources::kConfigMaps, ns, "dry"); }).reason(), ErrorReason::NotFound);
}

TEST(ClientRequests, MergePatchAndJsonPatch) {
  Client& client = admin_client();
  std::string ns = create_namespace(client, "patch");
  client.create(resources::kConfigMaps, ns, config_map(ns, "target", {{"a", "1"}, {"b", "2"}}));

  json merged = client.patch(resources::kConfigMaps, ns, "target", PatchType::Merge,
                             {{"metadata", {{"labels", {{"patched", "yes"}}}}}, {"data", {{"b", nullptr}}}});
  EXPECT_EQ(merged["metadata"]["labels"]["patched"], "yes");
  EXPECT_FALSE(merged["data"].contains("b")) << "null deletes in a merge patch";

  json ops = json::array({{{"op", "replace"}, {"path", "/data/a"}, {"value", "10"}},
                          {{"op", "add"}, {"path", "/data/c"}, {"value", "3"}}});
  json patched = client.patch(resources::kConfigMaps, ns, "target", PatchType::Json, ops);
  EXPECT_EQ(patched["data"], json({{"a", "10"}, {"c", "3"}}));

  // A failed "test" operation rejects the whole patch.
  json guarded = json::array({{{"op", "test"}, {"path", "/data/a"}, {"value", "stale"}},
                              {{"op", "replace"}, {"path", "/data/a"}, {"value", "never"}}});
  ApiError failed = expect_api_error([&] { client.patch(resources::kConfigMaps, ns, "target", PatchType::Json, guarded); });
  EXPECT_NE(failed.code(), 0);
  EXPECT_EQ(client.get(resources::kConfigMaps, ns, "target")["data"]["a"], "10");

  json strategic = client.patch(resources::kConfigMaps, ns, "target", PatchType::StrategicMerge,
                                {{"data", {{"d", "4"}}}});
  EXPECT_EQ(strategic["data"]["d"], "4");
}

TEST(ClientRequests, UpdateUsesOptimisticConcurrency) {
  Client& client = admin_client();
  std::string ns = create_namespace(client, "update");
  json original = client.create(resources::kConfigMaps, ns, config_map(ns, "cas", {{"v", "1"}}));

  json changed = original;
  changed["data"]["v"] = "2";
  json updated = client.update(resources::kConfigMaps, changed);
  EXPECT_EQ(updated["data"]["v"], "2");

  json stale = original;  // still carries the old resourceVersion
  stale["data"]["v"] = "3";
  ApiError conflict = expect_api_error([&] { client.update(resources::kConfigMaps, stale); });
  EXPECT_EQ(conflict.code(), 409);
  EXPECT_EQ(conflict.reason(), ErrorReason::Conflict);
  EXPECT_EQ(client.get(resources::kConfigMaps, ns, "cas")["data"]["v"], "2");
}

TEST(ClientRequests, DeleteHonoursPreconditionsAndPropagationPolicy) {
  Client& client = admin_client();
  std::string ns = create_namespace(client, "delete");
  json object = client.create(resources::kConfigMaps, ns, config_map(ns, "doomed"));
  std::string uid = object["metadata"]["uid"];
  std::string rv = object["metadata"]["resourceVersion"];

  DeleteOptions wrong_uid;
  wrong_uid.uid = "00000000-0000-0000-0000-000000000000";
  ApiError uid_conflict = expect_api_error([&] { client.remove(resources::kConfigMaps, ns, "doomed", wrong_uid); });
  EXPECT_EQ(uid_conflict.reason(), ErrorReason::Conflict);
  EXPECT_NE(uid_conflict.message().find("precondition"), std::string::npos) << uid_conflict.message();

  DeleteOptions stale_version;
  stale_version.resource_version = "1";
  EXPECT_EQ(expect_api_error([&] { client.remove(resources::kConfigMaps, ns, "doomed", stale_version); }).reason(),
            ErrorReason::Conflict);

  DeleteOptions exact;
  exact.uid = uid;
  exact.resource_version = rv;
  exact.propagation = PropagationPolicy::Background;
  client.remove(resources::kConfigMaps, ns, "doomed", exact);
  EXPECT_EQ(expect_api_error([&] { client.get(resources::kConfigMaps, ns, "doomed"); }).reason(),
            ErrorReason::NotFound);

  // Foreground deletion parks the object behind the foregroundDeletion finalizer (no garbage collector
  // runs here to finish it), which shows the policy reached the server.
  client.create(resources::kConfigMaps, ns, config_map(ns, "foreground"));
  DeleteOptions foreground;
  foreground.propagation = PropagationPolicy::Foreground;
  json terminating = client.remove(resources::kConfigMaps, ns, "foreground", foreground);
  EXPECT_TRUE(terminating["metadata"].contains("deletionTimestamp")) << terminating.dump();
  EXPECT_EQ(terminating["metadata"]["finalizers"], json::array({"foregroundDeletion"}));

  EXPECT_EQ(expect_api_error([&] { client.remove(resources::kConfigMaps, ns, "never-existed"); }).reason(),
            ErrorReason::NotFound);
}

TEST(ClientRequests, SecretsRoundTripTheirData) {
  Client& client = admin_client();
  std::string ns = create_namespace(client, "secret");
  client.create(resources::kSecrets, ns,
                {{"metadata", {{"name", "creds"}, {"namespace", ns}, {"labels", {{"plano-operator.io/watch", "true"}}}}},
                 {"stringData", {{"api-key", "sk-test"}}}});
  json secret = client.get(resources::kSecrets, ns, "creds");
  EXPECT_EQ(secret["data"]["api-key"], "c2stdGVzdA==");  // base64 of sk-test
}

TEST(ClientRequests, CustomResourcesAndTheirStatusSubresource) {
  Client& client = admin_client();
  std::vector<std::string> crds;
  try {
    crds = testing::install_crds(client);
  } catch (const std::exception& e) {
    FAIL() << "installing crds/*.yaml failed: " << e.what();
  }
  EXPECT_EQ(std::set<std::string>(crds.begin(), crds.end()),
            (std::set<std::string>{"modelproviders.plano-operator.io", "planogateways.plano-operator.io"}));

  std::string ns = create_namespace(client, "crd");
  json gateway = {{"metadata", {{"name", "gw"}, {"namespace", ns}}},
                  {"spec", {{"listeners", json::array({{{"name", "llm"}, {"type", "model"}, {"port", 12000}}})}}}};
  json created_gateway = client.create(resources::kPlanoGateways, ns, gateway);
  EXPECT_EQ(created_gateway["kind"], "PlanoGateway");
  EXPECT_EQ(created_gateway["metadata"]["generation"], 1);

  json provider = {{"metadata", {{"name", "gpt"}, {"namespace", ns}}},
                   {"spec", {{"gatewayRef", {{"name", "gw"}}}, {"model", "openai/gpt-4o"}, {"passthroughAuth", true}}}};
  client.create(resources::kModelProviders, ns, provider);

  // The schema is enforced by the server: a provider without a model is Invalid.
  json no_model = {{"metadata", {{"name", "broken"}, {"namespace", ns}}}, {"spec", {{"gatewayRef", {{"name", "gw"}}}, {"passthroughAuth", true}}}};
  ApiError invalid = expect_api_error([&] { client.create(resources::kModelProviders, ns, no_model); });
  EXPECT_EQ(invalid.reason(), ErrorReason::Invalid);

  json condition = {{"type", "Accepted"},
                    {"status", "True"},
                    {"observedGeneration", 1},
                    {"lastTransitionTime", "2025-01-01T00:00:00Z"},
                    {"reason", "Accepted"},
                    {"message", "admitted by gw"}};
  json status_apply = {{"metadata", {{"name", "gpt"}, {"namespace", ns}}},
                       {"status", {{"observedGeneration", 1}, {"conditions", json::array({condition})}}}};
  json applied = client.apply_status(resources::kModelProviders, status_apply, {"plano-operator", true});
  EXPECT_EQ(applied["status"]["conditions"][0]["reason"], "Accepted");

  // The status endpoint ignores spec changes, and status writes do not bump the generation.
  json via_status = applied;
  via_status["spec"]["model"] = "openai/gpt-4o-mini";
  via_status["status"]["observedGeneration"] = 2;
  json updated = client.update_status(resources::kModelProviders, via_status);
  EXPECT_EQ(updated["spec"]["model"], "openai/gpt-4o");
  EXPECT_EQ(updated["status"]["observedGeneration"], 2);
  EXPECT_EQ(updated["metadata"]["generation"], 1);

  json patched = client.patch_status(resources::kPlanoGateways, ns, "gw", PatchType::Merge,
                                     {{"status", {{"attachedProviders", 1}, {"observedGeneration", 1}}}});
  EXPECT_EQ(patched["status"]["attachedProviders"], 1);
  EXPECT_EQ(client.get(resources::kPlanoGateways, ns, "gw")["status"]["attachedProviders"], 1);
}

TEST(ClientRequests, RecordsEventsAboutObjects) {
  Client& client = admin_client();
  std::string ns = create_namespace(client, "events");
  json subject = client.create(resources::kConfigMaps, ns, config_map(ns, "subject"));

  EventRecord record;
  record.regarding = object_reference(subject);
  record.type = EventType::Warning;
  record.reason = "ProviderRejected";
  record.note = std::string(2000, 'x');  // longer than the API allows: cut to 1 kB
  record.action = "Reconcile";
  record.reporting_controller = "plano-operator.io/operator";
  record.reporting_instance = "plano-operator-0";
  json event = create_event(client, record);

  json stored = client.get(resources::kEvents, ns, event["metadata"]["name"]);
  EXPECT_EQ(stored["type"], "Warning");
  EXPECT_EQ(stored["reason"], "ProviderRejected");
  EXPECT_EQ(stored["action"], "Reconcile");
  EXPECT_EQ(stored["note"].get<std::string>().size(), 1024u);
  EXPECT_EQ(stored["regarding"]["kind"], "ConfigMap");
  EXPECT_EQ(stored["regarding"]["uid"], subject["metadata"]["uid"]);
  EXPECT_EQ(stored["reportingController"], "plano-operator.io/operator");
  EXPECT_EQ(stored["reportingInstance"], "plano-operator-0");
  EXPECT_EQ(stored["metadata"]["name"].get<std::string>().rfind("subject.", 0), 0u);
}

TEST(ClientRequests, SubresourceCreateAndAccessReviews) {
  Client& client = admin_client();
  std::string ns = create_namespace(client, "review");
  json review = client.create(resources::kSelfSubjectAccessReviews, "",
                              {{"spec", {{"resourceAttributes", {{"namespace", ns}, {"verb", "create"},
                                                                 {"resource", "configmaps"}}}}}});
  EXPECT_EQ(review["status"]["allowed"], true);

  json version = client.get_path("/version");
  EXPECT_EQ(version["gitVersion"].get<std::string>().rfind("v1.", 0), 0u) << version.dump();
  EXPECT_EQ(client.get_path("/readyz"), json("ok"));
}

// A server that redirects must not receive the bearer token on another host's behalf: the client
// takes a redirect as the answer. (The API server never redirects.)
TEST(ClientRequests, ARedirectIsNotFollowedSoTheTokenStaysWithTheServer) {
  std::atomic<int> elsewhere_requests = 0;
  auto elsewhere_handler = std::make_shared<http::Router>();
  elsewhere_handler->set_fallback([&](const http::Request&) {
    ++elsewhere_requests;
    return http::Response::json(200, R"({"kind":"ConfigMap","metadata":{"name":"x"}})");
  });
  http::ServerOptions options;
  options.address = "127.0.0.1";
  auto elsewhere = http::start_server(options, elsewhere_handler);
  auto redirecting_handler = std::make_shared<http::Router>();
  const std::string target = "http://127.0.0.1:" + std::to_string(elsewhere->port()) + "/api/v1/namespaces/a/configmaps/x";
  redirecting_handler->set_fallback([&](const http::Request&) {
    http::Response response = http::Response::text(307, "");
    response.headers.emplace_back("Location", target);
    return response;
  });
  auto redirecting = http::start_server(options, redirecting_handler);

  ClientConfig config;
  config.server = "http://127.0.0.1:" + std::to_string(redirecting->port());
  config.token = TokenSource::fixed("canary-token");
  config.retry.max_attempts = 1;
  Client client(config);
  ApiError answered = expect_api_error([&] { client.get(resources::kConfigMaps, "a", "x"); });
  EXPECT_EQ(answered.code(), 307) << answered.what();
  EXPECT_EQ(elsewhere_requests.load(), 0);
  redirecting->stop(std::chrono::milliseconds(0));
  elsewhere->stop(std::chrono::milliseconds(0));
}

TEST(ClientRequests, ServerErrorsAreRetriedOnlyForSafeRequests) {
  // An aggregated API whose backing service does not exist: the server answers 503 (with a plain-text body).
  const Resource api_services{"apiregistration.k8s.io", "v1", "apiservices", "APIService", false};
  admin_client().apply(api_services,
                       {{"metadata", {{"name", "v1.broken.plano.test"}}},
                        {"spec", {{"group", "broken.plano.test"},
                                  {"version", "v1"},
                                  {"groupPriorityMinimum", 1},
                                  {"versionPriority", 1},
                                  {"insecureSkipTLSVerify", true},
                                  {"service", {{"name", "nothing"}, {"namespace", "default"}, {"port", 443}}}}}},
                       {"plano-kube-tests", true});
  const Resource broken{"broken.plano.test", "v1", "things", "Thing", true};

  ClientConfig config = testing::control_plane().admin_config();
  config.retry.max_attempts = 3;
  config.retry.initial_backoff = std::chrono::milliseconds(300);
  Client client(config);
  std::string last_error;
  ASSERT_TRUE(testing::eventually(
      [&] {
        ApiError e = expect_api_error([&] { client.get(broken, "default", "x"); });
        last_error = e.what();
        return e.code() == 503;
      },
      std::chrono::seconds(10)))
      << last_error;

  // GET is retried: two backoffs of at least 150 ms and 300 ms (jitter is 0.5x-1.5x) before giving up.
  auto started = std::chrono::steady_clock::now();
  ApiError after_retries = expect_api_error([&] { client.get(broken, "default", "x"); });
  auto get_took = std::chrono::steady_clock::now() - started;
  EXPECT_EQ(after_retries.code(), 503);
  EXPECT_EQ(after_retries.reason(), ErrorReason::ServerError);
  EXPECT_NE(after_retries.message().find("service unavailable"), std::string::npos) << after_retries.message();
  EXPECT_GE(get_took, std::chrono::milliseconds(450));

  // POST is not: the server may have acted on it. With a 10 s backoff a retry would take at least
  // 5 s, far from one slow request (176 ms seen under ASan on a loaded machine, 1.1 s under TSan).
  config.retry.initial_backoff = std::chrono::seconds(10);
  Client post_client(config);
  started = std::chrono::steady_clock::now();
  ApiError once = expect_api_error([&] { post_client.create(broken, "default", {{"metadata", {{"name", "x"}}}}); });
  EXPECT_EQ(once.reason(), ErrorReason::ServerError);
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(5));

  // A watch the server cannot serve fails with the same typed error.
  WatchOptions options;
  options.timeout = std::chrono::seconds(5);
  ApiError watch_error = expect_api_error([&] {
    auto stream = client.watch(broken, "default", options);
    while (stream->next()) {
    }
  });
  EXPECT_EQ(watch_error.code(), 503) << watch_error.what();
}

TEST(ClientRequests, OneClientServesManyThreads) {
  Client& client = admin_client();
  std::string ns = create_namespace(client, "threads");
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 10; ++i) {
        std::string name = "cm-" + std::to_string(t) + "-" + std::to_string(i);
        try {
          client.create(resources::kConfigMaps, ns, config_map(ns, name, {{"t", std::to_string(t)}}));
          if (client.get(resources::kConfigMaps, ns, name)["data"]["t"] != std::to_string(t)) ++failures;
        } catch (const std::exception& e) {
          ADD_FAILURE() << e.what();
          ++failures;
        }
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(client.list(resources::kConfigMaps, ns).items.size(), 80u);
}

TEST(ClientRequests, AnUnreachableServerIsATypedErrorAfterBoundedRetries) {
  ClientConfig config = testing::control_plane().admin_config();
  config.server = "https://127.0.0.1:1";  // nothing listens on port 1
  config.retry.max_attempts = 3;
  config.retry.initial_backoff = std::chrono::milliseconds(20);
  Client client(config);
  auto started = std::chrono::steady_clock::now();
  ApiError error = expect_api_error([&] { client.get(resources::kConfigMaps, "default", "x"); });
  EXPECT_EQ(error.code(), 0);
  EXPECT_EQ(error.reason(), ErrorReason::Unreachable);
  EXPECT_NE(std::string(error.what()).find("127.0.0.1:1"), std::string::npos) << error.what();
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(5));
}

}  // namespace
}  // namespace plano::kube
