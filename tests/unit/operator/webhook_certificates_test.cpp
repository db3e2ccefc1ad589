#include "operator/webhook_certificates.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include <memory>
#include <set>

#include "core/encoding/base64.h"
#include "core/http/tls.h"

namespace plano::op {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

// 2026-01-01T00:00:00Z: fixed, so every test knows where it stands in a certificate's life.
const Clock::time_point kNow = Clock::from_time_t(1767225600);
const CertificateRequirements kRequirements{"hook", "system", std::chrono::hours(3), std::chrono::hours(30)};

struct X509Free {
  void operator()(X509* p) const { X509_free(p); }
};
using X509Ptr = std::unique_ptr<X509, X509Free>;

X509Ptr parse(const std::string& pem, int index = 0) {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())), BIO_free);
  X509Ptr cert;
  for (int i = 0; i <= index; ++i) cert.reset(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  return cert;
}

int count_certificates(const std::string& pem) {
  int n = 0;
  for (auto at = pem.find("BEGIN CERTIFICATE"); at != std::string::npos; at = pem.find("BEGIN CERTIFICATE", at + 1)) ++n;
  return n;
}

std::string curve_of_key(const std::string& key_pem) {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new_mem_buf(key_pem.data(), static_cast<int>(key_pem.size())), BIO_free);
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr),
                                                          EVP_PKEY_free);
  if (!key) return "<no key>";
  char name[64] = {};
  size_t length = 0;
  if (EVP_PKEY_get_group_name(key.get(), name, sizeof name, &length) != 1) return "<no group>";
  return name;
}

std::set<std::string> dns_names_of(X509* cert) {
  std::set<std::string> out;
  auto* names = static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  for (int i = 0; names && i < sk_GENERAL_NAME_num(names); ++i) {
    const GENERAL_NAME* name = sk_GENERAL_NAME_value(names, i);
    if (name->type == GEN_DNS) {
      out.insert(std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(name->d.dNSName)),
                             static_cast<size_t>(ASN1_STRING_length(name->d.dNSName))));
    }
  }
  GENERAL_NAMES_free(names);
  return out;
}

bool extension_is_critical(X509* cert, int nid) {
  int at = X509_get_ext_by_NID(cert, nid, -1);
  return at >= 0 && X509_EXTENSION_get_critical(X509_get_ext(cert, at)) == 1;
}

// An independent check of the chain (default flags, not the code under test's strict ones):
// X509_verify_cert for a TLS server named `host` at `at`.
int verify_chain(const std::string& leaf_pem, const std::string& ca_pem, const std::string& host, Clock::time_point at) {
  X509Ptr leaf = parse(leaf_pem);
  std::unique_ptr<X509_STORE, decltype(&X509_STORE_free)> store(X509_STORE_new(), X509_STORE_free);
  for (int i = 0; i < count_certificates(ca_pem); ++i) X509_STORE_add_cert(store.get(), parse(ca_pem, i).get());
  std::unique_ptr<X509_STORE_CTX, decltype(&X509_STORE_CTX_free)> ctx(X509_STORE_CTX_new(), X509_STORE_CTX_free);
  X509_STORE_CTX_init(ctx.get(), store.get(), leaf.get(), nullptr);
  X509_VERIFY_PARAM_set_time(X509_STORE_CTX_get0_param(ctx.get()), Clock::to_time_t(at));
  X509_VERIFY_PARAM_set1_host(X509_STORE_CTX_get0_param(ctx.get()), host.c_str(), host.size());
  X509_STORE_CTX_set_purpose(ctx.get(), X509_PURPOSE_SSL_SERVER);
  return X509_verify_cert(ctx.get()) == 1 ? X509_V_OK : X509_STORE_CTX_get_error(ctx.get());
}

WebhookTlsData fresh(Clock::time_point at = kNow) {
  auto plan = plan_certificates(std::nullopt, kRequirements, at);
  EXPECT_TRUE(plan.changed);
  return plan.data;
}

TEST(WebhookCertificates, DnsNamesCoverEveryWayTheServiceIsAddressed) {
  EXPECT_EQ(webhook_dns_names("hook", "system"),
            (std::vector<std::string>{"hook", "hook.system", "hook.system.svc", "hook.system.svc.cluster.local"}));
}

