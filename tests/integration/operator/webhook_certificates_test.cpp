// The webhook certificate controller in-process against a real kube-apiserver: the Secret and the
// caBundle appear, a second pass writes nothing, deletions and resets are repaired from the watches
// alone (the periodic resync is 10 minutes), and a short-lived certificate rotates on its own.
#include "operator/webhook_certificates.h"

#include <gtest/gtest.h>

#include <iostream>
#include <sstream>

#include "core/encoding/base64.h"
#include "core/http/tls.h"
#include "core/kube/errors.h"
#include "tests/support/control_plane.h"

namespace plano::op {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using testing::admin_client;
using testing::create_namespace;
using testing::eventually;
using testing::unique_name;

const kube::Resource& kSecrets = kube::resources::kSecrets;
const kube::Resource& kConfigurations = kube::resources::kValidatingWebhookConfigurations;

// A configuration whose rules match a group no one serves, so sharing the control plane with
// other tests never routes a request to this (unreachable) webhook.
json configuration(const std::string& name, const std::string& ns) {
  json out = {{"apiVersion", "admissionregistration.k8s.io/v1"},
              {"kind", "ValidatingWebhookConfiguration"},
              {"metadata", {{"name", name}}},
              {"webhooks", json::array()}};
  for (const char* hook : {"providers.plano-operator.io", "gateways.plano-operator.io"}) {
    out["webhooks"].push_back(
        {{"name", hook},
         {"clientConfig",
          {{"service", {{"name", "plano-operator-webhook"}, {"namespace", ns}, {"path", "/validate"}}}, {"caBundle", ""}}},
         {"rules", json::array({{{"apiGroups", {"never.plano-operator.io"}},
                                 {"apiVersions", {"v1"}},
                                 {"operations", {"CREATE"}},
                                 {"resources", {"nothings"}}}})},
         {"failurePolicy", "Ignore"},
         {"sideEffects", "None"},
         {"admissionReviewVersions", {"v1"}}});
  }
  return out;
}

WebhookTlsData decode(const json& secret) {
  auto get = [&](const char* key) {
    const json data = secret.value("data", json::object());
    return data.contains(key) ? encoding::base64_decode(data[key].get<std::string>()).value_or("<bad base64>") : "";
  };
  return {get(kTlsCertKey), get(kTlsKeyKey), get(kCaCertKey), get(kCaKeyKey)};
}

std::string resource_version(const json& object) { return object["metadata"]["resourceVersion"].get<std::string>(); }

class WebhookCertificatesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ns_ = create_namespace(client_, "certs");
    vwc_ = unique_name("plano-certs");
    options_.namespace_ = ns_;
    options_.webhookConfiguration = vwc_;
    options_.initialBackoff = 200ms;
  }
  void TearDown() override {
    // Best effort: a failed test may not have created them.
    try {
      client_.remove(kConfigurations, "", vwc_);
    } catch (const kube::ApiError&) {
    }
    try {
      client_.remove(kube::resources::kNamespaces, "", ns_);
    } catch (const kube::ApiError&) {
    }
  }

  void create_configuration() { client_.create(kConfigurations, "", configuration(vwc_, ns_)); }
  json secret() { return client_.get(kSecrets, ns_, options_.secretName); }
  json vwc() { return client_.get(kConfigurations, "", vwc_); }

  // The Secret holds a sound chain for the Service, and every webhook's caBundle is its ca.crt.
  void expect_consistent(const std::string& context) {
    SCOPED_TRACE(context);
    json s = secret();
    EXPECT_EQ(s["type"], "kubernetes.io/tls");
    auto data = decode(s);
    for (const auto& host : webhook_dns_names(options_.service, ns_)) {
      EXPECT_EQ(verify_serving_certificate(data.tlsCrt, data.caCrt, host, Clock::now()), "") << host;
    }
    EXPECT_NO_THROW(http::make_server_context(data.tlsCrt, data.tlsKey));
    // Named: a range-for over a temporary's member would outlive the temporary (found by TSan).
    json configuration = vwc();
    for (const auto& hook : configuration["webhooks"]) {
      EXPECT_EQ(hook["clientConfig"].value("caBundle", ""), encoding::base64_encode(data.caCrt)) << hook["name"];
    }
  }

  bool ca_bundle_matches_secret() {
    try {
      const std::string wanted = encoding::base64_encode(decode(secret()).caCrt);
      json configuration = vwc();
      for (const auto& hook : configuration["webhooks"]) {
        if (hook["clientConfig"].value("caBundle", "") != wanted) return false;
      }
      return true;
    } catch (const kube::ApiError&) {
      return false;
    }
  }

  // The controller's writes of one kind, from its metrics.
  double written(const std::string& kind) {
    const std::string series = "plano_operator_api_writes_total{kind=\"" + kind + "\"} ";
    std::istringstream lines(metrics_.render());
    for (std::string line; std::getline(lines, line);) {
      if (line.rfind(series, 0) == 0) return std::stod(line.substr(series.size()));
    }
    return 0;
  }

  kube::Client& client_ = admin_client();
  metrics::Registry metrics_;
  WebhookCertificateOptions options_;
  std::string ns_, vwc_;
};

