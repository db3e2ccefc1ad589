// The operator's informers: what it watches, and the indexes that map a change to the gateways
// it affects.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/kube/informer.h"
#include "operator/provider_cache.h"

namespace plano::op {

// Referenced Secrets carry this label (the operator adds it), so the Secret informer caches only
// Secrets some provider (or gateway state storage) references, never every Secret in the cluster.
inline constexpr const char* kReferencedSecretLabel = "plano-operator.io/referenced";
inline constexpr const char* kManagedByLabel = "app.kubernetes.io/managed-by";
// The one key of a cached ConfigMap's data: the SHA-256 of its data as JSON (see Informer::as_cached).
inline constexpr const char* kDataDigestKey = "plano-operator.io/sha256";

// Index names.
inline constexpr const char* kByGateway = "gateway";      // providers -> "ns/gateway"
inline constexpr const char* kBySecret = "secret";        // providers and gateways -> "ns/secret"
inline constexpr const char* kByOwnerGateway = "owner";   // owned objects -> "ns/gateway"

struct CacheOptions {
  std::string watchNamespace;  // empty: all namespaces
  std::chrono::seconds watchTimeout{300};
};

class Caches {
 public:
  Caches(kube::ApiClient& client, const CacheOptions& options);

  // Calls `enqueue(gatewayKey)` for every gateway a change may affect.
  void on_change(std::function<void(const std::string&)> enqueue);
  void start();
  void stop();
  bool wait_for_sync(std::chrono::milliseconds timeout) const;
  bool has_synced() const;

  // Counters across informers, for metrics.
  std::uint64_t watch_restarts() const;

  // The providers informer keeps identities and index entries only; providerObjects holds each
  // provider, decoded, fed by that informer's handlers before any other handler runs.
  kube::Informer gateways, providers, namespaces, referencedSecrets, configMaps, ownedSecrets, deployments, services,
      networkPolicies, disruptionBudgets;
  ProviderCache providerObjects;

 private:
  void provider_changed(const ProviderCache::ProviderPtr& before, const ProviderCache::ProviderPtr& now) const;
  // Set by on_change: what a provider's change (null before: added; null now: gone) means for the queue.
  std::function<void(const ProviderCache::ProviderPtr&, const ProviderCache::ProviderPtr&)> provider_changed_;
  // The informers of objects the operator writes for its gateways.
  std::vector<kube::Informer*> owned() { return {&configMaps, &ownedSecrets, &deployments, &services, &networkPolicies, &disruptionBudgets}; }
  // Every informer, const or not as the caller is.
  template <class Self>
  static auto all(Self& self) {
    return std::vector{&self.gateways, &self.providers, &self.namespaces, &self.referencedSecrets, &self.configMaps,
                       &self.ownedSecrets, &self.deployments, &self.services, &self.networkPolicies, &self.disruptionBudgets};
  }
};

// True when an update changed nothing but the status: mostly the operator's own status writes,
// which need no reconcile (a foreign status edit is put right by the periodic resync).
bool only_status_changed(const nlohmann::json& before, const nlohmann::json& after);

// "namespace/name" of the gateway a provider object points at.
std::string gateway_key_of_provider(const nlohmann::json& provider);

}  // namespace plano::op
