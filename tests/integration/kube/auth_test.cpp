// Authentication (client certificate, service-account tokens), RBAC denials
// and server verification against a real kube-apiserver.
#include <gtest/gtest.h>

#include <fstream>
#include <mutex>
#include <thread>

#include "core/kube/client.h"
#include "tests/support/control_plane.h"

namespace plano::kube {
namespace {

using namespace std::chrono_literals;
using testing::admin_client;
using testing::control_plane;
using testing::create_namespace;
using testing::eventually;
using testing::expect_api_error;

const Resource kRoles{"rbac.authorization.k8s.io", "v1", "roles", "Role", true};
const Resource kRoleBindings{"rbac.authorization.k8s.io", "v1", "rolebindings", "RoleBinding", true};
const Resource kSelfSubjectReviews{"authentication.k8s.io", "v1", "selfsubjectreviews", "SelfSubjectReview", false};

std::string whoami(ApiClient& client) {
  json review = client.create(kSelfSubjectReviews, "", json::object());
  return review["status"]["userInfo"]["username"];
}

// A ServiceAccount allowed to read ConfigMaps (and nothing else) in its namespace.
struct Reader {
  std::string ns;
  std::string account = "reader";

  explicit Reader(ApiClient& admin) : ns(create_namespace(admin, "auth")) {
    admin.create(resources::kServiceAccounts, ns, {{"metadata", {{"name", account}}}});
    admin.create(kRoles, ns,
                 {{"metadata", {{"name", "configmap-reader"}}},
                  {"rules", json::array({{{"apiGroups", {""}},
                                          {"resources", {"configmaps"}},
                                          {"verbs", {"get", "list", "watch"}}}})}});
    admin.create(kRoleBindings, ns,
                 {{"metadata", {{"name", "reader-reads-configmaps"}}},
                  {"roleRef", {{"apiGroup", "rbac.authorization.k8s.io"}, {"kind", "Role"}, {"name", "configmap-reader"}}},
                  {"subjects", json::array({{{"kind", "ServiceAccount"}, {"name", account}, {"namespace", ns}}})}});
  }

