#include "operator/decoded_providers.h"

namespace plano::op {

std::vector<DecodedProviders::ProviderPtr> DecodedProviders::refresh(const std::string& gateway_key,
                                                                     const std::vector<std::pair<std::string, Version>>& current,
                                                                     const Decode& decode) {
  std::map<std::string, Kept> before;
  {
    std::lock_guard lock(mu_);
    if (auto it = by_gateway_.find(gateway_key); it != by_gateway_.end()) before = std::move(it->second);
  }
  std::map<std::string, Kept> now;
  std::vector<ProviderPtr> out;
  out.reserve(current.size());
  for (const auto& [key, version] : current) {
    auto kept = before.find(key);
    ProviderPtr provider = kept != before.end() && kept->second.version == version ? kept->second.provider : decode(key);
    if (!provider) continue;  // gone since listed, or does not decode: asked again next time
    now.emplace(key, Kept{version, provider});
    out.push_back(std::move(provider));
  }
  std::lock_guard lock(mu_);
  if (now.empty()) by_gateway_.erase(gateway_key);
  else by_gateway_[gateway_key] = std::move(now);
  return out;
}

std::size_t DecodedProviders::size() const {
  std::lock_guard lock(mu_);
  std::size_t n = 0;
  for (const auto& [gateway, kept] : by_gateway_) n += kept.size();
  return n;
}

}  // namespace plano::op
