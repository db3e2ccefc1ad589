#include "operator/gateway_controller.h"

#include <spdlog/spdlog.h>

#include "core/api/decode.h"
#include "core/encoding/base64.h"
#include "core/kube/errors.h"
#include "core/kube/events.h"
#include "core/kube/namespace_labels.h"
#include "operator/conditions.h"
#include "operator/desired_objects.h"
#include "operator/gateway_plan.h"

namespace plano::op {
namespace {

using nlohmann::json;

std::pair<std::string, std::string> split_key(const std::string& key) {
  auto slash = key.find('/');
  return {key.substr(0, slash), key.substr(slash + 1)};
}

std::map<std::string, std::string> decode_secret_data(const json& secret) {
  std::map<std::string, std::string> out;
  auto data = secret.value("data", json::object());
  if (!data.is_object()) return out;
  for (const auto& [k, v] : data.items()) {
    if (!v.is_string()) continue;
    if (auto decoded = encoding::base64_decode(v.get<std::string>())) out[k] = *decoded;
  }
  return out;
}

}  // namespace

GatewayController::GatewayController(kube::ApiClient& client, Caches& caches, metrics::Registry& metrics,
                                     ControllerOptions options)
    : client_(client),
      caches_(caches),
      options_(std::move(options)),
      reconciles_(metrics.counter("plano_operator_reconcile_total", "Gateway reconciles by result.", {"result"})),
      duration_(metrics.histogram("plano_operator_reconcile_duration_seconds", "Time spent in one gateway reconcile.",
                                  metrics::default_buckets())),
      writes_metric_(metrics.counter("plano_operator_api_writes_total", "Writes to the API server by kind of write.", {"kind"})) {
  caches_.on_change([this](const std::string& key) { queue_.add(key); });
  metrics.gauge("plano_operator_workqueue_depth", "Gateway keys waiting for a worker.");
  metrics.on_collect([this, &metrics] {
    metrics.gauge("plano_operator_workqueue_depth", "Gateway keys waiting for a worker.").labels().set(static_cast<double>(queue_.depth()));
    metrics.gauge("plano_operator_watch_restarts", "Watches reopened after the first, all informers.")
        .labels().set(static_cast<double>(caches_.watch_restarts()));
  });
}

GatewayController::~GatewayController() { stop(); }

void GatewayController::start() {
  std::lock_guard lock(lifecycle_mu_);
  if (stopping_) return;  // stopped before it started (shutdown during leader election)
  for (int i = 0; i < options_.workers; ++i) threads_.emplace_back([this] { work(); });
  threads_.emplace_back([this] { resync_loop(); });
}

void GatewayController::stop() {
  std::lock_guard lock(lifecycle_mu_);  // start() runs on the election thread
  if (stopping_.exchange(true)) return;
  queue_.shut_down();
  resync_cv_.notify_all();
  for (auto& t : threads_) t.join();
  threads_.clear();
}

void GatewayController::resync_loop() {
  std::unique_lock lock(resync_mu_);
  while (!stopping_) {
    // Level-triggered safety net: every known gateway, and every key a provider points at.
    for (const auto& g : caches_.gateways.list()) queue_.add(kube::object_key(*g));
    for (const auto& p : caches_.providers.list()) queue_.add(gateway_key_of_provider(*p));
    resync_cv_.wait_for(lock, options_.resync, [this] { return stopping_.load(); });
  }
}

void GatewayController::work() {
  while (auto key = queue_.get()) {
    auto started = std::chrono::steady_clock::now();
    try {
      reconcile(*key);
      queue_.forget(*key);
      reconciles_.labels({"success"}).inc();
    } catch (const std::exception& e) {
      reconciles_.labels({"error"}).inc();
      spdlog::warn("reconcile of gateway {} failed (retry {}): {}", *key, queue_.retries(*key) + 1, e.what());
      queue_.add_rate_limited(*key);
    }
    duration_.labels().observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
    queue_.done(*key);
  }
}

std::optional<std::map<std::string, std::string>> GatewayController::secret_data(const std::string& ns,
                                                                                 const std::string& name) {
  if (auto cached = caches_.referencedSecrets.get(ns, name)) return decode_secret_data(*cached);
  json secret;
  try {
    secret = client_.get(kube::resources::kSecrets, ns, name);
  } catch (const kube::ApiError& e) {
    if (e.is(kube::ErrorReason::NotFound)) return std::nullopt;
    throw;
  }
  // Label it so the Secret informer watches it from now on (key rotations roll the gateway).
  try {
    client_.patch(kube::resources::kSecrets, ns, name, kube::PatchType::Merge,
                  {{"metadata", {{"labels", {{kReferencedSecretLabel, "true"}}}}}});
    ++writes_;
    writes_metric_.labels({"label"}).inc();
  } catch (const kube::ApiError& e) {
    spdlog::warn("cannot label Secret {}/{} for watching ({}); key changes there need a resync to take effect", ns, name,
                 e.what());
  }
  return decode_secret_data(secret);
}

void GatewayController::apply_if_changed(const kube::Resource& resource, const json& desired, const kube::Informer& cache) {
  const auto& meta = desired["metadata"];
  auto live = cache.get(meta["namespace"].get<std::string>(), meta["name"].get<std::string>());
  if (!needs_apply(desired, live.get())) return;
  client_.apply(resource, desired, kube::ApplyOptions{kFieldManager, true, false});
  ++writes_;
  writes_metric_.labels({"apply"}).inc();
  spdlog::info("applied {} {}/{}", resource.kind, meta["namespace"].get<std::string>(), meta["name"].get<std::string>());
}

void GatewayController::write_provider_statuses(const std::vector<ProviderStatusChange>& changes) {
  // A gateway with a thousand new providers owes a thousand status writes: a few connections at
  // once keep that from holding the gateway's next reconcile for seconds.
  constexpr std::size_t kParallel = 8;
  std::atomic<std::size_t> next{0};
  std::exception_ptr failure;
  std::mutex failure_mu;
  auto drain = [&] {
    for (std::size_t i = next++; i < changes.size(); i = next++) {
      const auto& change = changes[i];
      try {
        client_.patch_status(kube::resources::kModelProviders, change.namespace_, change.name, kube::PatchType::Merge,
                             {{"status", change.status}});
        ++writes_;
        writes_metric_.labels({"status"}).inc();
      } catch (const kube::ApiError& e) {
        if (e.is(kube::ErrorReason::NotFound)) continue;  // deleted meanwhile: nothing to report to
        std::lock_guard lock(failure_mu);
        if (!failure) failure = std::current_exception();
      }
    }
  };
  std::vector<std::thread> helpers;
  for (std::size_t t = 1; t < std::min(kParallel, changes.size()); ++t) helpers.emplace_back(drain);
  drain();
  for (auto& h : helpers) h.join();
  if (failure) std::rethrow_exception(failure);
}

void GatewayController::reconcile(const std::string& gateway_key) {
  const auto [ns, name] = split_key(gateway_key);
  GatewaySnapshot snap;
  snap.namespace_ = ns;
  snap.name = name;
  snap.now = now_rfc3339();

  std::optional<api::PlanoGateway> gateway;
  kube::ObjectPtr gateway_json = caches_.gateways.get(ns, name);
  if (gateway_json) {
    auto decoded = api::decode_gateway(*gateway_json);
    for (const auto& e : decoded.errors) spdlog::warn("gateway {}: {}: {}", gateway_key, e.path, e.message);
    gateway = std::move(decoded.object);
    snap.gateway = &*gateway;
  }
  std::vector<kube::ObjectPtr> provider_json = caches_.providers.by_index(kByGateway, gateway_key);
  std::vector<api::ModelProvider> providers;
  providers.reserve(provider_json.size());
  std::map<std::string, kube::ObjectPtr> provider_by_key;
  for (const auto& p : provider_json) {
    auto decoded = api::decode_provider(*p);
    if (!decoded.errors.empty()) {
      spdlog::warn("provider {} does not decode ({}: {}); the CRD schema and this operator disagree", kube::object_key(*p),
                   decoded.errors[0].path, decoded.errors[0].message);
      continue;
    }
    provider_by_key[kube::object_key(*p)] = p;
    providers.push_back(std::move(*decoded.object));
  }
  for (const auto& p : providers) snap.providers.push_back(&p);
  snap.namespaceLabels = kube::namespace_labels(caches_.namespaces);
  snap.secretData = [this](const std::string& n, const std::string& s) { return secret_data(n, s); };
  kube::ObjectPtr live_deployment;
  if (gateway) {
    live_deployment = caches_.deployments.get(ns, owned_names(*gateway).deployment);
    snap.liveDeployment = live_deployment.get();
  }

  const auto plan = plan_gateway(snap);
  if (plan.apply) {
    // Keys and config first, so the Deployment never points at what does not exist yet.
    apply_if_changed(kube::resources::kSecrets, plan.keysSecret, caches_.ownedSecrets);
    apply_if_changed(kube::resources::kConfigMaps, plan.configMap, caches_.configMaps);
    apply_if_changed(kube::resources::kDeployments, plan.deployment, caches_.deployments);
    apply_if_changed(kube::resources::kServices, plan.service, caches_.services);
  }
  if (plan.gatewayStatus) {
    client_.patch_status(kube::resources::kPlanoGateways, ns, name, kube::PatchType::Merge, {{"status", *plan.gatewayStatus}});
    ++writes_;
    writes_metric_.labels({"status"}).inc();
  }
  write_provider_statuses(plan.providerStatuses);
  for (const auto& ev : plan.events) {
    const auto regarding = ev.kind == api::kGatewayKind ? gateway_json : provider_by_key[ev.namespace_ + "/" + ev.name];
    if (!regarding) continue;
    kube::EventRecord record;
    record.regarding = *regarding;
    record.type = ev.type == "Warning" ? kube::EventType::Warning : kube::EventType::Normal;
    record.reason = ev.reason;
    record.note = ev.note;
    record.action = "Reconcile";
    record.reporting_controller = "plano-operator.io/operator";
    record.reporting_instance = options_.instance;
    try {
      kube::create_event(client_, record);
      ++writes_;
      writes_metric_.labels({"event"}).inc();
    } catch (const kube::ApiError& e) {
      spdlog::warn("cannot record event {} on {}/{}: {}", ev.reason, ev.namespace_, ev.name, e.what());
    }
  }
}

}  // namespace plano::op
