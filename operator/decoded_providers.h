// Each gateway's providers as the last reconcile decoded them, kept per version: a reconcile reads
// every provider of its gateway, and unpacking and decoding each one again took most of the
// reconcile of a large gateway (100 to 300 ms for 2,000 providers), though few had changed.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "core/api/types.h"

namespace plano::op {

class DecodedProviders {
 public:
  // What a decoded provider was made from: the object's resourceVersion, and the serial of the
  // status this process wrote onto it since (0: none).
  struct Version {
    std::string resourceVersion;
    std::uint64_t writtenStatus = 0;
    bool operator==(const Version&) const = default;
  };
  using ProviderPtr = std::shared_ptr<const api::ModelProvider>;
  // Decodes the provider of a key now; null when it is gone or does not decode.
  using Decode = std::function<ProviderPtr(const std::string& key)>;

  // The providers of `gateway_key` at the versions in `current` (key and version each, in that
  // order): the kept ones where the version is the same, the rest decoded. Afterwards only these
  // are kept for that gateway, so a provider that left it is forgotten.
  std::vector<ProviderPtr> refresh(const std::string& gateway_key, const std::vector<std::pair<std::string, Version>>& current,
                                   const Decode& decode);

  // Providers kept, all gateways (for tests and metrics).
  std::size_t size() const;

 private:
  struct Kept {
    Version version;
    ProviderPtr provider;
  };
  mutable std::mutex mu_;
  std::map<std::string, std::map<std::string, Kept>> by_gateway_;
};

}  // namespace plano::op
