// The objects the operator owns for one gateway, as server-side-apply bodies.
#pragma once

#include <map>
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
};
OwnedNames owned_names(const api::PlanoGateway& gw);

inline constexpr const char* kConfigKey = "plano_config.yaml";
inline constexpr const char* kConfigPath = "/app/plano_config.yaml";
inline constexpr const char* kConfigHashAnnotation = "plano-operator.io/config-hash";
inline constexpr const char* kGatewayLabel = "plano-operator.io/gateway";
inline constexpr const char* kFieldManager = "plano-operator";

// Hash over the config and the keys that roll the Deployment when either changes. Key values
// enter only through their own SHA-256, in a fixed order.
std::string rollout_hash(const std::string& config, const std::map<std::string, std::string>& keys);

nlohmann::json desired_config_map(const api::PlanoGateway& gw, const std::string& config);
// `keys`: env variable name -> the key's value.
nlohmann::json desired_keys_secret(const api::PlanoGateway& gw, const std::map<std::string, std::string>& keys);
nlohmann::json desired_deployment(const api::PlanoGateway& gw, const std::string& rollout);
nlohmann::json desired_service(const api::PlanoGateway& gw);

// True when every field of `desired` is present and equal in `live` (lists element-wise):
// the API server's defaults may add fields, and then nothing needs writing.
bool is_subset(const nlohmann::json& desired, const nlohmann::json& live);

// Whether applying `desired` would change `live` (nullptr: absent). `data` of ConfigMaps and
// Secrets must match exactly, so a removed provider's key leaves the keys Secret.
bool needs_apply(const nlohmann::json& desired, const nlohmann::json* live);

}  // namespace plano::op
