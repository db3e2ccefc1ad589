#include "webhook/webhook_server.h"

#include <spdlog/spdlog.h>

#include <csignal>

#include "core/process/signals.h"
#include "core/http/address.h"
#include "core/http/certificate_watcher.h"
#include "core/http/probes.h"
#include "core/http/server.h"
#include "core/kube/client.h"
#include "webhook/cluster_cache.h"

namespace plano::webhook {

SecretReadAccess secret_read_access(kube::ApiClient& client) {
  return [&client](const nlohmann::json& user_info, const std::string& ns, const std::string& name) {
    nlohmann::json spec = {{"resourceAttributes", {{"namespace", ns}, {"verb", "get"}, {"resource", "secrets"}, {"name", name}}}};
    // userInfo and a SubjectAccessReview's spec name the same things, but for "username".
    if (auto it = user_info.find("username"); it != user_info.end()) spec["user"] = *it;
    for (const char* field : {"uid", "groups", "extra"}) {
      if (auto it = user_info.find(field); it != user_info.end()) spec[field] = *it;
    }
    const auto answer = client.create(kube::resources::kSubjectAccessReviews, "",
                                      {{"apiVersion", "authorization.k8s.io/v1"}, {"kind", "SubjectAccessReview"}, {"spec", spec}});
    return answer.value("status", nlohmann::json::object()).value("allowed", false);
  };
}

std::shared_ptr<http::Router> admission_router(ClusterLookup cluster, std::function<bool()> synced, SecretReadAccess may_read_secret,
                                               metrics::Registry& registry) {
  auto& requests = registry.counter("plano_webhook_admission_requests_total", "AdmissionReviews by kind, operation and verdict.",
                                    {"kind", "operation", "verdict"});
  auto& latency = registry.histogram("plano_webhook_admission_duration_seconds", "Time to judge one AdmissionReview.",
                                     {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1}, {"kind"});
  auto router = std::make_shared<http::Router>();
  router->add(kValidatePath, [cluster = std::move(cluster), synced = std::move(synced), may_read_secret = std::move(may_read_secret),
                              &requests, &latency](const http::Request& req) {
    auto started = std::chrono::steady_clock::now();
    auto content_type = req.header("Content-Type");
    if (!content_type || content_type->find("application/json") == std::string_view::npos) {
      requests.labels({"", "", "error"}).inc();
      return http::Response::text(415, "send an AdmissionReview as application/json\n");
    }
    if (!synced()) {
      requests.labels({"", "", "unavailable"}).inc();
      return http::Response::text(503, "the webhook's view of the cluster is still loading; retry shortly\n");
    }
    auto outcome = review(req.body, cluster, may_read_secret);
    requests.labels({outcome.kind, outcome.operation, outcome.verdict}).inc();
    latency.labels({outcome.kind}).observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
    return http::Response::json(outcome.httpStatus, outcome.body.dump());
  }, {"POST"});
  return router;
}

int run_webhook(const WebhookOptions& o) {
  process::block_termination_signals();

  auto config = kube::load_config(o.kubeconfig, o.context);
  kube::prepare_process_for_clients(config);
  kube::Client client(config);
  ClusterCache cache(client, o.watchNamespace);
  cache.start();

  auto certificates = std::make_shared<http::CertificateWatcher>(http::CertificateWatcherOptions{o.certFile, o.keyFile, o.certPoll});
  metrics::Registry registry;
  auto [host, port] = http::parse_address(o.listenAddress, "--listen-address");
  http::ServerOptions admission;
  admission.address = host;
  admission.port = port;
  admission.threads = o.threads;
  admission.name = "admission";
  auto admission_server = http::start_server(
      admission, admission_router([&cache](const std::string& key) { return cache.view(key); }, [&cache] { return cache.has_synced(); },
                                  secret_read_access(client), registry), certificates);
  auto probe_server = http::start_probe_server(
      o.probeAddress, [&] { return certificates->certificates_loaded() && cache.has_synced(); },
      "not ready: certificates not loaded or caches not synced", registry);
  const auto probe_host = http::parse_address(o.probeAddress, "--probe-address").first;
  spdlog::info("admission on https://{}:{}{}, probes and metrics on {}:{}", host, admission_server->port(), kValidatePath,
               probe_host, probe_server->port());

  const int sig = process::wait_for_termination();
  spdlog::info("received signal {}; draining", sig);
  admission_server->stop(std::chrono::duration_cast<std::chrono::milliseconds>(o.shutdownGrace));
  probe_server->stop(std::chrono::milliseconds(500));
  cache.stop();
  return 0;
}

}  // namespace plano::webhook
