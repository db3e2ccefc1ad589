#include "operator/manager.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <stdexcept>
#include <thread>

#include "core/process/signals.h"
#include "core/http/probes.h"
#include "core/kube/client.h"
#include "core/metrics/process.h"
#include "core/metrics/registry.h"
#include "operator/caches.h"
#include "operator/gateway_controller.h"
#include "operator/leader_election.h"
#include "operator/webhook_certificates.h"

#ifndef PLANO_VERSION
#define PLANO_VERSION "dev"
#endif

namespace plano::op {

int run_manager(const ManagerOptions& o) {
  process::block_termination_signals();

  auto config = kube::load_config(o.kubeconfig, o.context);
  spdlog::info("plano-operator {} using {} ({})", PLANO_VERSION, config.server, config.origin);
  kube::prepare_process_for_clients(config);
  kube::Client client(config);

  metrics::Registry registry;
  metrics::register_process_metrics(registry);
  registry.gauge("plano_operator_build_info", "Build information.", {"version"}).labels({PLANO_VERSION}).set(1);
  auto& leader_gauge = registry.gauge("plano_operator_leader", "1 while this process leads.").labels();

  Caches caches(client, CacheOptions{o.watchNamespace, std::chrono::seconds(300)});
  char host[256] = {};
  gethostname(host, sizeof host - 1);
  const std::string identity = o.identity.empty() ? std::string(host) + "_" + std::to_string(getpid()) : o.identity;
  GatewayController controller(client, caches, registry, ControllerOptions{o.workers, o.resync, identity});
  const std::string lease_namespace = o.leaseNamespace.empty() ? config.namespace_ : o.leaseNamespace;
  std::unique_ptr<WebhookCertificateController> certificates;
  if (o.webhookCertMode == WebhookCertMode::SelfManaged) {
    WebhookCertificateOptions wc;
    wc.namespace_ = o.webhookNamespace.empty() ? lease_namespace : o.webhookNamespace;
    wc.service = o.webhookService;
    wc.secretName = o.webhookSecret;
    wc.webhookConfiguration = o.webhookConfiguration;
    wc.servingValidity = o.webhookCertValidity;
    wc.secretOwnedByConfiguration = o.webhookSecretOwnedByConfiguration;
    certificates = std::make_unique<WebhookCertificateController>(client, registry, wc);
  }

  auto server = http::start_probe_server(o.probeAddress, [&caches] { return caches.has_synced(); }, "caches not synced",
                                        registry);

  caches.start();
  std::atomic<bool> shutting_down{false};
  auto start_controller = [&] {
    // First: admission of every object waits on the webhook's certificate, and this needs no caches.
    if (certificates) certificates->start();
    // Never reconcile from caches still loading: a gateway whose providers are not listed yet
    // would be rendered without them and that config applied. Waits in slices so that a SIGTERM
    // is not held up, and says every 2 minutes why nothing happens (e.g. a list RBAC forbids).
    const auto started = std::chrono::steady_clock::now();
    auto next_warning = started + std::chrono::minutes(2);
    while (!caches.wait_for_sync(std::chrono::milliseconds(200))) {
      if (shutting_down) return;
      if (std::chrono::steady_clock::now() > next_warning) {
        spdlog::warn("caches not synced after {} s; not reconciling until they are (see the informer warnings)",
                     std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - started).count());
        next_warning += std::chrono::minutes(2);
      }
    }
    if (shutting_down) return;
    controller.start();
    leader_gauge.set(1);
    spdlog::info("controller started with {} worker(s)", o.workers);
  };

  std::unique_ptr<LeaderElector> elector;
  std::thread election;
  if (o.leaderElect) {
    LeaderElectionOptions le;
    le.leaseNamespace = lease_namespace;
    le.leaseName = o.leaseName;
    le.identity = identity;
    elector = std::make_unique<LeaderElector>(client, le);
    election = std::thread([&] {
      elector->run(start_controller, [] {
        // Leading half-way is worse than restarting: exit and let the Deployment restart us.
        spdlog::error("leadership lost; exiting");
        kill(getpid(), SIGTERM);  // process-directed, so the main thread's sigwait takes it
      });
    });
  } else {
    start_controller();
  }

  const int sig = process::wait_for_termination();
  shutting_down = true;
  spdlog::info("received signal {}; shutting down", sig);
  controller.stop();
  if (certificates) certificates->stop();
  if (elector) {
    elector->stop();  // releases the lease if held, so a standby takes over at once
    election.join();
  }
  leader_gauge.set(0);
  caches.stop();
  server->stop(std::chrono::duration_cast<std::chrono::milliseconds>(o.shutdownGrace));
  spdlog::info("stopped");
  return 0;
}

}  // namespace plano::op
