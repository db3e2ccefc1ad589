#include "operator/webhook_certificates.h"

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <ctime>
#include <memory>
#include <set>
#include <stdexcept>

#include "core/encoding/base64.h"
#include "core/kube/backoff.h"
#include "core/kube/errors.h"
#include "operator/desired_objects.h"

namespace plano::op {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

struct X509Free {
  void operator()(X509* p) const { X509_free(p); }
};
struct PkeyFree {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
struct BioFree {
  void operator()(BIO* p) const { BIO_free_all(p); }
};
struct StoreFree {
  void operator()(X509_STORE* p) const { X509_STORE_free(p); }
};
struct StoreCtxFree {
  void operator()(X509_STORE_CTX* p) const { X509_STORE_CTX_free(p); }
};
struct BnFree {
  void operator()(BIGNUM* p) const { BN_free(p); }
};
struct NamesFree {
  void operator()(GENERAL_NAMES* p) const { GENERAL_NAMES_free(p); }
};
using X509Ptr = std::unique_ptr<X509, X509Free>;
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;
using BioPtr = std::unique_ptr<BIO, BioFree>;

std::string openssl_error(const std::string& what) {
  unsigned long code = ERR_get_error();
  ERR_clear_error();
  char text[256] = "unknown OpenSSL error";
  if (code != 0) ERR_error_string_n(code, text, sizeof text);
  return what + ": " + text;
}

void check(bool ok, const std::string& what) {
  if (!ok) throw std::runtime_error(openssl_error(what));
}

BioPtr memory_bio(const std::string& text) {
  BioPtr bio(BIO_new_mem_buf(text.data(), static_cast<int>(text.size())));
  check(bio != nullptr, "BIO_new_mem_buf");
  return bio;
}

std::string bio_text(BIO* bio) {
  char* data = nullptr;
  long length = BIO_get_mem_data(bio, &data);
  return length > 0 ? std::string(data, static_cast<std::size_t>(length)) : std::string();
}

// Refuses encrypted keys instead of letting OpenSSL's default callback prompt on the terminal.
int no_password(char*, int, int, void*) { return 0; }

PkeyPtr parse_key(const std::string& pem) {
  if (pem.empty()) return nullptr;
  auto bio = memory_bio(pem);
  PkeyPtr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, no_password, nullptr));
  ERR_clear_error();
  return key;
}

// Every certificate in `pem`; `complete` is false when some block did not parse.
struct ParsedCertificates {
  std::vector<X509Ptr> certificates;
  bool complete = true;
};
ParsedCertificates parse_certificates(const std::string& pem) {
  ParsedCertificates out;
  if (pem.empty()) return out;
  auto bio = memory_bio(pem);
  while (true) {
    X509Ptr cert(PEM_read_bio_X509(bio.get(), nullptr, no_password, nullptr));
    if (!cert) {
      unsigned long error = ERR_peek_last_error();
      // Running out of PEM blocks is the normal end; anything else is a damaged block.
      bool end = ERR_GET_LIB(error) == ERR_LIB_PEM && ERR_GET_REASON(error) == PEM_R_NO_START_LINE;
      if (!end) out.complete = false;
      ERR_clear_error();
      break;
    }
    out.certificates.push_back(std::move(cert));
  }
  if (out.certificates.empty()) out.complete = false;
  return out;
}

X509Ptr parse_certificate(const std::string& pem) {
  auto parsed = parse_certificates(pem);
  if (parsed.certificates.empty()) return nullptr;
  return std::move(parsed.certificates.front());
}

std::string certificate_pem(X509* cert) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  check(bio && PEM_write_bio_X509(bio.get(), cert) == 1, "PEM_write_bio_X509");
  return bio_text(bio.get());
}

std::string key_pem(EVP_PKEY* key) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  check(bio && PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr) == 1,
        "PEM_write_bio_PrivateKey");
  return bio_text(bio.get());
}

