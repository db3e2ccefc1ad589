// What the end-to-end tests read back from a cluster: objects, the config the operator rendered,
// and what `plano-operator render` prints for the objects stored now.
#pragma once

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

#include "core/kube/client.h"
#include "core/kube/resource.h"

namespace plano::testing {

// Kinds the tests read but the operator never touches.
inline const kube::Resource kPods{"", "v1", "pods", "Pod", true};
inline const kube::Resource kReplicaSets{"apps", "v1", "replicasets", "ReplicaSet", true};
inline const kube::Resource kNodes{"", "v1", "nodes", "Node", false};

// A fresh log file path in the temp directory: "operator-<name>-<pid>-<n>.log".
std::string log_file(const std::string& name);

// The object, or null when it does not exist (any other error throws). Without a client: admin_client().
nlohmann::json get_or_null(kube::ApiClient& client, const kube::Resource& r, const std::string& ns, const std::string& name);
nlohmann::json get_or_null(const kube::Resource& r, const std::string& ns, const std::string& name);

// plano_config.yaml of the gateway's ConfigMap, "" when there is none.
std::string config_of(kube::ApiClient& client, const std::string& ns, const std::string& gateway);
std::string config_of(const std::string& ns, const std::string& gateway);

// The status condition of that type, or null.
nlohmann::json condition(const nlohmann::json& object, const std::string& type);
// The condition once it has the given status (and reason, when given) for the object's current generation.
bool has_condition(const kube::Resource& r, const std::string& ns, const std::string& name, const std::string& type,
                   const std::string& status, const std::string& reason = "");

// `kubectl <args>` against the shared control plane; its output (throws with the output when it fails).
std::string kubectl(const std::string& args);
// Applies YAML text with kubectl, as a user would.
void apply_yaml(const std::string& yaml);

// A PlanoGateway with one model listener `llm` on 12000, the given allowedProviders (flow YAML) and
// spec.deployment fields (flow YAML without braces). By default it rolls on every change
// (minRolloutInterval 0s), since the tests time each change; RolloutsOfAFlappingProviderAreGathered
// tests the interval.
std::string gateway_yaml(const std::string& ns, const std::string& name, const std::string& allowed,
                         const std::string& deployment = "minRolloutInterval: 0s");
// "---" and a ModelProvider in `ns` for gateway `gw` in `gw_ns`; `spec_lines` are indented by two spaces.
std::string provider_yaml(const std::string& ns, const std::string& name, const std::string& gw_ns,
                          const std::string& spec_lines);

// The config hash in the pod template of the gateway's Deployment, "" when there is none.
std::string rollout_of(const std::string& ns, const std::string& gateway);
// The pod template's hash once a reconcile has finished, or "" while one is midway: the ConfigMap
// is applied before the Deployment, and the gateway's status after both.
std::string settled_rollout_of(const std::string& ns, const std::string& gateway);

// `plano-operator render -f file --gateway ns/name` (a test failure when it exits non-zero).
std::string render(const std::string& file, const std::string& gateway);

// The render of the gateway and every ModelProvider whose gatewayRef names it, as stored now,
// written oldest first so that the offline precedence (document order) is the operator's (age).
std::string render_stored(kube::ApiClient& client, const std::string& ns, const std::string& gateway,
                          const std::filesystem::path& dir);

// Plays Plano's container start-up (tests/startup/plano_startup.py: the generator, envsubst over both
// rendered files with the keys as the environment, PyYAML) on what the cluster holds now: the
// gateway's ConfigMap and keys Secret, the gateway, every ModelProvider attached to it and the
// tenants' Secrets. Returns the harness's exit code (0: every tenant string and key arrives as
// written) and its output in *report.
int start_up(kube::ApiClient& client, const std::string& ns, const std::string& gateway, const std::filesystem::path& dir,
             std::string* report);

}  // namespace plano::testing
