#include "webhook/cluster_cache.h"

#include <spdlog/spdlog.h>

#include <mutex>

#include "core/api/decode.h"
#include "core/kube/namespace_labels.h"
#include "core/rules/evaluation.h"

namespace plano::webhook {
namespace {

// Gateways and providers are kept decoded below; their informers keep identities only.
kube::InformerOptions handlers_only(const std::string& ns) {
  kube::InformerOptions o;
  o.namespace_ = ns;
  o.keep_objects = false;
  return o;
}

// A provider's "namespace/name" key as namespace and name (namespaces hold no '/').
std::pair<std::string_view, std::string_view> namespace_and_name(std::string_view key) {
  const auto slash = key.find('/');
  if (slash == std::string_view::npos) return {std::string_view(), key};
  return {key.substr(0, slash), key.substr(slash + 1)};
}

std::string gateway_key_of(const api::ModelProvider& mp) { return mp.gatewayNamespace() + "/" + mp.spec.gatewayRef.name; }

// Empties a string and gives back its buffer (assigning "" keeps the buffer, and moving the string
// then moves that along).
void release(std::string& s) { std::string().swap(s); }

// What the webhook keeps of a provider: what the rules and the renderer read. Metadata beyond
// identity and age, and the operator's conditions (six, each with a time, reason and message, of
// which the rules read at most two, and of those only type and status) would be most of a managed
// provider's bytes.
api::ModelProvider what_the_read_by_rules(api::ModelProvider mp) {
  release(mp.metadata.uid);
  release(mp.metadata.resourceVersion);
  mp.metadata.labels.clear();
  mp.metadata.annotations.clear();
  std::erase_if(mp.status.conditions, [](const api::Condition& c) { return !rules::read_by_rules(c); });
  for (auto& c : mp.status.conditions) c.lastTransitionTime = c.reason = c.message = {};
  mp.status.conditions.shrink_to_fit();
  return mp;
}

}  // namespace

ClusterCache::ClusterCache(kube::ApiClient& client, const std::string& watch_namespace)
    : gateways_(client, kube::resources::kPlanoGateways, handlers_only(watch_namespace)),
      providers_(client, kube::resources::kModelProviders, handlers_only(watch_namespace)),
      namespaces_(client, kube::resources::kNamespaces) {
  gateways_.on_add([this](const auto& o) { put_gateway(o); });
  gateways_.on_update([this](const auto&, const auto& n) { put_gateway(n); });
  gateways_.on_delete([this](const auto& o) { drop_gateway(o); });
  providers_.on_add([this](const auto& o) { put_provider(o); });
  providers_.on_update([this](const auto& old, const auto& n) {
    drop_provider(old);
    put_provider(n);
  });
  providers_.on_delete([this](const auto& o) { drop_provider(o); });
  namespaces_.on_add([this](const auto&) { ++namespaceGeneration_; });
  namespaces_.on_update([this](const auto&, const auto&) { ++namespaceGeneration_; });
  namespaces_.on_delete([this](const auto&) { ++namespaceGeneration_; });
}

void ClusterCache::start() {
  gateways_.start();
  providers_.start();
  namespaces_.start();
}

void ClusterCache::stop() {
  gateways_.stop();
  providers_.stop();
  namespaces_.stop();
}

bool ClusterCache::has_synced() const {
  return gateways_.has_synced() && providers_.has_synced() && namespaces_.has_synced();
}

void ClusterCache::put_gateway(const nlohmann::json& object) {
  auto decoded = api::decode_gateway(object);
  auto gw = std::make_shared<const api::PlanoGateway>(std::move(*decoded.object));
  const auto key = api::key_of(gw->metadata);
  std::unique_lock lock(mu_);
  gatewayByKey_[key] = std::move(gw);
  forget_view_locked(key);
}

void ClusterCache::drop_gateway(const nlohmann::json& object) {
  const auto key = kube::object_key(object);
  std::unique_lock lock(mu_);
  gatewayByKey_.erase(key);
  forget_view_locked(key);
}

void ClusterCache::put_provider(const nlohmann::json& object) {
  auto decoded = api::decode_provider(object);
  if (!decoded.errors.empty()) {
    // The API server stored it, so it passed the CRD schema: our decoder is older or newer.
    spdlog::warn("provider {} does not decode ({}: {}); left out of admission checks", kube::object_key(object),
                 decoded.errors[0].path, decoded.errors[0].message);
    return;
  }
  auto mp = std::make_shared<const api::ModelProvider>(what_the_read_by_rules(std::move(*decoded.object)));
  const auto gw = gateway_key_of(*mp);
  std::unique_lock lock(mu_);
  erase_provider_locked(ByName::name_of(mp));
  providersByGateway_[gw].push_back(mp);
  providerByName_.insert(std::move(mp));
  forget_view_locked(gw);
}

void ClusterCache::drop_provider(const nlohmann::json& object) {
  const auto key = kube::object_key(object);
  std::unique_lock lock(mu_);
  erase_provider_locked(namespace_and_name(key));
}

void ClusterCache::erase_provider_locked(const ProviderName& name) {
  auto it = providerByName_.find(name);
  if (it == providerByName_.end()) return;
  const auto gw = gateway_key_of(**it);
  if (auto group = providersByGateway_.find(gw); group != providersByGateway_.end()) {
    std::erase(group->second, *it);
    if (group->second.empty()) providersByGateway_.erase(group);
  }
  forget_view_locked(gw);
  providerByName_.erase(it);
}

void ClusterCache::forget_view_locked(const std::string& gateway_key) { views_.erase(gateway_key); }

std::shared_ptr<const ClusterView> ClusterCache::build_view_locked(const std::string& gateway_key) const {
  std::vector<std::shared_ptr<const api::PlanoGateway>> gateways;
  if (auto g = gatewayByKey_.find(gateway_key); g != gatewayByKey_.end()) gateways.push_back(g->second);
  std::vector<std::shared_ptr<const api::ModelProvider>> providers;
  if (auto group = providersByGateway_.find(gateway_key); group != providersByGateway_.end()) providers = group->second;
  return make_view(gateway_key, gateways, providers, kube::namespace_labels(namespaces_));
}

std::shared_ptr<const ClusterView> ClusterCache::view(const std::string& gateway_key) const {
  const auto generation = namespaceGeneration_.load();
  {
    std::shared_lock lock(mu_);
    if (auto it = views_.find(gateway_key); it != views_.end() && it->second.namespaceGeneration == generation) {
      return it->second.view;
    }
  }
  std::unique_lock lock(mu_);
  if (auto it = views_.find(gateway_key); it != views_.end() && it->second.namespaceGeneration == generation) {
    return it->second.view;
  }
  auto view = build_view_locked(gateway_key);
  // Kept only for keys the cluster has objects for: a request naming a gateway nobody uses must
  // not grow the cache.
  if (view->gateway || !view->providers.empty()) views_[gateway_key] = CachedView{view, generation};
  return view;
}

}  // namespace plano::webhook
