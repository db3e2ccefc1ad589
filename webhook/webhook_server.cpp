#include "webhook/webhook_server.h"

#include <spdlog/spdlog.h>

#include <csignal>
#include <memory>
#include <mutex>
#include <tuple>

#include "core/process/signals.h"
#include "core/http/address.h"
#include "core/http/certificate_watcher.h"
#include "core/http/probes.h"
#include "core/http/server.h"
#include "core/kube/client.h"
#include "core/log/logging.h"
#include "core/metrics/process.h"
#include "webhook/cluster_cache.h"

namespace plano::webhook {

namespace {

// Label values come from fixed sets whatever a request says, so a client sending made-up kinds or
// operations cannot add series without bound (each costs memory and /metrics text for ever).
std::string kind_label(const std::string& kind) {
  return kind == api::kGatewayKind || kind == api::kProviderKind ? kind : "other";
}

std::string operation_label(const std::string& operation) {
  for (const char* known : {"CREATE", "UPDATE", "DELETE", "CONNECT"}) {
    if (operation == known) return operation;
  }
  return "other";
}

// How often each of the admission server's bounds has acted on a client, its connections by state,
// and its body budget in use: a hostile client shows here before reviews fail.
void publish_server_stats(metrics::Registry& registry, const http::Server& server) {
  auto& connections = registry.gauge("plano_webhook_connections", "Admission connections open now, by state.", {"state"});
  auto& budget = registry.gauge("plano_webhook_body_budget_bytes", "Bytes of the request body budget in use now.").labels();
  auto& actions = registry.counter("plano_webhook_bound_actions_total",
                                   "Times a bound of the admission server acted on a client, by action.", {"action"});
  struct Last {
    std::mutex mutex;
    http::ServerStats stats;
  };
  registry.on_collect([&, last = std::make_shared<Last>()] {
    const http::ServerStats now = server.stats();
    const std::size_t waiting = now.idleConnections + now.receivingConnections;
    connections.labels({"idle"}).set(static_cast<double>(now.idleConnections));
    connections.labels({"receiving"}).set(static_cast<double>(now.receivingConnections));
    connections.labels({"busy"}).set(static_cast<double>(now.openConnections > waiting ? now.openConnections - waiting : 0));
    budget.set(static_cast<double>(now.bodyBudgetInUse));
    std::lock_guard lock(last->mutex);
    for (auto [action, count, before] : {std::tuple{"evicted", now.evictedConnections, last->stats.evictedConnections},
                                         std::tuple{"rejected", now.rejectedConnections, last->stats.rejectedConnections},
                                         std::tuple{"timed_out", now.timeouts, last->stats.timeouts},
                                         std::tuple{"too_slow", now.tooSlowRequests, last->stats.tooSlowRequests},
                                         std::tuple{"over_budget", now.overBudgetRequests, last->stats.overBudgetRequests}}) {
      actions.labels({action}).inc(static_cast<double>(count - before));
    }
    last->stats = now;
  });
}

// One line per review, with what it was about as fields: a refusal at info (someone was refused
// something), the rest at debug, so a busy cluster's allowed writes do not flood the log.
void log_review(const AdmissionOutcome& outcome) {
  // Fields cost allocations on every review: built only for a line that is written.
  if (outcome.verdict != "denied" && !spdlog::should_log(spdlog::level::debug)) return;
  const std::pair<const char*, const std::string*> known[] = {{"kind", &outcome.kind},       {"namespace", &outcome.namespace_},
                                                               {"name", &outcome.name},       {"gateway", &outcome.gateway},
                                                               {"operation", &outcome.operation}, {"uid", &outcome.uid}};
  std::vector<log::Field> fields;
  for (const auto& [key, value] : known) {
    if (!value->empty()) fields.emplace_back(key, *value);
  }
  log::FieldScope scope(std::move(fields));
  if (outcome.verdict == "denied") {
    spdlog::info("admission denied: {}", outcome.body["response"]["status"].value("message", ""));
  } else if (outcome.verdict == "error") {
    spdlog::debug("admission request refused as malformed: {}", outcome.body.value("message", ""));
  } else {
    spdlog::debug("admission {}", outcome.verdict);
  }
}

}  // namespace

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
      requests.labels({"other", "other", "error"}).inc();
      return http::Response::text(415, "send an AdmissionReview as application/json\n");
    }
    if (!synced()) {
      requests.labels({"other", "other", "unavailable"}).inc();
      return http::Response::text(503, "the webhook's view of the cluster is still loading; retry shortly\n");
    }
    auto outcome = review(req.body, cluster, may_read_secret);
    log_review(outcome);
    const std::string kind = kind_label(outcome.kind);
    requests.labels({kind, operation_label(outcome.operation), outcome.verdict}).inc();
    latency.labels({kind}).observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
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
  metrics::register_process_metrics(registry);
  auto [host, port] = http::parse_address(o.listenAddress, "--listen-address");
  http::ServerOptions admission;
  admission.address = host;
  admission.port = port;
  admission.threads = o.threads;
  admission.maxConnections = o.maxConnections;
  admission.requestTimeout = o.requestTimeout;
  admission.minRequestBytesPerSecond = o.minRequestBytesPerSecond;
  admission.bodyBudgetBytes = o.bodyBudgetBytes;
  admission.name = "admission";
  auto admission_server = http::start_server(
      admission, admission_router([&cache](const std::string& key) { return cache.view(key); }, [&cache] { return cache.has_synced(); },
                                  secret_read_access(client), registry), certificates);
  publish_server_stats(registry, *admission_server);
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
