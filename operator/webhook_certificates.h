// The webhook's serving certificate without cert-manager: a Secret holding a private CA and a
// serving certificate it signed, rotated before expiry, and the caBundle of every webhook in the
// ValidatingWebhookConfiguration kept equal to the Secret's ca.crt. The operator runs this on the
// leader only; the webhook pods mount the Secret and reload the files when the kubelet updates them.
//
// The decisions (what the Secret should hold, which caBundles to patch) are pure functions taking
// the time as an argument, so tests can place themselves anywhere in a certificate's life.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/kube/client.h"
#include "core/kube/informer.h"
#include "core/metrics/registry.h"

namespace plano::op {

using Clock = std::chrono::system_clock;

// Secret data keys. ca.key lives beside the others because the CA only signs this one webhook's
// certificate: whoever can read the Secret already holds the serving key it would let them mint.
inline constexpr const char* kTlsCertKey = "tls.crt";
inline constexpr const char* kTlsKeyKey = "tls.key";
inline constexpr const char* kCaCertKey = "ca.crt";
inline constexpr const char* kCaKeyKey = "ca.key";

// A certificate and its private key, both PEM.
struct CertificateAndKey {
  std::string certPem;
  std::string keyPem;
};

// The Secret's data, decoded; a missing key is an empty string.
struct WebhookTlsData {
  std::string tlsCrt;  // the serving certificate (leaf only)
  std::string tlsKey;
  std::string caCrt;   // the signing CA first, then older CAs still inside their validity
  std::string caKey;   // the signing CA's key
  bool operator==(const WebhookTlsData&) const = default;
};

struct CertificateRequirements {
  std::string service;     // the webhook Service's name
  std::string namespace_;  // and namespace
  std::chrono::seconds servingValidity{std::chrono::hours(24 * 365)};
  std::chrono::seconds caValidity{std::chrono::hours(24 * 3650)};
};

// <service>, <service>.<ns>, <service>.<ns>.svc, <service>.<ns>.svc.cluster.local.
std::vector<std::string> webhook_dns_names(const std::string& service, const std::string& ns);

// A self-signed ECDSA P-256 CA (basicConstraints CA:TRUE, pathlen 0; keyCertSign, cRLSign), valid
// from `now` for `validity`, with a subject unique to its issue time so old and new CAs differ.
// Throws std::runtime_error with OpenSSL's reason on failure.
CertificateAndKey issue_ca(std::chrono::seconds validity, Clock::time_point now);

// An ECDSA P-256 serving certificate signed by `ca` (serverAuth, digitalSignature, the DNS SANs
// given, the first also the common name), valid from `now` for `validity` but never past the CA.
CertificateAndKey issue_serving_certificate(const CertificateAndKey& ca, const std::vector<std::string>& dns_names,
                                            std::chrono::seconds validity, Clock::time_point now);

// Whether a certificate valid over [not_before, not_after] should be replaced at `now`: less than a
// third of its validity remains, or `now` is outside it.
bool needs_rotation(Clock::time_point not_before, Clock::time_point not_after, Clock::time_point now);
// The moment needs_rotation starts to hold.
Clock::time_point rotation_time(Clock::time_point not_before, Clock::time_point not_after);

// Validity of the first certificate in `pem`; nullopt when there is none or it does not parse.
struct Validity {
  Clock::time_point notBefore, notAfter;
};
std::optional<Validity> certificate_validity(const std::string& pem);

// Empty when the first certificate of `leaf_pem` chains to a certificate in `ca_bundle_pem` for TLS
// server use at `now` and is valid for `host`; otherwise OpenSSL's reason.
std::string verify_serving_certificate(const std::string& leaf_pem, const std::string& ca_bundle_pem,
                                       const std::string& host, Clock::time_point now);

struct CertificatePlan {
  WebhookTlsData data;               // what the Secret should hold
  bool changed = false;              // data differs from the current Secret's
  std::vector<std::string> reasons;  // why, for the log: one entry per certificate replaced or bundle trimmed
  Clock::time_point nextCheck;       // when the earlier of the two certificates reaches its rotation time
};

// What the Secret should hold at `now`. Keeps what is there when it is sound; issues a new CA when
// there is none, it is unusable (unparsable, not a CA, key mismatch) or past its rotation time, and
// keeps the previous CAs in ca.crt until they expire so clients trusting either keep working;
// issues a new serving certificate when the CA changed or the current one is unusable, does not
// match its key, does not chain to the CA, names other hosts, or is past its rotation time.
CertificatePlan plan_certificates(const std::optional<WebhookTlsData>& current, const CertificateRequirements& requirements,
                                  Clock::time_point now);

// An RFC 6902 patch setting clientConfig.caBundle of every webhook in `configuration` (a
// ValidatingWebhookConfiguration) whose caBundle is not base64(`ca_bundle_pem`). Each change is
// guarded by a test of the webhook's name, so a concurrent reordering fails the patch instead of
// writing to the wrong webhook. An empty array when all are in sync.
nlohmann::json ca_bundle_patch(const nlohmann::json& configuration, const std::string& ca_bundle_pem);

struct WebhookCertificateOptions {
  std::string namespace_;                                  // of the webhook Service and the Secret
  std::string service = "plano-operator-webhook";
  std::string secretName = "plano-operator-webhook-tls";
  std::string webhookConfiguration = "plano-operator";     // ValidatingWebhookConfiguration name
  // The configuration owns the Secret (an owner reference), so the garbage collector deletes the
  // Secret, CA key included, with the configuration; false removes that reference.
  bool secretOwnedByConfiguration = false;
  std::chrono::seconds servingValidity{std::chrono::hours(24 * 365)};
  std::chrono::seconds caValidity{std::chrono::hours(24 * 3650)};
  std::chrono::seconds resync{600};  // a pass at least this often, even with no change seen
  std::chrono::milliseconds initialBackoff{1000};  // after a failed pass, doubling up to maxBackoff
  std::chrono::milliseconds maxBackoff{std::chrono::minutes(5)};
  std::chrono::seconds watchTimeout{300};
};

// Runs passes on its own thread: at start, when the Secret or the configuration changes (watched
// by name), at each certificate's rotation time, and every `resync`. Reads go to the API server,
// not the informers' caches, so a pass never judges a copy older than its own last write.
class WebhookCertificateController {
 public:
  WebhookCertificateController(kube::ApiClient& client, metrics::Registry& metrics, WebhookCertificateOptions options);
  ~WebhookCertificateController();
  WebhookCertificateController(const WebhookCertificateController&) = delete;
  WebhookCertificateController& operator=(const WebhookCertificateController&) = delete;

