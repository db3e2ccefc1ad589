// The webhook's picture of the cluster: gateways and providers decoded once, when informers
// report them, and grouped by gateway; each gateway's view (its evaluation) built on the first
// request after a change and kept until the next, so a request only reads memory.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/kube/informer.h"
#include "webhook/admission.h"

namespace plano::webhook {

class ClusterCache {
 public:
  ClusterCache(kube::ApiClient& client, const std::string& watch_namespace);
  void start();
  void stop();
  bool has_synced() const;
  std::shared_ptr<const ClusterView> view(const std::string& gateway_key) const;

 private:
  void put_gateway(const nlohmann::json& object);
  void drop_gateway(const nlohmann::json& object);
  void put_provider(const nlohmann::json& object);
  void drop_provider(const nlohmann::json& object);

  kube::Informer gateways_, providers_, namespaces_;
  mutable std::shared_mutex mu_;
  std::map<std::string, std::shared_ptr<const api::PlanoGateway>> gatewayByKey_;
  // Every provider, found by namespace and name without a key string of its own (10,000 of them
  // cost about 1 kB each; their bookkeeping should not add a third), and grouped by the gateway
  // they name (unordered: a view puts them in precedence order).
  using ProviderName = std::pair<std::string_view, std::string_view>;  // namespace, name
  struct ByName {
    using is_transparent = void;
    static ProviderName name_of(const ProviderName& n) { return n; }
    static ProviderName name_of(const std::shared_ptr<const api::ModelProvider>& p) {
      return {p->metadata.namespace_, p->metadata.name};
    }
    bool operator()(const auto& a, const auto& b) const { return name_of(a) < name_of(b); }
  };
  std::set<std::shared_ptr<const api::ModelProvider>, ByName> providerByName_;
  std::map<std::string, std::vector<std::shared_ptr<const api::ModelProvider>>> providersByGateway_;
  void erase_provider_locked(const ProviderName& name);

  // Views stay valid until their gateway or one of its providers changes (then dropped), or any
  // Namespace does (labels decide policy; then the generation moves on and each is rebuilt).
  struct CachedView {
    std::shared_ptr<const ClusterView> view;
    std::uint64_t namespaceGeneration = 0;
  };
  void forget_view_locked(const std::string& gateway_key);
  std::shared_ptr<const ClusterView> build_view_locked(const std::string& gateway_key) const;
  mutable std::map<std::string, CachedView> views_;
  std::atomic<std::uint64_t> namespaceGeneration_{0};
};

}  // namespace plano::webhook
