// What one reconcile of a gateway should make true: owned objects, statuses and events.
// Pure: it reads a snapshot of the caches and decides; the controller does the I/O.
#pragma once

#include <chrono>
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
  const nlohmann::json* liveKeysSecret = nullptr;     // the owned keys Secret, if it exists
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
  api::ModelProviderStatus status;  // typed: its texts are shared with the cached provider's
};

struct GatewayPlan {
  bool apply = false;  // false: leave the owned objects as they are (the last good config keeps running)
  nlohmann::json configMap, keysSecret, deployment, service;
  std::optional<nlohmann::json> networkPolicy;  // nullopt: spec.networkPolicy.enabled is false, so none
  std::optional<nlohmann::json> disruptionBudget;  // nullopt: one replica or switched off, so none
  // Set when the pods keep their config until then (spec.deployment.minRolloutInterval): the
  // Deployment keeps its hash, and the gateway is to be reconciled again at that time.
  std::optional<std::chrono::system_clock::time_point> rolloutHeldUntil;
  // Set when a provider's Secret does not exist: only Secrets the operator has labelled are watched,
  // so the gateway is to be reconciled again to see one that is created later.
  bool awaitsSecret = false;
  std::optional<nlohmann::json> gatewayStatus;      // set when it differs from the current one
  api::PlanoGatewayStatus desiredGatewayStatus;     // the whole status the plan wants, changed or not
  std::vector<ProviderStatusChange> providerStatuses;  // only those that differ
  std::vector<EventNote> events;
};

GatewayPlan plan_gateway(const GatewaySnapshot& snapshot);

// The gateway's status after the API server refused one of its objects: Programmed=False with
// reason ApplyFailed and the server's message, the last applied config hash kept. An Event goes
// with it only when this failure is new (another reason or message than the current condition).
struct ApplyFailure {
  nlohmann::json status;
  std::optional<EventNote> event;
};
ApplyFailure apply_failure(const api::PlanoGateway& gateway, const GatewayPlan& plan, const std::string& what_failed,
                           const std::string& now);

nlohmann::json status_json(const api::PlanoGatewayStatus& s);
nlohmann::json status_json(const api::ModelProviderStatus& s);

}  // namespace plano::op
