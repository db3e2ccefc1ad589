// What one reconcile of a gateway should make true: owned objects, statuses and events.
// Pure: it reads a snapshot of the caches and decides; the controller does the I/O.
#pragma once

#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "core/api/types.h"
#include "core/rules/evaluation.h"

namespace plano::op {

// A Secret's decoded data, or nullopt when the Secret does not exist.
using SecretData = std::function<std::optional<std::map<std::string, std::string>>(const std::string& ns,
                                                                                   const std::string& name)>;

struct GatewaySnapshot {
  std::string namespace_;
  std::string name;
  const api::PlanoGateway* gateway = nullptr;         // nullptr: no such gateway
  std::vector<const api::ModelProvider*> providers;   // every provider whose gatewayRef points here
  rules::NamespaceLabels namespaceLabels;
  SecretData secretData;
  const nlohmann::json* liveDeployment = nullptr;     // the owned Deployment, if it exists
  std::string now;                                    // for lastTransitionTime
};

struct EventNote {
  std::string kind, namespace_, name, uid;
  std::string type;    // Normal or Warning
  std::string reason;
  std::string note;
};

struct ProviderStatusChange {
  std::string namespace_, name;
  nlohmann::json status;
};

struct GatewayPlan {
  bool apply = false;  // false: leave the owned objects as they are (the last good config keeps running)
  nlohmann::json configMap, keysSecret, deployment, service;
  std::optional<nlohmann::json> gatewayStatus;      // set when it differs from the current one
  std::vector<ProviderStatusChange> providerStatuses;  // only those that differ
  std::vector<EventNote> events;
};

// The API server refuses a ConfigMap over 1 MiB; keep room for metadata.
inline constexpr std::size_t kMaxConfigBytes = 1000 * 1000;

GatewayPlan plan_gateway(const GatewaySnapshot& snapshot);

nlohmann::json status_json(const api::PlanoGatewayStatus& s);
nlohmann::json status_json(const api::ModelProviderStatus& s);

}  // namespace plano::op