std::string der(X509* cert) {
  unsigned char* bytes = nullptr;
  int length = i2d_X509(cert, &bytes);
  if (length <= 0) return "";
  std::string out(reinterpret_cast<char*>(bytes), static_cast<std::size_t>(length));
  OPENSSL_free(bytes);
  return out;
}

Clock::time_point to_time_point(const ASN1_TIME* time) {
  std::tm tm{};
  if (ASN1_TIME_to_tm(time, &tm) != 1) throw std::runtime_error(openssl_error("ASN1_TIME_to_tm"));
  return Clock::from_time_t(timegm(&tm));
}

Validity validity_of(X509* cert) {
  return {to_time_point(X509_get0_notBefore(cert)), to_time_point(X509_get0_notAfter(cert))};
}

std::string format_time(Clock::time_point t) {
  std::time_t seconds = Clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return text;
}

PkeyPtr generate_key() {
  // ECDSA P-256: small, fast, and accepted by every Kubernetes API server and Go TLS client.
  PkeyPtr key(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
  check(key != nullptr, "generating a P-256 key");
  return key;
}

// Clock skew between this node and the API server's must not make a fresh certificate "not yet
// valid"; a tenth of a short test validity keeps it from rotating the moment it is issued.
std::chrono::seconds backdate(std::chrono::seconds validity) { return std::min<std::chrono::seconds>(5min, validity / 10); }

void add_extension(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
  check(ext != nullptr, std::string("extension ") + OBJ_nid2sn(nid) + "=" + value);
  int ok = X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
  check(ok == 1, std::string("adding extension ") + OBJ_nid2sn(nid));
}

// A v3 certificate for `key` with a random 128-bit serial, `common_name`, and the validity given.
X509Ptr new_certificate(EVP_PKEY* key, const std::string& common_name, Clock::time_point not_before,
                        Clock::time_point not_after) {
  X509Ptr cert(X509_new());
  check(cert != nullptr, "X509_new");
  check(X509_set_version(cert.get(), X509_VERSION_3) == 1, "X509_set_version");
  std::unique_ptr<BIGNUM, BnFree> serial(BN_new());
  check(serial && BN_rand(serial.get(), 128, BN_RAND_TOP_ONE, BN_RAND_BOTTOM_ANY) == 1, "BN_rand");
  check(BN_to_ASN1_INTEGER(serial.get(), X509_get_serialNumber(cert.get())) != nullptr, "serial number");
  X509_NAME* name = X509_get_subject_name(cert.get());
  check(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, reinterpret_cast<const unsigned char*>(common_name.c_str()),
                                   -1, -1, 0) == 1,
        "subject common name " + common_name);
  check(ASN1_TIME_set(X509_getm_notBefore(cert.get()), Clock::to_time_t(not_before)) != nullptr, "notBefore");
  check(ASN1_TIME_set(X509_getm_notAfter(cert.get()), Clock::to_time_t(not_after)) != nullptr, "notAfter");
  check(X509_set_pubkey(cert.get(), key) == 1, "X509_set_pubkey");
  return cert;
}

std::set<std::string> subject_alt_names(X509* cert) {
  std::set<std::string> out;
  std::unique_ptr<GENERAL_NAMES, NamesFree> names(
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr)));
  if (!names) return out;
  for (int i = 0; i < sk_GENERAL_NAME_num(names.get()); ++i) {
    const GENERAL_NAME* name = sk_GENERAL_NAME_value(names.get(), i);
    if (name->type == GEN_DNS) {
      const ASN1_STRING* dns = name->d.dNSName;
      out.insert(std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(dns)),
                             static_cast<std::size_t>(ASN1_STRING_length(dns))));
    } else {
      out.insert("<non-DNS name>");  // never ours: makes the set differ from the wanted one
    }
  }
  return out;
}

std::string join(const std::vector<std::string>& parts, const std::string& separator) {
  std::string out;
  for (const auto& p : parts) out += (out.empty() ? "" : separator) + p;
  return out;
}

