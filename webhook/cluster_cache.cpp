#include "webhook/cluster_cache.h"

#include <spdlog/spdlog.h>

#include <mutex>

#include "core/api/decode.h"
#include "core/kube/namespace_labels.h"

namespace plano::webhook {
namespace {

kube::InformerOptions scoped(const std::string& ns) {
  kube::InformerOptions o;
  o.namespace_ = ns;
  return o;
}

}  // namespace

ClusterCache::ClusterCache(kube::ApiClient& client, const std::string& watch_namespace)
    : gateways_(client, kube::resources::kPlanoGateways, scoped(watch_namespace)),
      providers_(client, kube::resources::kModelProviders, scoped(watch_namespace)),
      namespaces_(client, kube::resources::kNamespaces, scoped("")) {
  gateways_.on_add([this](const auto& o) { put_gateway(o); });
  gateways_.on_update([this](const auto&, const auto& n) { put_gateway(n); });
  gateways_.on_delete([this](const auto& o) { drop_gateway(o); });
  providers_.on_add([this](const auto& o) { put_provider(o); });
  providers_.on_update([this](const auto& old, const auto& n) {
    drop_provider(old);
    put_provider(n);
  });
  providers_.on_delete([this](const auto& o) { drop_provider(o); });
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
  std::unique_lock lock(mu_);
  gatewayByKey_[api::key_of(gw->metadata)] = std::move(gw);
}

void ClusterCache::drop_gateway(const nlohmann::json& object) {
  std::unique_lock lock(mu_);
  gatewayByKey_.erase(kube::object_key(object));
}

void ClusterCache::put_provider(const nlohmann::json& object) {
  auto decoded = api::decode_provider(object);
  if (!decoded.errors.empty()) {
    // The API server stored it, so it passed the CRD schema: our decoder is older or newer.
    spdlog::warn("provider {} does not decode ({}: {}); left out of admission checks", kube::object_key(object),
                 decoded.errors[0].path, decoded.errors[0].message);
    return;
  }
  auto mp = std::make_shared<const api::ModelProvider>(std::move(*decoded.object));
  const auto key = api::key_of(mp->metadata);
  const auto gw = mp->gatewayNamespace() + "/" + mp->spec.gatewayRef.name;
  std::unique_lock lock(mu_);
  gatewayOfProvider_[key] = gw;
  providersByGateway_[gw][key] = std::move(mp);
}

void ClusterCache::drop_provider(const nlohmann::json& object) {
  const auto key = kube::object_key(object);
  std::unique_lock lock(mu_);
  auto it = gatewayOfProvider_.find(key);
  if (it == gatewayOfProvider_.end()) return;
  auto group = providersByGateway_.find(it->second);
  if (group != providersByGateway_.end()) {
    group->second.erase(key);
    if (group->second.empty()) providersByGateway_.erase(group);
  }
  gatewayOfProvider_.erase(it);
}

ClusterView ClusterCache::view(const std::string& gateway_key) const {
  ClusterView v;
  {
    std::shared_lock lock(mu_);
    if (auto g = gatewayByKey_.find(gateway_key); g != gatewayByKey_.end()) v.gateways.push_back(g->second);
    if (auto group = providersByGateway_.find(gateway_key); group != providersByGateway_.end()) {
      v.providers.reserve(group->second.size());
      for (const auto& [key, mp] : group->second) v.providers.push_back(mp);
    }
  }
  v.namespaceLabels = kube::namespace_labels(namespaces_);
  return v;
}

}  // namespace plano::webhook
