#include "operator/gateway_controller.h"

#include <spdlog/spdlog.h>

#include <cstdio>
#include <random>

#include "core/api/decode.h"
#include "core/encoding/base64.h"
#include "core/kube/errors.h"
#include "core/kube/events.h"
#include "core/kube/namespace_labels.h"
#include "core/log/logging.h"
#include "core/process/memory.h"
#include "operator/conditions.h"
#include "operator/desired_objects.h"
#include "operator/gateway_plan.h"
#include "operator/parallel.h"

namespace plano::op {
namespace {

using nlohmann::json;

std::pair<std::string, std::string> split_key(const std::string& key) {
  auto slash = key.find('/');
  return {key.substr(0, slash), key.substr(slash + 1)};
}

// Tells one reconcile's log lines from another's (the same gateway is reconciled many times).
std::string new_reconcile_id() {
  thread_local std::mt19937_64 random{std::random_device{}()};
  char text[17];
  std::snprintf(text, sizeof text, "%016llx", static_cast<unsigned long long>(random()));
  return text;
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
  // A status this process wrote stands in for the cached one only until the informer delivers the
  // version the write produced; then it is dropped, or a creation storm would keep every
  // provider's status twice.
  for (auto [informer, kind] : {std::pair{&caches_.gateways, api::kGatewayKind}, std::pair{&caches_.providers, api::kProviderKind}}) {
    informer->on_update([this, kind](const json&, const json& now) {
      written_.delivered(std::string(kind) + "/" + kube::object_key(now), now.at("metadata").value("resourceVersion", ""));
    });
  }
  metrics.gauge("plano_operator_workqueue_depth", "Gateway keys waiting for a worker.");
  metrics.on_collect([this, &metrics] {
    metrics.gauge("plano_operator_workqueue_depth", "Gateway keys waiting for a worker.").labels().set(static_cast<double>(queue_.depth()));
    metrics.counter("plano_operator_watch_restarts_total", "Watches reopened after the first, all informers.")
        .labels().advance_to(static_cast<double>(caches_.watch_restarts()));
  });
}

GatewayController::~GatewayController() { stop(); }

void GatewayController::start() {
  std::lock_guard lock(lifecycle_mu_);
  if (stopping_) return;  // stopped before it started (shutdown during leader election)
  writer_.start();
  for (int i = 0; i < options_.workers; ++i) threads_.emplace_back([this] { work(); });
  threads_.emplace_back([this] { resync_loop(); });
  threads_.emplace_back([this] { flush_events_loop(); });
}

void GatewayController::stop() {
  std::lock_guard lock(lifecycle_mu_);  // start() runs on the election thread
  if (stopping_.exchange(true)) return;
  queue_.shut_down();
  resync_cv_.notify_all();
  for (auto& t : threads_) t.join();
  threads_.clear();
  writer_.stop();
}

void GatewayController::resync_loop() {
  std::unique_lock lock(resync_mu_);
  while (!stopping_) {
    // Level-triggered safety net: every known gateway, and every key a provider points at.
    for (const auto& key : caches_.gateways.keys()) queue_.add(key);
    for (const auto& key : caches_.providerObjects.gateway_keys()) queue_.add(key);
    written_.keep_only([this](const std::string& entry) {
      const auto slash = entry.find('/');
      const auto& cache = entry.substr(0, slash) == api::kGatewayKind ? caches_.gateways : caches_.providers;
      return cache.get(entry.substr(slash + 1)) != nullptr;
    });
    missing_secrets_.keep_only([this](const std::string& key) {
      return !caches_.providers.versions_by_index(kBySecret, key).empty() || !caches_.gateways.versions_by_index(kBySecret, key).empty();
    });
    resync_cv_.wait_for(lock, options_.resync, [this] { return stopping_.load(); });
  }
}

void GatewayController::flush_events_loop() {
  // Tokens come back one per 5 minutes and series end after 6: twice a minute is soon enough.
  constexpr std::chrono::seconds kFlushEvery{30};
  std::unique_lock lock(resync_mu_);
  while (!resync_cv_.wait_for(lock, kFlushEvery, [this] { return stopping_.load(); })) {
    lock.unlock();
    events_.flush();
    lock.lock();
  }
}

kube::ObjectPtr GatewayController::with_written_status(kube::ObjectPtr cached) {
  if (!cached) return cached;
  auto status = written_.pending(std::string(api::kGatewayKind) + "/" + kube::object_key(*cached),
                                 cached->at("metadata").value("resourceVersion", ""));
  if (!status) return cached;
  auto copy = std::make_shared<json>(*cached);
  (*copy)["status"] = std::move(*status);
  return copy;
}

ProviderCache::ProviderPtr GatewayController::with_written_status(ProviderCache::ProviderPtr cached) {
  if (!cached) return cached;
  auto status = written_.pending(std::string(api::kProviderKind) + "/" + api::key_of(cached->metadata), cached->metadata.resourceVersion);
  if (!status) return cached;
  auto copy = std::make_shared<api::ModelProvider>(*cached);
  copy->status = api::decode_provider_status(*status);
  return copy;
}

void GatewayController::write_gateway_status(const std::string& gateway_key, const json& status) {
  const auto [ns, name] = split_key(gateway_key);
  const auto key = std::string(api::kGatewayKind) + "/" + gateway_key;
  const auto serial = written_.writing(key, WrittenStatuses::text_of(status));
  try {
    const auto written = client_.patch_status(kube::resources::kPlanoGateways, ns, name, kube::PatchType::Merge, {{"status", status}});
    written_.written(key, serial, written.at("metadata").value("resourceVersion", ""));
  } catch (...) {
    written_.failed(key, serial);
    throw;
  }
  ++writes_;
  writes_metric_.labels({"status"}).inc();
}

void GatewayController::work() {
  while (auto key = queue_.get()) {
    auto started = std::chrono::steady_clock::now();
    const auto [ns, name] = split_key(*key);
    log::FieldScope fields({{"kind", std::string(api::kGatewayKind)},
                            {"namespace", ns},
                            {"name", name},
                            {"gateway", *key},
                            {"reconcileID", new_reconcile_id()}});
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
    // A reconcile of a large gateway frees tens of MB of decoded objects and rendered text; glibc keeps
    // freed memory mapped unless asked. Once nothing waits, hand it back (about a millisecond).
    if (queue_.depth() == 0) process::give_back_free_memory();
  }
}

std::optional<std::map<std::string, std::string>> GatewayController::fetch_and_label_secret(const std::string& ns,
                                                                                            const std::string& name) {
  // Labelling it makes the Secret informer watch it from now on (key rotations roll the gateway);
  // the patch answers with the Secret, so one call both labels and reads it.
  const json label = {{"metadata", {{"labels", {{kReferencedSecretLabel, "true"}}}}}};
  try {
    auto secret = client_.patch(kube::resources::kSecrets, ns, name, kube::PatchType::Merge, label);
    ++writes_;
    writes_metric_.labels({"label"}).inc();
    return decode_secret_data(secret);
  } catch (const kube::ApiError& e) {
    if (e.is(kube::ErrorReason::NotFound)) return std::nullopt;
    if (!e.is(kube::ErrorReason::Forbidden)) throw;
    spdlog::warn("cannot label Secret {}/{} for watching ({}); key changes there need a resync to take effect", ns, name,
                 e.what());
  }
  try {
    return decode_secret_data(client_.get(kube::resources::kSecrets, ns, name));
  } catch (const kube::ApiError& e) {
    if (e.is(kube::ErrorReason::NotFound)) return std::nullopt;
    throw;
  }
}

std::optional<std::map<std::string, std::string>> GatewayController::ask_for_secret(const std::string& secret_key) {
  const auto slash = secret_key.find('/');
  auto data = fetch_and_label_secret(secret_key.substr(0, slash), secret_key.substr(slash + 1));
  if (data) missing_secrets_.found(secret_key);
  else missing_secrets_.found_missing(secret_key, MissingSecrets::Clock::now());
  return data;
}

void GatewayController::recheck_missing_secret(const std::string& secret_key, const std::string& gateway_key) {
  writer_.submit("secret/" + secret_key, [this, secret_key, gateway_key] {
    // Found: the informer queues the gateway too, unless labelling was forbidden.
    if (ask_for_secret(secret_key)) queue_.add(gateway_key);
  });
}

SecretData GatewayController::lookup_secrets(const std::string& gateway_key, const std::vector<const api::ModelProvider*>& providers,
                                             const api::PlanoGateway* gateway) {
  auto uncached = std::make_shared<std::map<std::string, std::optional<std::map<std::string, std::string>>>>();
  auto need = [&](const std::string& ns, const std::string& secret) {
    if (!caches_.referencedSecrets.get(ns, secret)) uncached->emplace(ns + "/" + secret, std::nullopt);
  };
  for (const auto* p : providers) {
    if (p->spec.accessKeySecretRef) need(p->metadata.namespace_, p->spec.accessKeySecretRef->name);
  }
  if (gateway && gateway->spec.stateStorage && gateway->spec.stateStorage->connectionStringSecretRef) {
    need(gateway->metadata.namespace_, gateway->spec.stateStorage->connectionStringSecretRef->name);
  }
  // Secrets never found missing are asked for now; those found missing before are taken as missing,
  // and asked for again off the reconcile path when their recheck is due: found, the label brings
  // them into the informer, which queues their gateways.
  const auto now = MissingSecrets::Clock::now();
  std::vector<std::pair<const std::string, std::optional<std::map<std::string, std::string>>>*> slots;
  for (auto& entry : *uncached) {
    switch (missing_secrets_.check(entry.first, now)) {
      case MissingSecrets::Known::No: slots.push_back(&entry); break;
      case MissingSecrets::Known::Missing: break;
      case MissingSecrets::Known::RecheckDue: recheck_missing_secret(entry.first, gateway_key); break;
    }
  }
  for_each_parallel(slots.size(), kParallelWrites, [&](std::size_t i) { slots[i]->second = ask_for_secret(slots[i]->first); });
  return [this, uncached](const std::string& ns, const std::string& name) -> std::optional<std::map<std::string, std::string>> {
    if (auto it = uncached->find(ns + "/" + name); it != uncached->end()) return it->second;
    if (auto cached = caches_.referencedSecrets.get(ns, name)) return decode_secret_data(*cached);
    return std::nullopt;
  };
}

void GatewayController::apply_if_changed(const kube::Resource& resource, const json& desired, const kube::Informer& cache) {
  const auto& meta = desired["metadata"];
  auto live = cache.get(meta["namespace"].get<std::string>(), meta["name"].get<std::string>());
  if (!needs_apply(cache.as_cached(desired), live.get())) return;
  try {
    client_.apply(resource, desired, kube::ApplyOptions{kFieldManager, true, false});
  } catch (const kube::ApiError& e) {
    // The server judged the object (4xx but a conflict or throttling): retrying the same one fails
    // the same way until the gateway changes.
    if (e.code() < 400 || e.code() >= 500 || e.is(kube::ErrorReason::Conflict) || e.is(kube::ErrorReason::TooManyRequests)) throw;
    throw ApplyError("the API server refused " + std::string(resource.kind) + " " + meta["namespace"].get<std::string>() +
                     "/" + meta["name"].get<std::string>() + ": " + e.message());
  }
  ++writes_;
  writes_metric_.labels({"apply"}).inc();
  spdlog::info("applied {} {}/{}", resource.kind, meta["namespace"].get<std::string>(), meta["name"].get<std::string>());
}

void GatewayController::remove_switched_off(const kube::Resource& resource, const std::string& ns, const std::string& name) {
  try {
    client_.remove(resource, ns, name);
    ++writes_;
    writes_metric_.labels({"delete"}).inc();
    spdlog::info("deleted {} {}/{}: switched off on its gateway", resource.kind, ns, name);
  } catch (const kube::ApiError& e) {
    if (!e.is(kube::ErrorReason::NotFound)) throw;  // already gone
  }
}

void GatewayController::write_provider_statuses(const std::vector<ProviderStatusChange>& changes) {
  for (const auto& change : changes) {
    const auto key = change.namespace_ + "/" + change.name;
    const auto written_key = std::string(api::kProviderKind) + "/" + key;
    auto status = WrittenStatuses::text_of(status_json(change.status));
    const auto serial = written_.writing(written_key, status);
    writer_.submit("status/" + key, [this, ns = change.namespace_, name = change.name, status = std::move(status), written_key, serial] {
      try {
        const auto written = client_.patch_status(kube::resources::kModelProviders, ns, name, kube::PatchType::Merge,
                                                  {{"status", json::parse(*status)}});
        written_.written(written_key, serial, written.at("metadata").value("resourceVersion", ""));
        ++writes_;
        writes_metric_.labels({"status"}).inc();
      } catch (const kube::ApiError& e) {
        if (!e.is(kube::ErrorReason::NotFound)) throw;  // deleted meanwhile: nothing to report to
        written_.failed(written_key, serial);
      }
    });
  }
}

std::string GatewayController::EventWrites::create(const kube::EventRecord& record,
                                                   std::chrono::system_clock::time_point observed) {
  const auto event = kube::create_event(controller_.client_, record, observed);
  ++controller_.writes_;
  controller_.writes_metric_.labels({"event"}).inc();
  return event.at("metadata").at("name").get<std::string>();
}

void GatewayController::EventWrites::patch_series(const std::string& ns, const std::string& name, std::int64_t count,
                                                  std::chrono::system_clock::time_point last_observed) {
  kube::patch_event_series(controller_.client_, ns, name, count, last_observed);
  ++controller_.writes_;
  controller_.writes_metric_.labels({"event_series"}).inc();
}

void GatewayController::record_events(const std::vector<EventNote>& events, const kube::ObjectPtr& gateway,
                                      const ProvidersByKey& provider_by_key) {
  for (const auto& ev : events) {
    json regarding;
    if (ev.kind == api::kGatewayKind) {
      if (gateway) regarding = kube::object_reference(*gateway);
    } else if (auto it = provider_by_key.find(ev.namespace_ + "/" + ev.name); it != provider_by_key.end()) {
      const auto& meta = it->second->metadata;
      regarding = {{"apiVersion", api::kApiVersion}, {"kind", api::kProviderKind}, {"namespace", meta.namespace_},
                   {"name", meta.name},           {"uid", meta.uid},               {"resourceVersion", meta.resourceVersion}};
    }
    if (regarding.is_null()) continue;
    kube::EventRecord record;
    record.regarding = std::move(regarding);
    record.type = ev.type == "Warning" ? kube::EventType::Warning : kube::EventType::Normal;
    record.reason = ev.reason;
    record.note = ev.note;
    record.action = "Reconcile";
    record.reporting_controller = "plano-operator.io/operator";
    record.reporting_instance = options_.instance;
    // Correlated and best effort (a failed write is logged, not retried); off the reconcile path.
    writer_.submit("event/" + std::to_string(++events_submitted_),
                   [this, record = std::move(record), fields = log::current_fields()] {
      log::FieldScope scope(fields);
      events_.record(record);
    });
  }
}

void GatewayController::reconcile(const std::string& gateway_key) {
  const auto [ns, name] = split_key(gateway_key);
  GatewaySnapshot snap;
  snap.namespace_ = ns;
  snap.name = name;
  snap.now = now_rfc3339();

  std::optional<api::PlanoGateway> gateway;
  kube::ObjectPtr gateway_json = with_written_status(caches_.gateways.get(ns, name));
  if (gateway_json) {
    auto decoded = api::decode_gateway(*gateway_json);
    for (const auto& e : decoded.errors) spdlog::warn("gateway {}: {}: {}", gateway_key, e.path, e.message);
    gateway = std::move(decoded.object);
    snap.gateway = &*gateway;
  }
  using Clock = std::chrono::steady_clock;
  const auto t0 = Clock::now();
  std::vector<ProviderCache::ProviderPtr> providers;
  for (const auto& [key, version] : caches_.providers.versions_by_index(kByGateway, gateway_key)) {
    if (auto provider = with_written_status(caches_.providerObjects.get(key))) providers.push_back(std::move(provider));
  }
  ProvidersByKey provider_by_key;
  for (const auto& p : providers) {
    provider_by_key.emplace(api::key_of(p->metadata), p);
    snap.providers.push_back(p.get());
  }
  snap.namespaceLabels = kube::namespace_labels(caches_.namespaces);
  const auto t1 = Clock::now();
  snap.secretData = lookup_secrets(gateway_key, snap.providers, snap.gateway);
  const auto t2 = Clock::now();
  kube::ObjectPtr live_deployment, live_keys;
  if (gateway) {
    live_deployment = caches_.deployments.get(ns, owned_names(*gateway).deployment);
    snap.liveDeployment = live_deployment.get();
    live_keys = caches_.ownedSecrets.get(ns, owned_names(*gateway).keys);
    snap.liveKeysSecret = live_keys.get();
  }

  const auto plan = plan_gateway(snap);
  const auto t3 = Clock::now();
  if (plan.apply) {
    try {
      // Keys and config first, so the Deployment never points at what does not exist yet.
      apply_if_changed(kube::resources::kSecrets, plan.keysSecret, caches_.ownedSecrets);
      apply_if_changed(kube::resources::kConfigMaps, plan.configMap, caches_.configMaps);
      apply_if_changed(kube::resources::kDeployments, plan.deployment, caches_.deployments);
      apply_if_changed(kube::resources::kServices, plan.service, caches_.services);
      if (plan.networkPolicy) {
        apply_if_changed(kube::resources::kNetworkPolicies, *plan.networkPolicy, caches_.networkPolicies);
      } else if (caches_.networkPolicies.get(ns, owned_names(*gateway).networkPolicy)) {
        remove_switched_off(kube::resources::kNetworkPolicies, ns, owned_names(*gateway).networkPolicy);
      }
      if (plan.disruptionBudget) {
        apply_if_changed(kube::resources::kPodDisruptionBudgets, *plan.disruptionBudget, caches_.disruptionBudgets);
      } else if (caches_.disruptionBudgets.get(ns, owned_names(*gateway).disruptionBudget)) {
        remove_switched_off(kube::resources::kPodDisruptionBudgets, ns, owned_names(*gateway).disruptionBudget);
      }
    } catch (const ApplyError& e) {
      // Refused, not lost: say so on the gateway, then let the queue retry with backoff.
      const auto failure = apply_failure(*gateway, plan, e.what(), snap.now);
      write_gateway_status(gateway_key, failure.status);
      if (failure.event) record_events({*failure.event}, gateway_json, provider_by_key);
      throw;
    }
  }
  if (plan.rolloutHeldUntil) {
    const auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(*plan.rolloutHeldUntil - std::chrono::system_clock::now());
    queue_.add_after(gateway_key, std::max(wait, std::chrono::milliseconds(0)) + std::chrono::seconds(1));  // times are whole seconds
  }
  if (plan.awaitsSecret) queue_.add_after(gateway_key, kMissingSecretRecheck);
  if (plan.gatewayStatus) {
    write_gateway_status(gateway_key, *plan.gatewayStatus);
  }
  write_provider_statuses(plan.providerStatuses);
  record_events(plan.events, gateway_json, provider_by_key);
  auto ms = [](Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); };
  spdlog::debug("reconciled {} with {} providers in {:.1f} ms: decode {:.1f}, secrets {:.1f}, plan {:.1f}, writes {:.1f}",
                gateway_key, providers.size(), ms(Clock::now() - t0), ms(t1 - t0), ms(t2 - t1), ms(t3 - t2), ms(Clock::now() - t3));
}

}  // namespace plano::op