// Why `ca` cannot keep signing at `now`, or empty when it can.
std::string ca_problem(X509* ca, EVP_PKEY* key, Clock::time_point now) {
  if (!ca) return "ca.crt holds no certificate";
  if (!key) return "ca.key holds no usable private key";
  if (X509_check_ca(ca) != 1) return "the first certificate in ca.crt is not a CA";
  if (X509_check_private_key(ca, key) != 1) {
    ERR_clear_error();
    return "ca.key does not match the first certificate in ca.crt";
  }
  auto v = validity_of(ca);
  if (needs_rotation(v.notBefore, v.notAfter, now)) {
    return "the CA expires " + format_time(v.notAfter) + ", with a third or less of its validity left";
  }
  return "";
}

// Why the serving pair cannot stay at `now`, or empty when it can.
std::string serving_problem(const WebhookTlsData& current, const std::string& signing_ca_pem,
                            const std::vector<std::string>& dns_names, Clock::time_point now) {
  X509Ptr cert = parse_certificate(current.tlsCrt);
  if (!cert) return "tls.crt holds no certificate";
  PkeyPtr key = parse_key(current.tlsKey);
  if (!key) return "tls.key holds no usable private key";
  if (X509_check_private_key(cert.get(), key.get()) != 1) {
    ERR_clear_error();
    return "tls.key does not match tls.crt";
  }
  if (subject_alt_names(cert.get()) != std::set<std::string>(dns_names.begin(), dns_names.end())) {
    return "tls.crt does not name exactly " + join(dns_names, ", ");
  }
  auto v = validity_of(cert.get());
  if (needs_rotation(v.notBefore, v.notAfter, now)) {
    return "the serving certificate expires " + format_time(v.notAfter) + ", with a third or less of its validity left";
  }
  for (const auto& host : dns_names) {
    if (auto error = verify_serving_certificate(current.tlsCrt, signing_ca_pem, host, now); !error.empty()) {
      return "tls.crt does not verify against the CA for " + host + ": " + error;
    }
  }
  return "";
}

std::string decoded(const json& data, const char* key) {
  if (!data.is_object() || !data.contains(key) || !data[key].is_string()) return "";
  return encoding::base64_decode(data[key].get<std::string>()).value_or("");
}

WebhookTlsData secret_tls_data(const json& secret) {
  const json data = secret.value("data", json::object());
  return {decoded(data, kTlsCertKey), decoded(data, kTlsKeyKey), decoded(data, kCaCertKey), decoded(data, kCaKeyKey)};
}

// The Secret's owner references as they should be: those others set kept; one to the webhook
// configuration added (when asked for and the configuration exists) or else removed. No
// blockOwnerDeletion: that would need rights on the configuration's finalizers.
json secret_owner_references(const json& current, const std::optional<json>& configuration,
                             const WebhookCertificateOptions& options) {
  json out = json::array();
  for (const auto& ref : current) {
    const bool ours = ref.value("kind", "") == "ValidatingWebhookConfiguration" && ref.value("name", "") == options.webhookConfiguration;
    if (!ours) out.push_back(ref);
  }
  if (options.secretOwnedByConfiguration && configuration) {
    out.push_back({{"apiVersion", "admissionregistration.k8s.io/v1"},
                   {"kind", "ValidatingWebhookConfiguration"},
                   {"name", options.webhookConfiguration},
                   {"uid", (*configuration)["metadata"].value("uid", "")}});
  }
  return out;
}

json encoded(const WebhookTlsData& d) {
  return {{kTlsCertKey, encoding::base64_encode(d.tlsCrt)},
          {kTlsKeyKey, encoding::base64_encode(d.tlsKey)},
          {kCaCertKey, encoding::base64_encode(d.caCrt)},
          {kCaKeyKey, encoding::base64_encode(d.caKey)}};
}

double seconds_since_epoch(Clock::time_point t) {
  return std::chrono::duration<double>(t.time_since_epoch()).count();
}

}  // namespace