TEST_F(WebhookCertificatesTest, CreatesTheSecretAndCaBundleThenASecondPassWritesNothing) {
  create_configuration();
  EXPECT_EQ(vwc()["webhooks"][0]["clientConfig"].value("caBundle", ""), "");
  WebhookCertificateController controller(client_, metrics_, options_);

  auto first = controller.reconcile();
  EXPECT_EQ(first.writes, 2);  // the Secret's create and one patch for both webhooks
  EXPECT_TRUE(first.configurationFound);
  expect_consistent("after the first pass");
  const auto data = decode(secret());
  EXPECT_EQ(secret()["metadata"]["labels"]["app.kubernetes.io/component"], "webhook-certificates");
  EXPECT_EQ(certificate_validity(data.tlsCrt)->notAfter - certificate_validity(data.tlsCrt)->notBefore,
            std::chrono::hours(24 * 365) + 5min);  // the default validity, backdated for clock skew

  const std::string secret_version = resource_version(secret()), vwc_version = resource_version(vwc());
  auto second = controller.reconcile();
  EXPECT_EQ(second.writes, 0);
  EXPECT_EQ(resource_version(secret()), secret_version);
  EXPECT_EQ(resource_version(vwc()), vwc_version);
  EXPECT_EQ(controller.writes(), 2u);
  EXPECT_NE(metrics_.render().find("plano_operator_webhook_certificate_expiry_timestamp_seconds{certificate=\"serving\"}"),
            std::string::npos);
}

TEST_F(WebhookCertificatesTest, RecreatesADeletedSecretAndUpdatesTheCaBundle) {
  create_configuration();
  WebhookCertificateController controller(client_, metrics_, options_);
  controller.start();
  ASSERT_TRUE(eventually([&] { return ca_bundle_matches_secret(); }, 20s));
  const json before = secret();

  client_.remove(kSecrets, ns_, options_.secretName);
  ASSERT_TRUE(eventually(
      [&] {
        try {
          return secret()["metadata"]["uid"] != before["metadata"]["uid"] && ca_bundle_matches_secret();
        } catch (const kube::ApiError&) {
          return false;
        }
      },
      20s))
      << "the Secret was not recreated, or the caBundle not updated, within 20 s";
  EXPECT_NE(decode(secret()).caCrt, decode(before).caCrt);  // a new CA: the old key is gone with the Secret
  expect_consistent("after recreation");

  // Settled: our own writes echo back through the watches, and those passes write nothing.
  const std::uint64_t writes = controller.writes();
  const std::string secret_version = resource_version(secret()), vwc_version = resource_version(vwc());
  std::this_thread::sleep_for(1500ms);
  EXPECT_EQ(controller.writes(), writes);
  EXPECT_EQ(resource_version(secret()), secret_version);
  EXPECT_EQ(resource_version(vwc()), vwc_version);
}