TEST(WebhookCertificates, CaIsAP256CaWithKeyCertSignForTenYears) {
  auto ca = issue_ca(std::chrono::hours(24 * 3650), kNow);
  X509Ptr cert = parse(ca.certPem);
  ASSERT_TRUE(cert);
  EXPECT_EQ(X509_check_ca(cert.get()), 1);
  auto* constraints = static_cast<BASIC_CONSTRAINTS*>(X509_get_ext_d2i(cert.get(), NID_basic_constraints, nullptr, nullptr));
  ASSERT_NE(constraints, nullptr);
  EXPECT_TRUE(constraints->ca);
  ASSERT_NE(constraints->pathlen, nullptr);
  EXPECT_EQ(ASN1_INTEGER_get(constraints->pathlen), 0);
  BASIC_CONSTRAINTS_free(constraints);
  EXPECT_TRUE(extension_is_critical(cert.get(), NID_basic_constraints));
  EXPECT_TRUE(extension_is_critical(cert.get(), NID_key_usage));
  EXPECT_TRUE(X509_get_key_usage(cert.get()) & KU_KEY_CERT_SIGN);
  EXPECT_EQ(curve_of_key(ca.keyPem), "prime256v1");
  EXPECT_EQ(X509_NAME_cmp(X509_get_subject_name(cert.get()), X509_get_issuer_name(cert.get())), 0);
  auto validity = certificate_validity(ca.certPem);
  ASSERT_TRUE(validity);
  EXPECT_EQ(validity->notAfter, kNow + std::chrono::hours(24 * 3650));
  EXPECT_LE(validity->notBefore, kNow);
  EXPECT_GE(validity->notBefore, kNow - 5min);
}

TEST(WebhookCertificates, ServingCertificateNamesTheServiceAndChainsToTheCa) {
  auto ca = issue_ca(std::chrono::hours(30), kNow);
  const auto names = webhook_dns_names("hook", "system");
  auto serving = issue_serving_certificate(ca, names, std::chrono::hours(3), kNow);
  X509Ptr cert = parse(serving.certPem);
  ASSERT_TRUE(cert);
  EXPECT_EQ(dns_names_of(cert.get()), std::set<std::string>(names.begin(), names.end()));
  EXPECT_EQ(X509_check_ca(cert.get()), 0);
  EXPECT_EQ(X509_get_key_usage(cert.get()), static_cast<uint32_t>(KU_DIGITAL_SIGNATURE));
  EXPECT_TRUE(X509_get_extended_key_usage(cert.get()) & XKU_SSL_SERVER);
  EXPECT_EQ(curve_of_key(serving.keyPem), "prime256v1");
  EXPECT_EQ(certificate_validity(serving.certPem)->notAfter, kNow + 3h);

  for (const auto& host : names) {
    EXPECT_EQ(verify_chain(serving.certPem, ca.certPem, host, kNow + 1min), X509_V_OK) << host;
    EXPECT_EQ(verify_serving_certificate(serving.certPem, ca.certPem, host, kNow + 1min), "") << host;
  }
  EXPECT_EQ(verify_chain(serving.certPem, ca.certPem, "other.system.svc", kNow), X509_V_ERR_HOSTNAME_MISMATCH);
  EXPECT_EQ(verify_chain(serving.certPem, ca.certPem, "hook", kNow + 3h + 1s), X509_V_ERR_CERT_HAS_EXPIRED);
  auto other_ca = issue_ca(std::chrono::hours(30), kNow);
  EXPECT_EQ(verify_chain(serving.certPem, other_ca.certPem, "hook", kNow), X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY);
  EXPECT_NE(verify_serving_certificate(serving.certPem, other_ca.certPem, "hook", kNow), "");
  // A TLS server accepts the pair as it is written into the Secret.
  EXPECT_NO_THROW(http::make_server_context(serving.certPem, serving.keyPem));
}

TEST(WebhookCertificates, ServingCertificateNeverOutlivesItsCa) {
  auto ca = issue_ca(std::chrono::hours(2), kNow);
  auto serving = issue_serving_certificate(ca, {"hook"}, std::chrono::hours(24), kNow);
  EXPECT_EQ(certificate_validity(serving.certPem)->notAfter, certificate_validity(ca.certPem)->notAfter);
}

