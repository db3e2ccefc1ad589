#include "operator/provider_cache.h"

#include <spdlog/spdlog.h>

#include <set>

#include "core/api/decode.h"
#include "core/kube/informer.h"

namespace plano::op {

ProviderCache::ProviderPtr ProviderCache::upsert(const nlohmann::json& object) {
  const std::string key = kube::object_key(object);
  auto decoded = api::decode_provider(object);
  ProviderPtr provider;
  if (decoded.errors.empty() && decoded.object) {
    provider = std::make_shared<const api::ModelProvider>(std::move(*decoded.object));
  } else if (!decoded.errors.empty()) {
    spdlog::warn("provider {} does not decode ({}: {}); the CRD schema and this operator disagree", key, decoded.errors[0].path,
                 decoded.errors[0].message);
  }
  std::lock_guard lock(mu_);
  auto it = providers_.find(key);
  ProviderPtr previous = it != providers_.end() ? it->second : nullptr;
  if (!provider) {
    if (it != providers_.end()) providers_.erase(it);
  } else if (it != providers_.end()) {
    it->second = std::move(provider);
  } else {
    providers_.emplace(key, std::move(provider));
  }
  return previous;
}

ProviderCache::ProviderPtr ProviderCache::erase(const std::string& key) {
  std::lock_guard lock(mu_);
  auto it = providers_.find(key);
  if (it == providers_.end()) return nullptr;
  ProviderPtr previous = std::move(it->second);
  providers_.erase(it);
  return previous;
}

ProviderCache::ProviderPtr ProviderCache::get(const std::string& key) const {
  std::lock_guard lock(mu_);
  auto it = providers_.find(key);
  return it != providers_.end() ? it->second : nullptr;
}

std::vector<std::string> ProviderCache::gateway_keys() const {
  std::set<std::string> keys;
  {
    std::lock_guard lock(mu_);
    for (const auto& [key, provider] : providers_) keys.insert(gateway_key_of(*provider));
  }
  return {keys.begin(), keys.end()};
}

std::size_t ProviderCache::size() const {
  std::lock_guard lock(mu_);
  return providers_.size();
}

std::string gateway_key_of(const api::ModelProvider& provider) {
  return provider.gatewayNamespace() + "/" + provider.spec.gatewayRef.name;
}

bool only_status_changed(const api::ModelProvider& before, const api::ModelProvider& after) {
  return before.status != after.status && before.metadata.generation == after.metadata.generation &&
         before.metadata.labels == after.metadata.labels && before.metadata.annotations == after.metadata.annotations;
}

}  // namespace plano::op