std::vector<std::string> webhook_dns_names(const std::string& service, const std::string& ns) {
  return {service, service + "." + ns, service + "." + ns + ".svc", service + "." + ns + ".svc.cluster.local"};
}

bool needs_rotation(Clock::time_point not_before, Clock::time_point not_after, Clock::time_point now) {
  return now < not_before || now >= rotation_time(not_before, not_after);
}

Clock::time_point rotation_time(Clock::time_point not_before, Clock::time_point not_after) {
  return not_after - (not_after - not_before) / 3;
}

std::optional<Validity> certificate_validity(const std::string& pem) {
  X509Ptr cert = parse_certificate(pem);
  if (!cert) return std::nullopt;
  return validity_of(cert.get());
}

CertificateAndKey issue_ca(std::chrono::seconds validity, Clock::time_point now) {
  PkeyPtr key = generate_key();
  const std::string name = "plano-operator-webhook-ca@" + std::to_string(Clock::to_time_t(now));
  X509Ptr cert = new_certificate(key.get(), name, now - backdate(validity), now + validity);
  check(X509_set_issuer_name(cert.get(), X509_get_subject_name(cert.get())) == 1, "X509_set_issuer_name");
  add_extension(cert.get(), cert.get(), NID_basic_constraints, "critical,CA:TRUE,pathlen:0");
  add_extension(cert.get(), cert.get(), NID_key_usage, "critical,keyCertSign,cRLSign,digitalSignature");
  add_extension(cert.get(), cert.get(), NID_subject_key_identifier, "hash");
  check(X509_sign(cert.get(), key.get(), EVP_sha256()) > 0, "signing the CA certificate");
  return {certificate_pem(cert.get()), key_pem(key.get())};
}

CertificateAndKey issue_serving_certificate(const CertificateAndKey& ca, const std::vector<std::string>& dns_names,
                                            std::chrono::seconds validity, Clock::time_point now) {
  if (dns_names.empty()) throw std::invalid_argument("a serving certificate needs at least one DNS name");
  X509Ptr ca_cert = parse_certificate(ca.certPem);
  PkeyPtr ca_key = parse_key(ca.keyPem);
  if (!ca_cert || !ca_key) throw std::invalid_argument("the CA certificate or key does not parse");
  PkeyPtr key = generate_key();
  auto not_after = std::min(now + validity, validity_of(ca_cert.get()).notAfter);
  X509Ptr cert = new_certificate(key.get(), dns_names.front(), now - backdate(validity), not_after);
  check(X509_set_issuer_name(cert.get(), X509_get_subject_name(ca_cert.get())) == 1, "X509_set_issuer_name");
  std::string sans;
  for (const auto& n : dns_names) sans += (sans.empty() ? "DNS:" : ",DNS:") + n;
  add_extension(cert.get(), ca_cert.get(), NID_basic_constraints, "critical,CA:FALSE");
  add_extension(cert.get(), ca_cert.get(), NID_key_usage, "critical,digitalSignature");
  add_extension(cert.get(), ca_cert.get(), NID_ext_key_usage, "serverAuth");
  add_extension(cert.get(), ca_cert.get(), NID_subject_alt_name, sans);
  add_extension(cert.get(), ca_cert.get(), NID_subject_key_identifier, "hash");
  add_extension(cert.get(), ca_cert.get(), NID_authority_key_identifier, "keyid:always");
  check(X509_sign(cert.get(), ca_key.get(), EVP_sha256()) > 0, "signing the serving certificate");
  return {certificate_pem(cert.get()), key_pem(key.get())};
}