TEST(WebhookCertificates, RotationStartsWhenAThirdOfTheValidityRemains) {
  const auto start = kNow, end = kNow + 3h;
  EXPECT_EQ(rotation_time(start, end), kNow + 2h);
  EXPECT_FALSE(needs_rotation(start, end, start));
  EXPECT_FALSE(needs_rotation(start, end, kNow + 2h - 1s));
  EXPECT_TRUE(needs_rotation(start, end, kNow + 2h));
  EXPECT_TRUE(needs_rotation(start, end, end + 1h));    // expired
  EXPECT_TRUE(needs_rotation(start, end, start - 1s));  // not yet valid
}

TEST(WebhookCertificates, PlanCreatesEverythingForAMissingSecret) {
  auto plan = plan_certificates(std::nullopt, kRequirements, kNow);
  EXPECT_TRUE(plan.changed);
  EXPECT_EQ(count_certificates(plan.data.caCrt), 1);
  EXPECT_EQ(count_certificates(plan.data.tlsCrt), 1);
  for (const auto& host : webhook_dns_names("hook", "system")) {
    EXPECT_EQ(verify_chain(plan.data.tlsCrt, plan.data.caCrt, host, kNow), X509_V_OK) << host;
  }
  X509Ptr ca = parse(plan.data.caCrt);
  EXPECT_EQ(X509_check_ca(ca.get()), 1);
  auto serving = *certificate_validity(plan.data.tlsCrt);
  EXPECT_EQ(plan.nextCheck, rotation_time(serving.notBefore, serving.notAfter));  // the serving cert is due first
}

TEST(WebhookCertificates, PlanOnItsOwnResultChangesNothing) {
  auto data = fresh();
  auto again = plan_certificates(data, kRequirements, kNow + 1h);
  EXPECT_FALSE(again.changed) << again.reasons.front();
  EXPECT_EQ(again.data, data);
  EXPECT_TRUE(again.reasons.empty());
}

TEST(WebhookCertificates, PlanRotatesTheServingCertificateAtTheThresholdAndKeepsTheCa) {
  auto data = fresh();
  auto serving = *certificate_validity(data.tlsCrt);
  const auto due = rotation_time(serving.notBefore, serving.notAfter);

  auto before = plan_certificates(data, kRequirements, due - 1s);
  EXPECT_FALSE(before.changed);
  EXPECT_EQ(before.nextCheck, due);

  auto at = plan_certificates(data, kRequirements, due);
  ASSERT_TRUE(at.changed);
  EXPECT_NE(at.data.tlsCrt, data.tlsCrt);
  EXPECT_NE(at.data.tlsKey, data.tlsKey);
  EXPECT_EQ(at.data.caCrt, data.caCrt);
  EXPECT_EQ(at.data.caKey, data.caKey);
  EXPECT_EQ(certificate_validity(at.data.tlsCrt)->notAfter, due + 3h);
  EXPECT_EQ(verify_chain(at.data.tlsCrt, at.data.caCrt, "hook.system.svc", due), X509_V_OK);
  ASSERT_EQ(at.reasons.size(), 1u);
  EXPECT_NE(at.reasons[0].find("third"), std::string::npos) << at.reasons[0];
}

TEST(WebhookCertificates, PlanRotatesTheCaKeepingTheOldOneTrustedUntilItExpires) {
  auto data = fresh();
  auto ca = *certificate_validity(data.caCrt);
  const auto due = rotation_time(ca.notBefore, ca.notAfter);
  // Walk the serving certificate forward as the controller would, so only the CA is due at `due`.
  data = plan_certificates(data, kRequirements, due - 1h).data;
  ASSERT_FALSE(plan_certificates(data, kRequirements, due - 1s).changed);

  auto rotated = plan_certificates(data, kRequirements, due);
  ASSERT_TRUE(rotated.changed);
  EXPECT_NE(rotated.data.caKey, data.caKey);
  ASSERT_EQ(count_certificates(rotated.data.caCrt), 2);
  EXPECT_EQ(rotated.data.caCrt.substr(rotated.data.caCrt.size() - data.caCrt.size()), data.caCrt);  // old CA second
  // Both serving certificates verify against the new bundle: the webhook may still serve the old.
  EXPECT_EQ(verify_chain(rotated.data.tlsCrt, rotated.data.caCrt, "hook.system.svc", due), X509_V_OK);
  EXPECT_EQ(verify_chain(data.tlsCrt, rotated.data.caCrt, "hook.system.svc", due), X509_V_OK);
  // And the new serving certificate is signed by the new CA, not the old one.
  EXPECT_NE(verify_chain(rotated.data.tlsCrt, data.caCrt, "hook.system.svc", due), X509_V_OK);
  auto new_serving = *certificate_validity(rotated.data.tlsCrt);
  EXPECT_EQ(rotated.nextCheck, rotation_time(new_serving.notBefore, new_serving.notAfter));

  auto steady = plan_certificates(rotated.data, kRequirements, due + 1min);
  EXPECT_FALSE(steady.changed);

  auto after_expiry = plan_certificates(rotated.data, kRequirements, ca.notAfter + 1s);
  ASSERT_TRUE(after_expiry.changed);
  EXPECT_EQ(count_certificates(after_expiry.data.caCrt), 1);
  EXPECT_EQ(after_expiry.data.caKey, rotated.data.caKey);
  EXPECT_EQ(after_expiry.data.caCrt, rotated.data.caCrt.substr(0, after_expiry.data.caCrt.size()));
}

