// How to reach and authenticate to an API server: from a kubeconfig file or
// from the in-cluster service account.
#pragma once

#include <chrono>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

namespace plano::kube {

// Supplies the bearer token for each request; thread-safe.
//
// A token file (projected service-account tokens are rotated by the kubelet)
// is re-read when the cached value is older than max_age and right after the
// server answered 401. When the file cannot be read the last good value is
// kept; with no good value ever, the fallback token (if any) is used.
class TokenSource {
 public:
  static std::shared_ptr<TokenSource> fixed(std::string token);
  static std::shared_ptr<TokenSource> from_file(std::filesystem::path path, std::string fallback_token = {},
                                                std::chrono::seconds max_age = std::chrono::seconds(60));

  // The current token. Throws ConfigError only when there is none at all.
  std::string token();
  // Forces the next token() to re-read the file (no-op for a fixed token).
  void invalidate();

  bool is_file() const { return !path_.empty(); }
  const std::filesystem::path& path() const { return path_; }

 private:
  TokenSource(std::filesystem::path path, std::string fallback, std::chrono::seconds max_age);

  const std::filesystem::path path_;
  const std::string fallback_;
  const std::chrono::seconds max_age_;
  std::mutex mu_;
  std::string cached_;
  std::optional<std::chrono::steady_clock::time_point> read_at_;
};

struct RetryPolicy {
  int max_attempts = 5;  // total tries of one request, including the first
  std::chrono::milliseconds initial_backoff{200};
  std::chrono::milliseconds max_backoff{5000};
  // A server's Retry-After beyond this is clamped, so one request never stalls a caller for long.
  std::chrono::seconds max_retry_after{30};
};

struct ClientConfig {
  std::string server;  // https://host:port, possibly with a path prefix
  std::string ca_pem;  // trusted CA certificates (PEM); empty means the system roots
  std::string client_cert_pem;
  std::string client_key_pem;
  std::shared_ptr<TokenSource> token;  // null: no bearer token
  bool insecure_skip_tls_verify = false;
  std::string namespace_ = "default";  // the context's namespace, or the pod's own in-cluster
  std::string user_agent = "plano-operator";
  std::chrono::seconds request_timeout{60};  // per request, for everything but watches
  RetryPolicy retry;
  std::string origin;  // where this came from, for messages: "kubeconfig /x (context y)", "in-cluster"
};

struct KubeconfigOptions {
  // Empty: $KUBECONFIG (a ':'-separated list, merged), else ~/.kube/config.
  std::string path;
  // Empty: the file's current-context.
  std::string context;
};

// Reads a kubeconfig. Relative file references are resolved against the
// directory of the file that names them. Throws ConfigError.
ClientConfig load_kubeconfig(const KubeconfigOptions& options = {});

// Parses kubeconfig text (used by load_kubeconfig; handy for tests).
ClientConfig parse_kubeconfig(const std::string& text, const std::filesystem::path& base_dir,
                              const std::string& context = {}, const std::string& origin = "kubeconfig");

inline constexpr const char* kServiceAccountDir = "/var/run/secrets/kubernetes.io/serviceaccount";

// The in-cluster configuration: token, ca.crt and namespace from dir, the
// server from KUBERNETES_SERVICE_HOST/KUBERNETES_SERVICE_PORT. Throws ConfigError.
ClientConfig in_cluster_config(const std::filesystem::path& dir = kServiceAccountDir);

// True when KUBERNETES_SERVICE_HOST is set and dir has a token.
bool in_cluster_available(const std::filesystem::path& dir = kServiceAccountDir);

// controller-runtime's order: an explicit kubeconfig path, then $KUBECONFIG,
// then in-cluster, then ~/.kube/config.
ClientConfig load_config(const std::string& kubeconfig_path = {}, const std::string& context = {});

}  // namespace plano::kube