std::string verify_serving_certificate(const std::string& leaf_pem, const std::string& ca_bundle_pem,
                                       const std::string& host, Clock::time_point now) {
  X509Ptr leaf = parse_certificate(leaf_pem);
  if (!leaf) return "no certificate in the serving PEM";
  auto cas = parse_certificates(ca_bundle_pem);
  if (cas.certificates.empty()) return "no certificate in the CA bundle";
  std::unique_ptr<X509_STORE, StoreFree> store(X509_STORE_new());
  std::unique_ptr<X509_STORE_CTX, StoreCtxFree> ctx(X509_STORE_CTX_new());
  if (!store || !ctx) return openssl_error("X509_STORE_new");
  for (auto& ca : cas.certificates) {
    if (X509_STORE_add_cert(store.get(), ca.get()) != 1) return openssl_error("X509_STORE_add_cert");
  }
  if (X509_STORE_CTX_init(ctx.get(), store.get(), leaf.get(), nullptr) != 1) return openssl_error("X509_STORE_CTX_init");
  X509_VERIFY_PARAM* param = X509_STORE_CTX_get0_param(ctx.get());
  X509_VERIFY_PARAM_set_time(param, Clock::to_time_t(now));
  // Strict RFC 5280 checks, closer to what Go's TLS client in the API server insists on.
  X509_VERIFY_PARAM_set_flags(param, X509_V_FLAG_X509_STRICT);
  X509_VERIFY_PARAM_set1_host(param, host.c_str(), host.size());
  X509_STORE_CTX_set_purpose(ctx.get(), X509_PURPOSE_SSL_SERVER);
  if (X509_verify_cert(ctx.get()) == 1) return "";
  std::string reason = X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx.get()));
  ERR_clear_error();
  return reason;
}

CertificatePlan plan_certificates(const std::optional<WebhookTlsData>& current, const CertificateRequirements& req,
                                  Clock::time_point now) {
  CertificatePlan plan;
  const WebhookTlsData was = current.value_or(WebhookTlsData{});
  const auto dns_names = webhook_dns_names(req.service, req.namespace_);

  auto bundle = parse_certificates(was.caCrt);
  X509* signing = bundle.certificates.empty() ? nullptr : bundle.certificates.front().get();
  PkeyPtr ca_key = parse_key(was.caKey);
  CertificateAndKey ca;
  bool new_ca = false;
  if (!current) {
    plan.reasons.push_back("the Secret does not exist");
    new_ca = true;
  } else if (auto problem = ca_problem(signing, ca_key.get(), now); !problem.empty()) {
    plan.reasons.push_back("new CA: " + problem);
    new_ca = true;
  }
  if (new_ca) {
    ca = issue_ca(req.caValidity, now);
  } else {
    ca = {certificate_pem(signing), was.caKey};
  }

  // ca.crt: the signing CA, then earlier CAs that are still valid, so that during a CA rotation a
  // client trusting the new bundle accepts the serving certificate both before and after the
  // webhook pods see the new one. Expired, duplicate or non-CA entries are dropped.
  constexpr std::size_t kMaxPreviousCas = 2;
  X509Ptr signing_cert = parse_certificate(ca.certPem);
  std::set<std::string> seen{der(signing_cert.get())};
  std::string ca_bundle = ca.certPem;
  std::size_t kept = 0, dropped = 0;
  for (auto& cert : bundle.certificates) {
    if (!seen.insert(der(cert.get())).second) continue;
    bool usable = X509_check_ca(cert.get()) == 1 && validity_of(cert.get()).notAfter > now;
    if (usable && kept < kMaxPreviousCas) {
      ca_bundle += certificate_pem(cert.get());
      ++kept;
    } else {
      ++dropped;
    }
  }
  if (dropped > 0) plan.reasons.push_back("dropped " + std::to_string(dropped) + " expired or unusable certificate(s) from ca.crt");
  if (!bundle.complete && !was.caCrt.empty() && !new_ca) plan.reasons.push_back("ca.crt holds a block that does not parse");

  std::string serving_problem_text =
      new_ca ? "the CA changed" : (current ? serving_problem(was, ca.certPem, dns_names, now) : "");
  CertificateAndKey serving{was.tlsCrt, was.tlsKey};
  if (new_ca || !serving_problem_text.empty()) {
    if (current) plan.reasons.push_back("new serving certificate: " + serving_problem_text);
    serving = issue_serving_certificate(ca, dns_names, req.servingValidity, now);
  }

  plan.data = {serving.certPem, serving.keyPem, ca_bundle, ca.keyPem};
  plan.changed = !current || plan.data != *current;
  if (plan.changed && plan.reasons.empty()) plan.reasons.push_back("ca.crt is not in canonical PEM form");

  auto ca_validity = validity_of(signing_cert.get());
  auto serving_validity = *certificate_validity(serving.certPem);
  plan.nextCheck = std::min(rotation_time(ca_validity.notBefore, ca_validity.notAfter),
                            rotation_time(serving_validity.notBefore, serving_validity.notAfter));
  // Also wake when a previous CA expires, so it leaves the bundle promptly.
  auto kept_bundle = parse_certificates(ca_bundle);
  for (std::size_t i = 1; i < kept_bundle.certificates.size(); ++i) {
    plan.nextCheck = std::min(plan.nextCheck, validity_of(kept_bundle.certificates[i].get()).notAfter);
  }
  return plan;
}

