// The gateway controller: turns cache changes into reconciles of one gateway key at a time, and
// each reconcile into the few API writes that make the cluster match plan_gateway's decision.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <memory>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "core/kube/client.h"
#include "core/kube/event_correlator.h"
#include "core/kube/informer.h"
#include "core/metrics/registry.h"
#include "operator/async_writer.h"
#include "operator/caches.h"
#include "operator/gateway_plan.h"
#include "operator/missing_secrets.h"
#include "operator/written_statuses.h"
#include "operator/work_queue.h"

namespace plano::op {

struct ControllerOptions {
  int workers = 2;
  std::chrono::seconds resync{600};  // every gateway is reconciled at least this often
  std::string instance;              // this replica's name, for Events
};

// The API server refused an owned object for what it is (422, 403, ...), so the gateway says so.
class ApplyError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class GatewayController {
 public:
  GatewayController(kube::ApiClient& client, Caches& caches, metrics::Registry& metrics, ControllerOptions options);
  ~GatewayController();
  GatewayController(const GatewayController&) = delete;
  GatewayController& operator=(const GatewayController&) = delete;

  // Workers start taking keys; the caches must be started and synced first.
  void start();
  void stop();

  // One reconcile of "namespace/name"; throws on API errors (the workers retry with backoff).
  void reconcile(const std::string& gateway_key);

  void enqueue(const std::string& gateway_key) { queue_.add(gateway_key); }
  // API writes made so far (applies, status patches, events, labels), for tests and metrics.
  std::uint64_t writes() const { return writes_.load(); }

 private:
  using ProvidersByKey = std::map<std::string, ProviderCache::ProviderPtr>;
  void work();
  void resync_loop();
  // Writes the Event counts that waited for the per-object rate (see EventCorrelator).
  void flush_events_loop();
  // API calls that may run side by side: Secret lookups of one reconcile, and status and Event writes.
  static constexpr std::size_t kParallelWrites = 8;
  // How soon a gateway whose provider names a Secret that does not exist looks again: an unlabelled
  // Secret is not watched, and a pipeline waiting for the provider should see it in seconds.
  static constexpr std::chrono::seconds kMissingSecretRecheck{15};
  // Secrets the providers of `gateway_key` and its state storage (`gateway`, when it exists)
  // reference: from the informer, or fetched (and labelled, so that the informer has them next
  // time) all at once for those it does not hold yet, except those found missing before (see
  // MissingSecrets).
  SecretData lookup_secrets(const std::string& gateway_key, const std::vector<const api::ModelProvider*>& providers,
                            const api::PlanoGateway* gateway);
  // Fetches (and labels) a Secret by "namespace/name", noting in missing_secrets_ whether it was there.
  std::optional<std::map<std::string, std::string>> ask_for_secret(const std::string& secret_key);
  // Asks again, off the reconcile path, for a Secret found missing before; queues the gateway if found.
  void recheck_missing_secret(const std::string& secret_key, const std::string& gateway_key);
  std::optional<std::map<std::string, std::string>> fetch_and_label_secret(const std::string& ns, const std::string& name);
  void write_provider_statuses(const std::vector<ProviderStatusChange>& changes);
  // The cached object, or a copy with the status this process wrote from that very version when
  // the informer has not delivered the write yet: a reconcile judges transitions (and so Events,
  // like ConfigRolledOut) against what it last decided, not against a stale copy.
  kube::ObjectPtr with_written_status(kube::ObjectPtr gateway);
  ProviderCache::ProviderPtr with_written_status(ProviderCache::ProviderPtr provider);
  // Writes the gateway's status now, noting it in written_.
  void write_gateway_status(const std::string& gateway_key, const nlohmann::json& status);
  void record_events(const std::vector<EventNote>& events, const kube::ObjectPtr& gateway,
                     const ProvidersByKey& provider_by_key);
  // Deletes an owned object its gateway no longer wants (a NetworkPolicy switched off, a
  // PodDisruptionBudget at one replica).
  void remove_switched_off(const kube::Resource& resource, const std::string& ns, const std::string& name);
  void apply_if_changed(const kube::Resource& resource, const nlohmann::json& desired, const kube::Informer& cache);

  kube::ApiClient& client_;
  Caches& caches_;
  ControllerOptions options_;
  WorkQueue queue_;
  std::vector<std::thread> threads_;
  std::mutex lifecycle_mu_;
  std::atomic<bool> stopping_{false};
  std::atomic<std::uint64_t> writes_{0};
  std::atomic<std::uint64_t> events_submitted_{0};
  // Keyed "Kind/ns/name".
  WrittenStatuses written_;
  MissingSecrets missing_secrets_{kMissingSecretRecheck};
  // Events go through the correlator to the API server, counted as writes.
  class EventWrites final : public kube::EventSink {
   public:
    explicit EventWrites(GatewayController& controller) : controller_(controller) {}
    std::string create(const kube::EventRecord& record, std::chrono::system_clock::time_point observed) override;
    void patch_series(const std::string& ns, const std::string& name, std::int64_t count,
                      std::chrono::system_clock::time_point last_observed) override;

   private:
    GatewayController& controller_;
  };
  EventWrites event_writes_{*this};
  kube::CorrelatingEventRecorder events_{event_writes_};
  std::mutex resync_mu_;
  std::condition_variable resync_cv_;

  metrics::Family<metrics::Counter>& reconciles_;
  metrics::Family<metrics::Histogram>& duration_;
  metrics::Family<metrics::Counter>& writes_metric_;
  // Last, so that its workers stop before anything they use is destroyed.
  AsyncWriter writer_{kParallelWrites};
};

}  // namespace plano::op
