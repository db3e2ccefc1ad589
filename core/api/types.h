// API types of plano-operator.io/v1alpha1, as plain values.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/api/shared_text.h"

namespace plano::api {

inline constexpr const char* kGroup = "plano-operator.io";
inline constexpr const char* kVersion = "v1alpha1";
inline constexpr const char* kApiVersion = "plano-operator.io/v1alpha1";
inline constexpr const char* kGatewayKind = "PlanoGateway";
inline constexpr const char* kProviderKind = "ModelProvider";

struct ObjectMeta {
  std::string name;
  std::string namespace_;
  std::string uid;
  std::string resourceVersion;
  std::int64_t generation = 0;
  std::string creationTimestamp;  // RFC 3339, as the API server writes it
  std::map<std::string, std::string> labels;
  std::map<std::string, std::string> annotations;
};

struct LabelSelectorRequirement {
  std::string key;
  std::string op;  // In, NotIn, Exists, DoesNotExist
  std::vector<std::string> values;
};

struct LabelSelector {
  std::map<std::string, std::string> matchLabels;
  std::vector<LabelSelectorRequirement> matchExpressions;
};

// type and status fit in a std::string's own bytes; the rest is shared (see SharedText).
struct Condition {
  std::string type;
  std::string status;  // True, False, Unknown
  std::int64_t observedGeneration = 0;
  SharedText lastTransitionTime;
  SharedText reason;
  SharedText message;
  bool operator==(const Condition&) const = default;
};

// ---- PlanoGateway ----

struct Listener {
  std::string name;
  std::string type = "model";
  std::int64_t port = 0;
  std::optional<std::string> address;
  std::optional<std::string> timeout;
};

enum class NamespacesFrom { Same, All, Selector };
enum class AuthMode { Passthrough, AccessKey };

const char* to_string(NamespacesFrom from);
const char* to_string(AuthMode mode);

struct AllowedProviders {
  NamespacesFrom from = NamespacesFrom::Same;
  std::optional<LabelSelector> selector;
  std::vector<AuthMode> authModes{AuthMode::Passthrough, AuthMode::AccessKey};
  // So that one namespace cannot fill the shared config: its newer providers beyond this are refused.
  std::int64_t maxProvidersPerNamespace = 100;
};

struct Toleration {
  std::string key;
  std::string op;
  std::string value;
  std::string effect;
  std::optional<std::int64_t> tolerationSeconds;
};

struct GatewayDeployment {
  std::string image;  // defaulted by the decoder to kDefaultPlanoImage
  std::int64_t replicas = 1;
  std::map<std::string, std::string> resourceLimits;
  std::map<std::string, std::string> resourceRequests;
  std::map<std::string, std::string> nodeSelector;
  std::vector<Toleration> tolerations;
  std::map<std::string, std::string> podAnnotations;
  std::string serviceType = "ClusterIP";
  // At most one rollout per interval (a duration, "0s" for none), except that a revoked key rolls at
  // once: a tenant whose changes flap cannot roll every tenant's pods over and over.
  std::string minRolloutInterval = "30s";
  // Seconds a pod has to finish its streams once told to stop (its preStop drains Envoy and waits
  // for in-flight requests). Unset: the longest listener timeout plus kGraceMarginSeconds.
  std::optional<std::int64_t> terminationGracePeriodSeconds;
  // Extra pods a rollout may start; none is ever taken down before its replacement is ready.
  std::int64_t maxSurge = 1;
  // With more than one replica, a PodDisruptionBudget lets at most this many pods be evicted at once.
  bool podDisruptionBudget = true;
  // /var/log, where Plano writes access and program logs it never rotates: an emptyDir of this
  // size (a quantity), requested as ephemeral storage.
  std::string logVolumeSize = "1Gi";
};

// Plano's Kubernetes guide: requests 250m CPU / 256Mi, limits 1 CPU / 512Mi, used when a gateway
// names no resources.
inline const std::map<std::string, std::string> kDefaultResourceRequests = {{"cpu", "250m"}, {"memory", "256Mi"}};
inline const std::map<std::string, std::string> kDefaultResourceLimits = {{"cpu", "1"}, {"memory", "512Mi"}};
// Plano's default listener timeout (planoai/utils.py convert_legacy_listeners: 300s), and the time
// a pod gets beyond its longest listener timeout to drain and stop.
inline constexpr std::int64_t kPlanoListenerTimeoutSeconds = 300;
inline constexpr std::int64_t kGraceMarginSeconds = 30;

// The released Plano image the operator runs unless a gateway names another.
inline constexpr const char* kDefaultPlanoImage = "katanemo/plano:0.4.39";

// Who may reach the gateway's pods: only its listener ports, from the namespaces selected (all when
// unset); never Envoy's admin port, which shows every key, nor Plano's internal ones.
struct GatewayNetworkPolicy {
  bool enabled = true;
  std::optional<LabelSelector> clientNamespaces;
};

struct SecretKeyRef {
  std::string name;
  std::string key;
};

// Where Plano keeps conversation state (the Responses API's previous_response_id; Plano's
// state_storage): in each pod's memory, or in Postgres, whose connection string comes from a Secret
// in the gateway's namespace and reaches the pods only through the keys Secret.
enum class StateStorageType { Memory, Postgres };
const char* to_string(StateStorageType type);

struct GatewayStateStorage {
  StateStorageType type = StateStorageType::Memory;
  std::optional<SecretKeyRef> connectionStringSecretRef;
};

// OpenTelemetry tracing of every request through the gateway (Plano's `tracing`): the platform's,
// one collector and one sampling rate for every tenant.
struct GatewayTracing {
  std::string endpoint;  // OTLP/gRPC, http://<host>:<port>
  std::int64_t samplingPercent = 100;
  std::optional<bool> traceInternal;
  std::vector<std::string> headerPrefixes;               // request headers that become span attributes
  std::map<std::string, std::string> staticAttributes;   // on every span
};

// A token budget per model for the requests that name one header value (Plano's `ratelimits`): the
// platform's. Plano applies it only to a request that carries `x-arch-ratelimit-selector:
// <selector key>` and that header with exactly `selector value`, so it is a cooperative limit that a
// client omitting the headers escapes (unless a proxy in front of the gateway sets them).
enum class RateLimitUnit { Second, Minute, Hour, Day };
const char* to_string(RateLimitUnit unit);  // Plano's spelling: second, minute, hour, day

struct GatewayRateLimit {
  std::string model;  // <provider>/<model_id>, as a ModelProvider's spec.model; Plano compares the model_id
  std::string selectorKey;    // a lower-case request header name
  std::string selectorValue;  // that header's value, matched exactly
  std::int64_t tokens = 0;    // prompt tokens per unit, 1 to 2^32-1 (Plano's u32)
  RateLimitUnit unit = RateLimitUnit::Minute;
};

// A ModelProvider by name, in the gateway's namespace unless namespace is set.
struct ProviderRef {
  std::string name;
  std::optional<std::string> namespace_;
};

// Which model decides routing preferences (Plano's overrides.llm_routing_model): a provider the
// platform names, so that every tenant's routed prompts go to it and never to Plano's hosted router
// (archfc.katanemo.dev), which Plano falls back to when no provider serves the routing model.
struct GatewayRouting {
  ProviderRef modelProviderRef;
  std::optional<std::int64_t> contextLength;  // orchestrator_model_context_length, in tokens
};

// Where Plano's router gets the figures that rank a routing preference's models (Plano's
// model_metrics_sources): the platform's, since every pod fetches them (calls that leave the gateway)
// and Plano refuses to start when a preference prefers cheapest without a cost source, or fastest
// without a latency source.
struct GatewayCostMetrics {
  std::string provider;  // Plano's catalog names: digitalocean or models.dev
  std::optional<std::string> url;  // the catalog, when not the provider's public one
  std::optional<std::int64_t> refreshIntervalSeconds;  // unset: fetched once, at start-up
  std::map<std::string, std::string> modelAliases;    // catalog key -> model as a ModelProvider's spec.model
};

struct GatewayLatencyMetrics {  // a Prometheus query whose results carry a model_name label
  std::string url;
  std::string query;
  std::optional<std::int64_t> refreshIntervalSeconds;
};

struct GatewayModelMetrics {
  std::optional<GatewayCostMetrics> cost;
  std::optional<GatewayLatencyMetrics> latency;
};

struct PlanoGatewaySpec {
  std::string configVersion = "v0.4.0";
  std::vector<Listener> listeners;
  AllowedProviders allowedProviders;
  GatewayDeployment deployment;
  GatewayNetworkPolicy networkPolicy;
  std::optional<GatewayTracing> tracing;
  std::optional<GatewayStateStorage> stateStorage;
  std::vector<GatewayRateLimit> rateLimits;
  std::optional<GatewayRouting> routing;
  std::optional<GatewayModelMetrics> modelMetrics;
};

struct PlanoGatewayStatus {
  std::int64_t observedGeneration = 0;
  std::vector<Condition> conditions;
  std::int64_t attachedProviders = 0;
  std::int64_t acceptedProviders = 0;
  std::string configHash;
};

struct PlanoGateway {
  ObjectMeta metadata;
  PlanoGatewaySpec spec;
  PlanoGatewayStatus status;
};

// ---- ModelProvider ----

struct GatewayRef {
  std::string name;
  std::optional<std::string> namespace_;
};

// How Plano orders a routing preference's models (Plano's selection_policy.prefer): None keeps them
// in order; Cheapest and Fastest need the gateway's cost and latency metrics.
enum class SelectionPreference { None, Cheapest, Fastest };
const char* to_string(SelectionPreference prefer);  // this API's spelling: None, Cheapest, Fastest

// A routing preference is a name on the gateway shared by the providers of one namespace that name
// it (all its models), so they must give the same description and prefer.
struct RoutingPreference {
  std::string name;
  std::string description;
  SelectionPreference prefer = SelectionPreference::None;
};

struct ModelProviderSpec {
  GatewayRef gatewayRef;
  std::string model;
  std::optional<std::string> name;
  std::optional<std::string> baseURL;
  std::optional<std::string> providerInterface;
  std::optional<bool> passthroughAuth;
  std::optional<SecretKeyRef> accessKeySecretRef;
  std::optional<bool> default_;
  std::vector<RoutingPreference> routingPreferences;
  std::map<std::string, std::string> headers;
  std::optional<std::string> httpHost;
  // Other names clients may send as the model (Plano's model_aliases, each targeting `model`): names
  // on the gateway, so no two providers may hold the same one, nor one another's model or name.
  std::vector<std::string> aliases;
};

struct ModelProviderStatus {
  std::int64_t observedGeneration = 0;
  std::vector<Condition> conditions;
  bool operator==(const ModelProviderStatus&) const = default;
};

struct ModelProvider {
  ObjectMeta metadata;
  ModelProviderSpec spec;
  ModelProviderStatus status;

  // The gateway this provider attaches to, with the namespace defaulted.
  std::string gatewayNamespace() const {
    return spec.gatewayRef.namespace_.value_or(metadata.namespace_);
  }
  bool isDefault() const { return spec.default_.value_or(false); }
  bool usesPassthrough() const { return spec.passthroughAuth.value_or(false); }
  // Plano's provider name: `name`, or the model string when unset.
  const std::string& planoName() const { return spec.name ? *spec.name : spec.model; }
};

// "namespace/name", the key used across caches, findings and logs.
inline std::string key_of(const ObjectMeta& m) { return m.namespace_ + "/" + m.name; }

}  // namespace plano::api