json ca_bundle_patch(const json& configuration, const std::string& ca_bundle_pem) {
  json ops = json::array();
  const std::string wanted = encoding::base64_encode(ca_bundle_pem);
  const json webhooks = configuration.value("webhooks", json::array());
  if (!webhooks.is_array()) return ops;
  for (std::size_t i = 0; i < webhooks.size(); ++i) {
    const json& webhook = webhooks[i];
    if (!webhook.is_object()) continue;
    const json client_config = webhook.value("clientConfig", json::object());
    if (client_config.is_object() && client_config.value("caBundle", json()) == wanted) continue;
    const std::string at = "/webhooks/" + std::to_string(i);
    ops.push_back({{"op", "test"}, {"path", at + "/name"}, {"value", webhook.value("name", json())}});
    if (client_config.is_object()) {
      // "add" on an object member replaces it when present, so this covers empty and stale bundles.
      ops.push_back({{"op", "add"}, {"path", at + "/clientConfig/caBundle"}, {"value", wanted}});
    } else {
      ops.push_back({{"op", "add"}, {"path", at + "/clientConfig"}, {"value", {{"caBundle", wanted}}}});
    }
  }
  return ops;
}

namespace {

kube::InformerOptions by_name(const std::string& ns, const std::string& name, std::chrono::seconds watch_timeout,
                              const std::string& log_name) {
  kube::InformerOptions o;
  o.namespace_ = ns;
  o.field_selector = "metadata.name=" + name;
  o.watch_timeout = watch_timeout;
  o.name = log_name;
  return o;
}

}  // namespace

WebhookCertificateController::WebhookCertificateController(kube::ApiClient& client, metrics::Registry& metrics,
                                                           WebhookCertificateOptions options)
    : client_(client),
      options_(std::move(options)),
      secrets_(client, kube::resources::kSecrets,
               by_name(options_.namespace_, options_.secretName, options_.watchTimeout, "webhook-tls-secret")),
      configurations_(client, kube::resources::kValidatingWebhookConfigurations,
                      by_name("", options_.webhookConfiguration, options_.watchTimeout, "webhook-configuration")),
      passesMetric_(metrics.counter("plano_operator_webhook_certificate_passes_total",
                                    "Passes over the webhook's certificate Secret and caBundle, by result.", {"result"})),
      writesMetric_(metrics.counter("plano_operator_api_writes_total", "Writes to the API server by kind of write.", {"kind"})),
      expiryMetric_(metrics.gauge("plano_operator_webhook_certificate_expiry_timestamp_seconds",
                                  "When the webhook's certificates expire (Unix time), by certificate.", {"certificate"})) {
  if (options_.namespace_.empty()) throw std::invalid_argument("the webhook namespace is empty; set --webhook-namespace");
  for (auto* informer : {&secrets_, &configurations_}) {
    informer->on_add([this](const json&) { trigger(); });
    informer->on_update([this](const json&, const json&) { trigger(); });
    informer->on_delete([this](const json&) { trigger(); });
  }
}

