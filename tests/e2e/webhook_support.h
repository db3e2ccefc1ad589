// Helpers for the webhook end-to-end tests: certificates from the openssl CLI, kubectl with its
// stdout and stderr apart, AdmissionReview bodies, manifests split into objects, process memory.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <openssl/ssl.h>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace plano::testing {

class OperatorProcess;

// A CA and serving certificates it signs, made with the openssl CLI in `dir`.
class TestPki {
 public:
  explicit TestPki(std::filesystem::path dir);  // writes ca.crt and ca.key; throws on failure
  // A P-256 leaf for 127.0.0.1 (SAN IP:127.0.0.1, serverAuth) with the given serial, written to
  // `cert` and `key` by rename, so a reader never sees a half-written file.
  void issue(long serial, const std::filesystem::path& cert, const std::filesystem::path& key) const;
  std::filesystem::path ca_cert() const { return dir_ / "ca.crt"; }
  std::string ca_base64() const;
  // A client TLS context that trusts only this CA and checks the address 127.0.0.1, as the API server does.
  std::shared_ptr<SSL_CTX> verifying_context() const;

 private:
  std::filesystem::path dir_;
};

// The serial the server at 127.0.0.1:port presents, as `openssl s_client` sees it after verifying the
// chain against `ca` and the address against the certificate: "0x3EA"-style hex, or "" on failure.
std::string served_serial(int port, const std::filesystem::path& ca);

struct KubectlResult {
  int code = -1;
  std::string out, err;
};
// Runs `kubectl --kubeconfig KUBECONFIG ARGS` (ARGS is shell text) and keeps stdout and stderr apart.
KubectlResult kubectl_run(const std::string& kubeconfig, const std::string& args);

// One object of a manifest.
struct ManifestObject {
  std::string kind, namespace_, name;
  nlohmann::json body;
  std::string key() const { return kind + "/" + namespace_ + "/" + name; }
};
std::vector<ManifestObject> read_manifest(const std::filesystem::path& file);
// Writes objects as a YAML stream (JSON documents) to a new file in `dir` and returns its path.
std::filesystem::path write_manifest(const std::vector<ManifestObject>& objects, const std::filesystem::path& dir,
                                     const std::string& stem);

// An "# expect: Kind/ns/name: field: phrase" line of examples/invalid/.
struct Expectation {
  std::string object, field, phrase;
};
std::vector<Expectation> expectations_of(const std::filesystem::path& file);

// An admission.k8s.io/v1 AdmissionReview as the API server sends it for `object`.
nlohmann::json admission_review(const std::string& uid, const std::string& operation, const nlohmann::json& object);

// A ModelProvider attached to gateway gw_ns/gw, a PlanoGateway with one model listener, and a
// Namespace (labelled plano-operator.io/tenant=true when `tenant`).
nlohmann::json provider(const std::string& ns, const std::string& name, const std::string& gw_ns, const std::string& gw,
                        nlohmann::json spec);
nlohmann::json gateway(const std::string& ns, const std::string& name, nlohmann::json allowed);
nlohmann::json namespace_object(const std::string& name, bool tenant);

// A ValidatingWebhookConfiguration sending PlanoGateway and ModelProvider CREATE and UPDATE to `url`:
// failurePolicy Fail, timeoutSeconds 5.
nlohmann::json webhook_configuration(const std::string& name, const std::string& url, const std::string& ca_base64);
inline constexpr int kWebhookTimeoutSeconds = 5;

// The port of /validate a webhook process logged once listening (0 if not yet), and the HTTP status
// of a GET on its probe port ("" when it cannot be reached).
int admission_port(const OperatorProcess& webhook);
std::string probe_get(const OperatorProcess& process, const std::string& path);

// A TCP port on 127.0.0.1 that was free a moment ago (for a server that must keep its port across restarts).
int free_port();

// VmRSS and VmHWM of a process, in KiB (0 when unreadable).
struct Memory {
  std::size_t rssKib = 0, peakKib = 0;
};
Memory memory_of(pid_t pid);

}  // namespace plano::testing