  // A fresh token from the TokenRequest API.
  std::string token(ApiClient& admin) const {
    json request = {{"apiVersion", "authentication.k8s.io/v1"},
                    {"kind", "TokenRequest"},
                    {"spec", {{"expirationSeconds", 600}}}};
    json response = admin.create_subresource(resources::kServiceAccounts, ns, account, "token", request);
    return response["status"]["token"];
  }
};

// Server and CA of the control plane, no client certificate: only the token authenticates.
ClientConfig token_only(std::shared_ptr<TokenSource> token) {
  ClientConfig admin = control_plane().admin_config();
  ClientConfig config;
  config.server = admin.server;
  config.ca_pem = admin.ca_pem;
  config.token = std::move(token);
  config.origin = "token-only test config";
  return config;
}

TEST(Auth, AClientCertificateIdentifiesTheAdmin) {
  EXPECT_EQ(whoami(admin_client()), "plano-admin");
}

TEST(Auth, AServiceAccountTokenAuthenticatesAndRbacDenialsAreForbidden) {
  Client& admin = admin_client();
  Reader reader(admin);
  admin.create(resources::kConfigMaps, reader.ns, {{"metadata", {{"name", "visible"}}}});
  Client client(token_only(TokenSource::fixed(reader.token(admin))));

  EXPECT_EQ(whoami(client), "system:serviceaccount:" + reader.ns + ":reader");
  // RBAC follows new bindings through its own informers, so allow it a moment.
  ASSERT_TRUE(eventually(
      [&] {
        try {
          return client.list(resources::kConfigMaps, reader.ns).items.size() == 1;
        } catch (const ApiError&) {
          return false;
        }
      },
      5s));
  EXPECT_EQ(client.get(resources::kConfigMaps, reader.ns, "visible")["metadata"]["name"], "visible");

  ApiError denied = expect_api_error([&] { client.list(resources::kSecrets, reader.ns); });
  EXPECT_EQ(denied.code(), 403);
  EXPECT_EQ(denied.reason(), ErrorReason::Forbidden);
  EXPECT_NE(denied.message().find("system:serviceaccount:" + reader.ns + ":reader"), std::string::npos)
      << denied.message();

  ApiError write_denied =
      expect_api_error([&] { client.create(resources::kConfigMaps, reader.ns, {{"metadata", {{"name", "no"}}}}); });
  EXPECT_EQ(write_denied.reason(), ErrorReason::Forbidden);

  // A watch the token may not open fails with the same typed error.
  WatchOptions options;
  options.timeout = 5s;
  ApiError watch_denied = expect_api_error([&] {
    auto stream = client.watch(resources::kSecrets, reader.ns, options);
    while (stream->next()) {
    }
  });
  EXPECT_EQ(watch_denied.reason(), ErrorReason::Forbidden);
}

TEST(Auth, ABadTokenIsUnauthorized) {
  Client client(token_only(TokenSource::fixed("not-a-token")));
  ApiError error = expect_api_error([&] { client.list(resources::kConfigMaps, "default"); });
  EXPECT_EQ(error.code(), 401);
  EXPECT_EQ(error.reason(), ErrorReason::Unauthorized);
}

TEST(Auth, ATokenFileIsReReadRightAfterA401) {
  Client& admin = admin_client();
  Reader reader(admin);
  std::string good = reader.token(admin);
  std::string path = (control_plane().dir() / testing::unique_name("token")).string();
  std::ofstream(path) << "stale-token\n";

  // Cached for an hour: only the 401 can make the client look at the file again.
  auto source = TokenSource::from_file(path, {}, std::chrono::hours(1));
  EXPECT_EQ(source->token(), "stale-token");
  std::ofstream(path) << good << "\n";  // the kubelet rotated the projected token

  Client client(token_only(source));
  EXPECT_EQ(whoami(client), "system:serviceaccount:" + reader.ns + ":reader");
  EXPECT_EQ(source->token(), good);
  std::remove(path.c_str());
}

TEST(Auth, TheServerCertificateIsVerified) {
  ClientConfig config = control_plane().admin_config();
  config.ca_pem.clear();  // system roots do not know the test CA
  config.retry.max_attempts = 1;
  Client untrusting(config);
  ApiError error = expect_api_error([&] { untrusting.get_path("/version"); });
  EXPECT_EQ(error.code(), 0);
  EXPECT_EQ(error.reason(), ErrorReason::Unreachable);

  // A client certificate is not a CA either.
  config.ca_pem = control_plane().admin_config().client_cert_pem;
  Client wrong_ca(config);
  EXPECT_EQ(expect_api_error([&] { wrong_ca.get_path("/version"); }).reason(), ErrorReason::Unreachable);

  config.ca_pem.clear();
  config.insecure_skip_tls_verify = true;
  Client insecure(config);
  EXPECT_EQ(whoami(insecure), "plano-admin");
}

// API Priority and Fairness throttling only the reader's requests: a priority level with the smallest
// share of the server's concurrency that rejects (429) instead of queueing.
void throttle(ApiClient& admin, const Reader& reader) {
  const Resource levels{"flowcontrol.apiserver.k8s.io", "v1", "prioritylevelconfigurations",
                        "PriorityLevelConfiguration", false};
  const Resource schemas{"flowcontrol.apiserver.k8s.io", "v1", "flowschemas", "FlowSchema", false};
  std::string name = "plano-test-" + reader.ns;
  admin.create(levels, "",
               {{"metadata", {{"name", name}}},
                {"spec",
                 {{"type", "Limited"},
                  {"limited",
                   {{"nominalConcurrencyShares", 1}, {"lendablePercent", 0}, {"limitResponse", {{"type", "Reject"}}}}}}}});
  admin.create(
      schemas, "",
      {{"metadata", {{"name", name}}},
       {"spec",
        {{"priorityLevelConfiguration", {{"name", name}}},
         {"matchingPrecedence", 100},
         {"distinguisherMethod", {{"type", "ByUser"}}},
         {"rules", json::array({{{"subjects", json::array({{{"kind", "ServiceAccount"},
                                                             {"serviceAccount",
                                                              {{"name", reader.account}, {"namespace", reader.ns}}}}})},
                                 {"resourceRules", json::array({{{"verbs", {"*"}},
                                                                 {"apiGroups", {"*"}},
                                                                 {"resources", {"*"}},
                                                                 {"namespaces", {"*"}}}})}}})}}}});
}

// Runs `threads` x `per_thread` lists concurrently; returns the TooManyRequests errors seen.
std::vector<ApiError> flood(Client& client, const std::string& ns, int threads, int per_thread) {
  std::mutex mu;
  std::vector<ApiError> throttled;
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&] {
      for (int i = 0; i < per_thread; ++i) {
        try {
          client.list(resources::kConfigMaps, ns);
        } catch (const ApiError& e) {
          std::lock_guard lock(mu);
          if (e.is(ErrorReason::TooManyRequests)) {
            throttled.push_back(e);
          } else {
            ADD_FAILURE() << e.what();
          }
        }
      }
    });
  }
  for (auto& w : workers) w.join();
  return throttled;
}

TEST(Auth, TooManyRequestsIsTypedAndRetriedAfterRetryAfter) {
  Client& admin = admin_client();
  Reader reader(admin);
  for (int i = 0; i < 50; ++i) {
    admin.create(resources::kConfigMaps, reader.ns,
                 {{"metadata", {{"name", "cm-" + std::to_string(i)}}}, {"data", {{"blob", std::string(4000, 'x')}}}});
  }
  std::string token = reader.token(admin);
  throttle(admin, reader);

  ClientConfig impatient_config = token_only(TokenSource::fixed(token));
  impatient_config.retry.max_attempts = 1;
  Client impatient(impatient_config);
  std::vector<ApiError> throttled;
  ASSERT_TRUE(eventually(
      [&] {
        throttled = flood(impatient, reader.ns, 16, 5);
        return !throttled.empty();
      },
      10s, 100ms))
      << "the server never answered 429";
  EXPECT_EQ(throttled[0].code(), 429);
  ASSERT_TRUE(throttled[0].retry_after()) << "APF answers 429 with Retry-After";
  EXPECT_GE(throttled[0].retry_after()->count(), 1);

  // The same load through a client that retries completes, each 429 waiting out its Retry-After.
  ClientConfig patient_config = token_only(TokenSource::fixed(token));
  patient_config.retry.max_attempts = 30;
  Client patient(patient_config);
  EXPECT_TRUE(flood(patient, reader.ns, 8, 3).empty());
}

TEST(Auth, UnusableTlsMaterialIsAConfigErrorAtConstruction) {
  ClientConfig config = control_plane().admin_config();
  config.client_key_pem = "-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n";
  EXPECT_THROW(Client{config}, ConfigError);
}

}  // namespace
}  // namespace plano::kube
