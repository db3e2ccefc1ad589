// The webhook process: HTTPS admission endpoint, caches, certificate reload, probes and metrics.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "core/http/handler.h"
#include "core/kube/client.h"
#include "core/metrics/registry.h"
#include "webhook/admission.h"

namespace plano::webhook {

inline constexpr const char* kValidatePath = "/validate";

struct WebhookOptions {
  std::string kubeconfig;
  std::string context;
  std::string watchNamespace;
  std::string listenAddress = "0.0.0.0:9443";  // HTTPS, AdmissionReviews
  std::string probeAddress = "0.0.0.0:8081";   // HTTP: /healthz, /readyz, /metrics
  std::string certFile = "/tls/tls.crt";
  std::string keyFile = "/tls/tls.key";
  std::chrono::milliseconds certPoll{std::chrono::seconds(5)};
  int threads = 2;
  std::chrono::seconds shutdownGrace{10};
};

// POST /validate: AdmissionReviews through review(), with metrics by kind, operation and verdict.
// Until `synced` holds every review is answered 503: judged against a cache still loading, a
// second default or a taken model would be admitted; the API server applies the failurePolicy.
std::shared_ptr<http::Router> admission_router(ClusterLookup cluster, std::function<bool()> synced, SecretReadAccess may_read_secret,
                                               metrics::Registry& registry);

// Asks the API server, with a SubjectAccessReview, whether a request's user may get a Secret.
SecretReadAccess secret_read_access(kube::ApiClient& client);

// Runs until SIGTERM or SIGINT; returns the exit code.
int run_webhook(const WebhookOptions& options);

}  // namespace plano::webhook
