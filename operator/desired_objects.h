// The objects the operator owns for one gateway, as server-side-apply bodies.
#pragma once

#include <map>
#include <optional>
#include <nlohmann/json.hpp>
#include <string>

#include "core/api/types.h"

namespace plano::op {

// Names of the owned objects, all in the gateway's namespace.
struct OwnedNames {
  std::string configMap;   // <gateway>-plano-config
  std::string keys;        // <gateway>-plano-keys (Secret)
  std::string deployment;  // <gateway>-plano
  std::string service;     // <gateway>-plano
  std::string networkPolicy;  // <gateway>-plano
  std::string disruptionBudget;  // <gateway>-plano (PodDisruptionBudget)
};
OwnedNames owned_names(const api::PlanoGateway& gw);

inline constexpr const char* kConfigKey = "plano_config.yaml";
inline constexpr const char* kConfigPath = "/app/plano_config.yaml";
// Plano's programs write their logs under /var/log (config/supervisord.conf, envoy.template.yaml).
inline constexpr const char* kLogPath = "/var/log";
// Envoy's admin address inside the pod (envoy.template.yaml: 0.0.0.0:9901).
inline constexpr const char* kEnvoyAdmin = "http://127.0.0.1:9901";
// Time the pod keeps after its preStop hook for supervisord to stop.
inline constexpr std::int64_t kStopMarginSeconds = 10;
inline constexpr const char* kConfigHashAnnotation = "plano-operator.io/config-hash";
// On the Deployment: when its pods last rolled to a new config hash (RFC 3339).
inline constexpr const char* kRolledAtAnnotation = "plano-operator.io/rolled-at";
// On the keys Secret: which namespace/Secret/key each variable was copied from (JSON object).
inline constexpr const char* kKeySourcesAnnotation = "plano-operator.io/key-sources";
inline constexpr const char* kGatewayLabel = "plano-operator.io/gateway";
inline constexpr const char* kFieldManager = "plano-operator";

// Hash over the config and the keys that roll the Deployment when either changes. Key values
// enter only through their own SHA-256, in a fixed order.
std::string rollout_hash(const std::string& config, const std::map<std::string, std::string>& keys);

nlohmann::json desired_config_map(const api::PlanoGateway& gw, const std::string& config);
// `keys`: env variable name -> the key's value; `sources`: env variable name -> "namespace/secret/key".
nlohmann::json desired_keys_secret(const api::PlanoGateway& gw, const std::map<std::string, std::string>& keys,
                                   const std::map<std::string, std::string>& sources);
// `rolled_at`: when the pods rolled to `rollout` (kRolledAtAnnotation).
nlohmann::json desired_deployment(const api::PlanoGateway& gw, const std::string& rollout, const std::string& rolled_at);
nlohmann::json desired_service(const api::PlanoGateway& gw);
// With more than one replica and spec.deployment.podDisruptionBudget: at most one pod evicted at a
// time; nullopt otherwise (the operator then deletes any it made before).
std::optional<nlohmann::json> desired_disruption_budget(const api::PlanoGateway& gw);
// Ingress to the gateway's pods on its listener ports only, from spec.networkPolicy's namespaces.
nlohmann::json desired_network_policy(const api::PlanoGateway& gw);

// True when every field of `desired` is present and equal in `live` (lists element-wise):
// the API server's defaults may add fields, and then nothing needs writing.
bool is_subset(const nlohmann::json& desired, const nlohmann::json& live);

// Whether applying `desired` would change `live` (nullptr: absent). `data` of ConfigMaps and
// Secrets must match exactly, so a removed provider's key leaves the keys Secret.
bool needs_apply(const nlohmann::json& desired, const nlohmann::json* live);

}  // namespace plano::op
