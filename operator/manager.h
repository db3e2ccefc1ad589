// The operator process: caches, the gateway controller (on the leader only), leader election,
// and the metrics/health endpoints, with a graceful shutdown on SIGTERM.
#pragma once

#include <chrono>
#include <string>

namespace plano::op {

// Who keeps the webhook's serving certificate and caBundle: this operator (webhook_certificates.h),
// or something else (cert-manager, a user-provided Secret).
enum class WebhookCertMode { None, SelfManaged };

struct ManagerOptions {
  std::string kubeconfig;          // empty: $KUBECONFIG, in-cluster, ~/.kube/config
  std::string context;
  std::string watchNamespace;      // empty: all namespaces
  std::string probeAddress = "0.0.0.0:8080";  // /metrics, /healthz, /readyz
  bool leaderElect = true;
  std::string leaseNamespace;      // empty: the client's namespace (the pod's own in-cluster)
  std::string leaseName = "plano-operator";
  std::string identity;            // empty: hostname + pid
  int workers = 2;
  std::chrono::seconds resync{600};
  std::chrono::seconds shutdownGrace{10};
  WebhookCertMode webhookCertMode = WebhookCertMode::None;
  std::string webhookNamespace;    // empty: the Lease's namespace
  std::string webhookService = "plano-operator-webhook";
  std::string webhookSecret = "plano-operator-webhook-tls";
  std::string webhookConfiguration = "plano-operator";
  std::chrono::hours webhookCertValidity{24 * 365};
  bool webhookSecretOwnedByConfiguration = false;
};

// Runs until SIGTERM or SIGINT; returns the process exit code.
int run_manager(const ManagerOptions& options);

}  // namespace plano::op