TEST_F(WebhookCertificatesTest, RestoresACaBundleSomeoneReset) {
  create_configuration();
  WebhookCertificateController controller(client_, metrics_, options_);
  controller.start();
  ASSERT_TRUE(eventually([&] { return ca_bundle_matches_secret(); }, 20s));
  const std::string secret_version = resource_version(secret());

  // What a `helm upgrade` of a chart with an empty caBundle does.
  client_.patch(kConfigurations, "", vwc_, kube::PatchType::Json,
                json::parse(R"([{"op": "replace", "path": "/webhooks/1/clientConfig/caBundle", "value": ""}])"));
  ASSERT_TRUE(eventually([&] { return ca_bundle_matches_secret(); }, 20s)) << "caBundle not restored within 20 s";
  EXPECT_EQ(resource_version(secret()), secret_version);  // the Secret was fine and stays untouched
}

TEST_F(WebhookCertificatesTest, SetsTheCaBundleOfAConfigurationCreatedLater) {
  WebhookCertificateController controller(client_, metrics_, options_);
  auto pass = controller.reconcile();
  EXPECT_FALSE(pass.configurationFound);
  EXPECT_EQ(pass.writes, 1);
  controller.start();
  create_configuration();
  EXPECT_TRUE(eventually([&] { return ca_bundle_matches_secret(); }, 20s));
}

// What makes `helm uninstall` take the CA key with it: the configuration the chart renders owns the
// Secret, which is written only while that owner exists; switching ownership off removes the
// reference (and keeps references others set).
TEST_F(WebhookCertificatesTest, AnOwnedSecretWaitsForItsOwnerAndLosesTheReferenceWhenNoLongerOwned) {
  options_.secretOwnedByConfiguration = true;
  {
    WebhookCertificateController controller(client_, metrics_, options_);
    auto pass = controller.reconcile();
    EXPECT_FALSE(pass.configurationFound);
    EXPECT_EQ(pass.writes, 0);
    EXPECT_THROW(secret(), kube::ApiError) << "an owned Secret was written without its owner";

    create_configuration();
    pass = controller.reconcile();
    EXPECT_EQ(pass.writes, 2);  // the Secret and the caBundle
    const json owners = secret()["metadata"]["ownerReferences"];
    ASSERT_EQ(owners.size(), 1u) << owners;
    EXPECT_EQ(owners[0]["apiVersion"], "admissionregistration.k8s.io/v1");
    EXPECT_EQ(owners[0]["kind"], "ValidatingWebhookConfiguration");
    EXPECT_EQ(owners[0]["name"], vwc_);
    EXPECT_EQ(owners[0]["uid"], vwc()["metadata"]["uid"]);
    EXPECT_FALSE(owners[0].contains("blockOwnerDeletion"));
    EXPECT_EQ(controller.reconcile().writes, 0);
  }

  // Someone else's owner as well; then ownership by the configuration turned off.
  const json keeper = client_.create(kube::resources::kConfigMaps, ns_,
                                     {{"apiVersion", "v1"}, {"kind", "ConfigMap"}, {"metadata", {{"name", "keeper"}, {"namespace", ns_}}}});
  const json other_owner = {{"apiVersion", "v1"}, {"kind", "ConfigMap"}, {"name", "keeper"}, {"uid", keeper["metadata"]["uid"]}};
  json with_other = secret();
  with_other["metadata"]["ownerReferences"].push_back(other_owner);
  client_.update(kSecrets, with_other);
  const auto ca_before = decode(secret()).caCrt;
  options_.secretOwnedByConfiguration = false;
  WebhookCertificateController controller(client_, metrics_, options_);
  EXPECT_EQ(controller.reconcile().writes, 1);
  EXPECT_EQ(secret()["metadata"]["ownerReferences"], json::array({other_owner}));
  EXPECT_EQ(decode(secret()).caCrt, ca_before);  // the certificates stay
  EXPECT_EQ(controller.reconcile().writes, 0);
}

// The manager starts the controller on the election thread, which can run after shutdown began.
TEST_F(WebhookCertificatesTest, StaysStoppedWhenStartedAfterStop) {
  create_configuration();
  WebhookCertificateController controller(client_, metrics_, options_);
  controller.stop();
  controller.start();
  std::this_thread::sleep_for(500ms);  // a started loop makes its first pass at once
  EXPECT_EQ(controller.passes(), 0u);
  EXPECT_THROW(secret(), kube::ApiError);
}

