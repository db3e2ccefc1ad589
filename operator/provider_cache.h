// Every provider, decoded once as the informer delivers it. The providers informer keeps only
// identities and index entries; this is the one copy of each provider the operator holds: typed
// (about 3 kB with its six conditions), where a packed copy beside a decoded one had cost 4.5 kB
// and a json tree 6.5 kB.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/api/types.h"

namespace plano::op {

class ProviderCache {
 public:
  using ProviderPtr = std::shared_ptr<const api::ModelProvider>;

  // Decodes the object and keeps it under its key; returns what was kept before (null if none).
  // An object that does not decode (the CRD schema and this operator disagree) is logged and not
  // kept: a reconcile leaves it out, as it would a provider it cannot read.
  ProviderPtr upsert(const nlohmann::json& object);
  // Forgets a key; returns what was kept (null if none).
  ProviderPtr erase(const std::string& key);
  ProviderPtr get(const std::string& key) const;
  // The gateway key ("ns/name") of every provider kept, once each.
  std::vector<std::string> gateway_keys() const;
  std::size_t size() const;

 private:
  mutable std::mutex mu_;
  std::map<std::string, ProviderPtr> providers_;
};

// "namespace/name" of the gateway a provider attaches to.
std::string gateway_key_of(const api::ModelProvider& provider);

// True when nothing a reconcile reads changed but the status: mostly the operator's own status
// writes, which need no reconcile (a foreign status edit is put right by the periodic resync).
// Spec changes move metadata.generation; labels and annotations do not. An update that changed
// nothing at all (a relist) is not one: it is reconciled, level-triggered.
bool only_status_changed(const api::ModelProvider& before, const api::ModelProvider& after);

}  // namespace plano::op