TEST(WebhookCertificates, PlanRepairsAMismatchedKeyWithANewServingCertificate) {
  auto data = fresh();
  auto other = fresh();
  auto broken = data;
  broken.tlsKey = other.tlsKey;
  auto plan = plan_certificates(broken, kRequirements, kNow);
  ASSERT_TRUE(plan.changed);
  EXPECT_EQ(plan.data.caCrt, data.caCrt);
  EXPECT_NE(plan.data.tlsCrt, data.tlsCrt);
  EXPECT_NO_THROW(http::make_server_context(plan.data.tlsCrt, plan.data.tlsKey));
  EXPECT_NE(plan.reasons.at(0).find("tls.key does not match tls.crt"), std::string::npos) << plan.reasons.at(0);
}

TEST(WebhookCertificates, PlanRepairsACertificateForAnotherService) {
  auto data = fresh();
  auto moved = kRequirements;
  moved.service = "hook-v2";
  auto plan = plan_certificates(data, moved, kNow);
  ASSERT_TRUE(plan.changed);
  EXPECT_EQ(plan.data.caCrt, data.caCrt);
  EXPECT_EQ(verify_chain(plan.data.tlsCrt, plan.data.caCrt, "hook-v2.system.svc", kNow), X509_V_OK);
  EXPECT_NE(verify_chain(plan.data.tlsCrt, plan.data.caCrt, "hook.system.svc", kNow), X509_V_OK);
}

TEST(WebhookCertificates, PlanRepairsACertificateNamingMoreThanTheService) {
  auto data = fresh();
  auto names = webhook_dns_names("hook", "system");
  names.push_back("attacker.example.com");
  auto wide = issue_serving_certificate({data.caCrt, data.caKey}, names, std::chrono::hours(3), kNow);
  auto with_wide = data;
  with_wide.tlsCrt = wide.certPem;
  with_wide.tlsKey = wide.keyPem;
  ASSERT_EQ(verify_chain(wide.certPem, data.caCrt, "hook.system.svc", kNow), X509_V_OK);  // usable, but too wide
  auto plan = plan_certificates(with_wide, kRequirements, kNow);
  ASSERT_TRUE(plan.changed);
  EXPECT_EQ(plan.data.caCrt, data.caCrt);
  EXPECT_EQ(verify_chain(plan.data.tlsCrt, plan.data.caCrt, "attacker.example.com", kNow), X509_V_ERR_HOSTNAME_MISMATCH);
}

TEST(WebhookCertificates, PlanRepairsAServingCertificateFromAnotherCa) {
  auto data = fresh();
  auto other = fresh();
  auto mixed = data;
  mixed.tlsCrt = other.tlsCrt;
  mixed.tlsKey = other.tlsKey;
  auto plan = plan_certificates(mixed, kRequirements, kNow);
  ASSERT_TRUE(plan.changed);
  EXPECT_EQ(plan.data.caCrt, data.caCrt);
  EXPECT_EQ(verify_chain(plan.data.tlsCrt, data.caCrt, "hook", kNow), X509_V_OK);
}