  // Starts the watches and the pass thread; a no-op once stop() has been called.
  void start();
  void stop();

  struct PassResult {
    int writes = 0;                    // Secret creates/updates/deletes and configuration patches
    std::vector<std::string> reasons;  // why the Secret was written (see CertificatePlan)
    bool configurationFound = false;
    Clock::time_point nextCheck;
  };
  // One level-triggered pass; throws kube::ApiError (Conflict when someone wrote in between).
  PassResult reconcile(Clock::time_point now = Clock::now());

  // Writes and successful passes so far, for tests and metrics.
  std::uint64_t writes() const { return writes_.load(); }
  std::uint64_t passes() const { return passes_.load(); }

 private:
  void loop();
  void trigger();

  kube::ApiClient& client_;
  const WebhookCertificateOptions options_;
  kube::Informer secrets_;
  kube::Informer configurations_;
  std::mutex lifecycle_;  // serialises start() and stop(), which may run on different threads
  std::thread thread_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool dirty_ = true;      // guarded by mu_
  bool stopping_ = false;  // guarded by mu_
  bool started_ = false;   // guarded by mu_
  std::atomic<bool> warnedMissingConfiguration_{false};
  std::atomic<std::uint64_t> writes_{0};
  std::atomic<std::uint64_t> passes_{0};

  metrics::Family<metrics::Counter>& passesMetric_;
  metrics::Family<metrics::Counter>& writesMetric_;
  metrics::Family<metrics::Gauge>& expiryMetric_;
};

}  // namespace plano::op