TEST_F(WebhookCertificatesTest, RotatesAShortLivedServingCertificateOnItsOwn) {
  create_configuration();
  options_.servingValidity = 6s;  // rotation due 4 s after issue; the resync (10 min) plays no part
  WebhookCertificateController controller(client_, metrics_, options_);
  controller.start();
  ASSERT_TRUE(eventually([&] { return ca_bundle_matches_secret(); }, 20s));
  const auto first = decode(secret());
  const std::string vwc_version = resource_version(vwc());
  const double ca_bundle_writes = written("ca_bundle");
  const auto first_validity = *certificate_validity(first.tlsCrt);
  EXPECT_EQ(first_validity.notAfter - first_validity.notBefore, 6s);

  ASSERT_TRUE(eventually([&] { return decode(secret()).tlsCrt != first.tlsCrt; }, 15s))
      << "the serving certificate was not rotated within 15 s";
  const auto second = decode(secret());
  EXPECT_GT(certificate_validity(second.tlsCrt)->notAfter, first_validity.notAfter);
  EXPECT_EQ(second.caCrt, first.caCrt);  // the CA is years from its rotation
  // So the caBundle needs no write. The controller's own count decides: once, under CI load, the
  // configuration's resourceVersion moved here without a caBundle change (cause not found yet).
  EXPECT_EQ(written("ca_bundle"), ca_bundle_writes);
  EXPECT_EQ(vwc()["webhooks"][0]["clientConfig"].value("caBundle", ""), encoding::base64_encode(first.caCrt));
  if (resource_version(vwc()) != vwc_version) {
    std::cout << "[ note ] configuration resourceVersion " << vwc_version << " -> " << resource_version(vwc())
              << " with the same caBundle: " << vwc()["metadata"].dump() << "\n";
  }
  // Rotated before expiry: the new one was issued while the old one was still valid.
  EXPECT_LT(certificate_validity(second.tlsCrt)->notBefore, first_validity.notAfter);
  expect_consistent("after rotation");
}

TEST_F(WebhookCertificatesTest, RotatesASecretWhoseCertificateIsAboutToExpire) {
  create_configuration();
  options_.servingValidity = 1h;
  // A Secret issued 50 minutes ago for an hour: 10 minutes left, under the third (20 minutes).
  auto old = plan_certificates(std::nullopt, {options_.service, ns_, 1h, std::chrono::hours(87600)}, Clock::now() - 50min).data;
  client_.create(kSecrets, ns_,
                 {{"metadata", {{"name", options_.secretName}}},
                  {"type", "kubernetes.io/tls"},
                  {"data", {{kTlsCertKey, encoding::base64_encode(old.tlsCrt)},
                            {kTlsKeyKey, encoding::base64_encode(old.tlsKey)},
                            {kCaCertKey, encoding::base64_encode(old.caCrt)},
                            {kCaKeyKey, encoding::base64_encode(old.caKey)}}}});
  WebhookCertificateController controller(client_, metrics_, options_);
  auto pass = controller.reconcile();
  ASSERT_EQ(pass.reasons.size(), 1u);
  EXPECT_NE(pass.reasons[0].find("third or less of its validity left"), std::string::npos) << pass.reasons[0];
  const auto now = decode(secret());
  EXPECT_NE(now.tlsCrt, old.tlsCrt);
  EXPECT_EQ(now.caCrt, old.caCrt);
  EXPECT_GT(certificate_validity(now.tlsCrt)->notAfter, Clock::now() + 55min);
  expect_consistent("after rotation");
  EXPECT_EQ(controller.reconcile().writes, 0);
}

TEST_F(WebhookCertificatesTest, ReplacesASecretOfAnotherType) {
  create_configuration();
  client_.create(kSecrets, ns_, {{"metadata", {{"name", options_.secretName}}}, {"type", "Opaque"}, {"data", {{"x", "eA=="}}}});
  WebhookCertificateController controller(client_, metrics_, options_);
  auto pass = controller.reconcile();
  EXPECT_EQ(pass.writes, 3);  // delete, create, caBundle
  expect_consistent("after replacement");
  EXPECT_EQ(controller.reconcile().writes, 0);
}

}  // namespace
}  // namespace plano::op