TEST(WebhookCertificates, PlanReplacesAnUnusableCaButStillTrustsItsCertificate) {
  auto data = fresh();
  auto broken = data;
  broken.caKey = "-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n";
  auto plan = plan_certificates(broken, kRequirements, kNow);
  ASSERT_TRUE(plan.changed);
  EXPECT_NE(plan.data.caKey, broken.caKey);
  EXPECT_EQ(count_certificates(plan.data.caCrt), 2);
  EXPECT_EQ(verify_chain(data.tlsCrt, plan.data.caCrt, "hook", kNow), X509_V_OK);  // still served until pods reload
  EXPECT_EQ(verify_chain(plan.data.tlsCrt, plan.data.caCrt, "hook", kNow), X509_V_OK);
}

TEST(WebhookCertificates, PlanRepairsGarbage) {
  WebhookTlsData garbage{"junk", "junk", "junk", "junk"};
  auto plan = plan_certificates(garbage, kRequirements, kNow);
  ASSERT_TRUE(plan.changed);
  EXPECT_EQ(count_certificates(plan.data.caCrt), 1);
  EXPECT_EQ(verify_chain(plan.data.tlsCrt, plan.data.caCrt, "hook.system.svc.cluster.local", kNow), X509_V_OK);
  EXPECT_FALSE(plan_certificates(plan.data, kRequirements, kNow).changed);
}

TEST(WebhookCertificates, PlanDropsExpiredCasFromTheBundle) {
  auto data = fresh();
  auto old = issue_ca(1h, kNow - 2h);  // expired an hour ago
  auto with_old = data;
  with_old.caCrt += old.certPem;
  auto plan = plan_certificates(with_old, kRequirements, kNow);
  ASSERT_TRUE(plan.changed);
  EXPECT_EQ(plan.data, data);
}

json configuration(const std::vector<std::pair<std::string, std::optional<std::string>>>& webhooks) {
  json out = {{"apiVersion", "admissionregistration.k8s.io/v1"},
              {"kind", "ValidatingWebhookConfiguration"},
              {"metadata", {{"name", "plano-operator"}}},
              {"webhooks", json::array()}};
  for (const auto& [name, bundle] : webhooks) {
    json hook = {{"name", name},
                 {"clientConfig", {{"service", {{"name", "hook"}, {"namespace", "system"}, {"path", "/validate"}}}}}};
    if (bundle) hook["clientConfig"]["caBundle"] = *bundle;
    out["webhooks"].push_back(hook);
  }
  return out;
}

TEST(WebhookCertificates, CaBundlePatchSetsOnlyTheWebhooksThatDiffer) {
  const std::string ca = fresh().caCrt;
  const std::string b64 = encoding::base64_encode(ca);
  auto vwc = configuration({{"a.plano-operator.io", std::nullopt}, {"b.plano-operator.io", b64}, {"c.plano-operator.io", "c3RhbGU="}});
  auto patch = ca_bundle_patch(vwc, ca);
  EXPECT_EQ(patch, json::parse(R"([
    {"op": "test", "path": "/webhooks/0/name", "value": "a.plano-operator.io"},
    {"op": "add", "path": "/webhooks/0/clientConfig/caBundle", "value": ")" + b64 + R"("},
    {"op": "test", "path": "/webhooks/2/name", "value": "c.plano-operator.io"},
    {"op": "add", "path": "/webhooks/2/clientConfig/caBundle", "value": ")" + b64 + R"("}
  ])"));
  auto patched = vwc.patch(patch);
  for (const auto& hook : patched["webhooks"]) EXPECT_EQ(hook["clientConfig"]["caBundle"], b64) << hook["name"];
  EXPECT_EQ(patched["webhooks"][0]["clientConfig"]["service"]["name"], "hook");  // the rest is untouched
  EXPECT_TRUE(ca_bundle_patch(patched, ca).empty());
}

TEST(WebhookCertificates, CaBundlePatchFailsRatherThanWriteToAReorderedWebhook) {
  const std::string ca = fresh().caCrt;
  auto patch = ca_bundle_patch(configuration({{"a", std::nullopt}, {"b", ""}}), ca);
  auto reordered = configuration({{"b", ""}, {"a", std::nullopt}, {"c", ""}});
  EXPECT_THROW(reordered.patch(patch), json::other_error);
}

TEST(WebhookCertificates, CaBundlePatchOfAConfigurationWithoutWebhooksIsEmpty) {
  json vwc = {{"metadata", {{"name", "plano-operator"}}}};
  EXPECT_TRUE(ca_bundle_patch(vwc, "x").empty());
}

}  // namespace
}  // namespace plano::op