WebhookCertificateController::~WebhookCertificateController() { stop(); }

void WebhookCertificateController::start() {
  std::lock_guard lifecycle(lifecycle_);
  {
    std::lock_guard lock(mu_);
    // The manager may start us on the election thread after shutdown already stopped us.
    if (started_ || stopping_) return;
    started_ = true;
  }
  secrets_.start();
  configurations_.start();
  thread_ = std::thread([this] { loop(); });
}

void WebhookCertificateController::stop() {
  std::lock_guard lifecycle(lifecycle_);
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  secrets_.stop();  // idempotent, and harmless when never started
  configurations_.stop();
}

void WebhookCertificateController::trigger() {
  {
    std::lock_guard lock(mu_);
    dirty_ = true;
  }
  cv_.notify_all();
}

void WebhookCertificateController::loop() {
  kube::Backoff backoff(options_.initialBackoff, options_.maxBackoff);
  std::unique_lock lock(mu_);
  while (!stopping_) {
    dirty_ = false;
    lock.unlock();
    Clock::time_point wake;
    try {
      auto result = reconcile();
      backoff.reset();
      // One second past the rotation time, so the pass it starts finds the certificate due.
      // At least a second apart, so a certificate that is somehow always due cannot spin this loop.
      wake = std::max(std::min(Clock::now() + options_.resync, result.nextCheck + 1s), Clock::now() + 1s);
    } catch (const std::exception& e) {
      auto delay = backoff.next();
      spdlog::warn("webhook certificates in {}/{}: pass failed, retrying in {} ms: {}", options_.namespace_,
                   options_.secretName, delay.count(), e.what());
      wake = Clock::now() + delay;
    }
    lock.lock();
    cv_.wait_until(lock, wake, [this] { return stopping_ || dirty_; });
  }
}

WebhookCertificateController::PassResult WebhookCertificateController::reconcile(Clock::time_point now) {
  PassResult result;
  const std::string& ns = options_.namespace_;
  const std::string& name = options_.secretName;
  const std::string where = "Secret " + ns + "/" + name;
  const kube::WriteOptions write{kFieldManager};
  auto wrote = [&](const char* kind) {
    ++result.writes;
    ++writes_;
    writesMetric_.labels({kind}).inc();
  };
  try {
    std::optional<json> live;
    try {
      live = client_.get(kube::resources::kSecrets, ns, name);
    } catch (const kube::ApiError& e) {
      if (!e.is(kube::ErrorReason::NotFound)) throw;
    }
    std::optional<json> configuration;
    try {
      configuration = client_.get(kube::resources::kValidatingWebhookConfigurations, "", options_.webhookConfiguration);
      result.configurationFound = true;
    } catch (const kube::ApiError& e) {
      if (!e.is(kube::ErrorReason::NotFound)) throw;
    }
    const json live_owners = live ? (*live)["metadata"].value("ownerReferences", json::array()) : json::array();
    const json owners = secret_owner_references(live_owners, configuration, options_);
    std::optional<WebhookTlsData> current;
    if (live) current = secret_tls_data(*live);
    auto plan = plan_certificates(current, {options_.service, ns, options_.servingValidity, options_.caValidity}, now);
    // A Secret's type cannot change, nor the data of an immutable one: such a Secret is deleted and
    // created anew, its sound certificates carried over by the plan like any others.
    const std::string type = live ? live->value("type", std::string()) : std::string();
    const bool immutable = live && live->value("immutable", false);
    const bool recreate = live && (type != "kubernetes.io/tls" || (immutable && plan.changed));
    if (live && type != "kubernetes.io/tls") plan.reasons.push_back("it has type \"" + type + "\", not kubernetes.io/tls");
    if (recreate && immutable) plan.reasons.push_back("it is immutable");
    result.reasons = plan.reasons;
    result.nextCheck = plan.nextCheck;

    auto create = [&] {
      json secret = {{"apiVersion", "v1"},
                     {"kind", "Secret"},
                     {"metadata",
                      {{"name", name},
                       {"namespace", ns},
                       {"labels", {{"app.kubernetes.io/name", "plano-operator"}, {"app.kubernetes.io/component", "webhook-certificates"}}}}},
                     {"type", "kubernetes.io/tls"},
                     {"data", encoded(plan.data)}};
      if (!owners.empty()) secret["metadata"]["ownerReferences"] = owners;
      client_.create(kube::resources::kSecrets, ns, secret, write);
      wrote("webhook_secret");
    };
    // An owned Secret is written only while its owner exists: once `helm uninstall` has deleted the
    // configuration (and the garbage collector the Secret), an operator still shutting down must
    // not leave a new, unowned copy of the CA key behind. The watch brings us back when it appears.
    const bool awaiting_owner = options_.secretOwnedByConfiguration && !configuration;
    if (awaiting_owner) {
      spdlog::debug("{} is written once ValidatingWebhookConfiguration {}, its owner, exists", where, options_.webhookConfiguration);
    } else if (!live) {
      create();
      spdlog::info("created {} with a new CA and serving certificate for Service {}/{}", where, ns, options_.service);
    } else if (recreate) {
      kube::DeleteOptions precondition;  // only the copy judged here, not one somebody wrote since
      precondition.uid = (*live)["metadata"].value("uid", std::string());
      precondition.resource_version = (*live)["metadata"].value("resourceVersion", std::string());
      client_.remove(kube::resources::kSecrets, ns, name, precondition);
      wrote("webhook_secret");
      create();
      spdlog::warn("replaced {}: {}", where, join(plan.reasons, "; "));
    } else if (plan.changed || owners != live_owners) {
      json updated = *live;
      if (!updated["data"].is_object()) updated["data"] = json::object();
      updated["data"].update(encoded(plan.data));  // other keys someone added stay
      if (owners.empty()) {
        updated["metadata"].erase("ownerReferences");
      } else {
        updated["metadata"]["ownerReferences"] = owners;
      }
      client_.update(kube::resources::kSecrets, updated, write);  // resourceVersion kept: Conflict if stale
      wrote("webhook_secret");
      if (owners != live_owners) {
        plan.reasons.push_back(std::string(options_.secretOwnedByConfiguration ? "owner reference to" : "no owner reference to") +
                               " ValidatingWebhookConfiguration " + options_.webhookConfiguration);
      }
      spdlog::info("updated {}: {}", where, join(plan.reasons, "; "));
    }
    if (auto v = certificate_validity(plan.data.caCrt); v && !awaiting_owner) {
      expiryMetric_.labels({"ca"}).set(seconds_since_epoch(v->notAfter));
    }
    if (auto v = certificate_validity(plan.data.tlsCrt); v && !awaiting_owner) {
      expiryMetric_.labels({"serving"}).set(seconds_since_epoch(v->notAfter));
    }

    if (!configuration) {
      // Expected for a moment during installation; the watch brings us back when it appears.
      if (!warnedMissingConfiguration_.exchange(true)) {
        spdlog::warn("ValidatingWebhookConfiguration {} does not exist yet; its caBundle is set once it does "
                     "(check --webhook-configuration if it never appears)",
                     options_.webhookConfiguration);
      }
    } else {
      warnedMissingConfiguration_ = false;
      json patch = ca_bundle_patch(*configuration, plan.data.caCrt);
      if (!patch.empty()) {
        client_.patch(kube::resources::kValidatingWebhookConfigurations, "", options_.webhookConfiguration,
                      kube::PatchType::Json, patch, write);
        wrote("ca_bundle");
        spdlog::info("set caBundle of {} webhook(s) in ValidatingWebhookConfiguration {} from {}", patch.size() / 2,
                     options_.webhookConfiguration, where);
      }
    }
  } catch (...) {
    passesMetric_.labels({"error"}).inc();
    throw;
  }
  ++passes_;
  passesMetric_.labels({"success"}).inc();
  return result;
}

}  // namespace plano::op
