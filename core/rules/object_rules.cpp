#include "core/rules/object_rules.h"

#include <algorithm>
#include <cctype>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <string_view>

#include "core/rules/base_url.h"
#include "core/rules/plano_catalog.h"
#include "core/rules/quantity.h"
#include "core/rules/tenant_text.h"

namespace plano::rules {
namespace {

class Report {
 public:
  explicit Report(ObjectRef object) : object_(std::move(object)) {}
  void error(std::string field, std::string message) {
    findings_.push_back(Finding{Severity::Error, object_, std::move(field), std::move(message)});
  }
  void warning(std::string field, std::string message) {
    findings_.push_back(Finding{Severity::Warning, object_, std::move(field), std::move(message)});
  }
  std::vector<Finding> take() { return std::move(findings_); }

 private:
  ObjectRef object_;
  std::vector<Finding> findings_;
};

// A tenant's string that would not reach Plano's config byte for byte is refused on its field.
void check_text(Report& r, const std::string& field, std::string_view text) {
  if (auto problem = tenant_text_problem(text)) r.error(field, std::move(*problem));
}

std::string indexed(const std::string& list, std::size_t i) { return list + "[" + std::to_string(i) + "]"; }

bool is_cluster_local(const std::string& host) {
  auto ends_with = [&](const std::string& suffix) {
    return host.size() >= suffix.size() && host.compare(host.size() - suffix.size(), suffix.size(), suffix) == 0;
  };
  return host.find('.') == std::string::npos || ends_with(".svc") || ends_with(".svc.cluster.local") ||
         ends_with(".cluster.local") || host == "127.0.0.1" || host == "::1";
}

// Below this a port needs CAP_NET_BIND_SERVICE, which the Plano container drops.
constexpr long long kMinListenerPort = 1024;

void check_listeners(const api::PlanoGatewaySpec& spec, Report& r) {
  const auto& ls = spec.listeners;
  if (ls.empty()) {
    r.error("spec.listeners", "needs one listener of type model, e.g. {name: llm, type: model, port: 12000}");
    return;
  }
  if (ls.size() > 8) r.error("spec.listeners", "has " + std::to_string(ls.size()) + " listeners; at most 8 are allowed");
  std::set<std::string> names;
  std::set<long long> ports;
  int model_listeners = 0;
  static const std::regex name_form("^[a-z0-9]([-a-z0-9_]*[a-z0-9])?$");
  for (std::size_t i = 0; i < ls.size(); ++i) {
    const auto& l = ls[i];
    auto at = indexed("spec.listeners", i);
    if (!l.name.empty() && !std::regex_match(l.name, name_form)) {
      r.error(at + ".name", "\"" + l.name + "\" must be lower-case letters, digits, '-' or '_'");
    }
    if (!names.insert(l.name).second) r.error(at + ".name", "\"" + l.name + "\" is used by another listener; names must be unique");
    if (l.type == "model") ++model_listeners;
    else r.error(at + ".type", "is \"" + l.type + "\"; only type model is supported");
    if (l.port < kMinListenerPort || l.port > 65535) {
      r.error(at + ".port", std::to_string(l.port) + " is not a port Plano can open (1024-65535: the pod runs with every "
                                "capability dropped, so it cannot bind a lower one); Plano's usual model port is 12000");
    } else if (is_reserved_port(l.port)) {
      r.error(at + ".port", std::to_string(l.port) + " is used inside the Plano pod (" + reserved_ports_list() +
                                "); use another port, 12000 is the usual choice");
    } else if (!ports.insert(l.port).second) {
      r.error(at + ".port", std::to_string(l.port) + " is used by another listener; give each listener its own port");
    }
    if (l.address && *l.address != "0.0.0.0" && *l.address != "::") {
      r.error(at + ".address", "\"" + *l.address + "\" is not 0.0.0.0 or ::; the Service and the kubelet's probes "
                                   "reach the pod on its own IP, so the listener must bind every address");
    }
    if (l.timeout && !parse_duration(*l.timeout)) {
      r.error(at + ".timeout", "\"" + *l.timeout + "\" is not a duration; write it like 30s, 500ms or 5m");
    }
  }
  if (model_listeners > 1) {
    r.error("spec.listeners", "has " + std::to_string(model_listeners) +
                                  " listeners of type model; Plano serves providers on exactly one: keep one");
  }
}

void check_selector(const api::LabelSelector& selector, const std::string& path, Report& r) {
  for (std::size_t i = 0; i < selector.matchExpressions.size(); ++i) {
    const auto& e = selector.matchExpressions[i];
    auto at = indexed(path + ".matchExpressions", i);
    if (e.op == "In" || e.op == "NotIn") {
      if (e.values.empty()) r.error(at + ".values", "must not be empty for operator " + e.op);
    } else if (e.op == "Exists" || e.op == "DoesNotExist") {
      if (!e.values.empty()) r.error(at + ".values", "must be empty for operator " + e.op);
    } else {
      r.error(at + ".operator", "is \"" + e.op + "\"; use In, NotIn, Exists or DoesNotExist");
    }
  }
}

void check_allowed(const api::AllowedProviders& a, Report& r) {
  using api::NamespacesFrom;
  if (a.from == NamespacesFrom::Selector && !a.selector) {
    r.error("spec.allowedProviders.namespaces.selector", "is required when from is Selector");
  }
  if (a.from != NamespacesFrom::Selector && a.selector) {
    r.error("spec.allowedProviders.namespaces.selector",
            std::string("is only used when from is Selector (from is ") + api::to_string(a.from) + "); remove it or set from: Selector");
  }
  if (a.selector) check_selector(*a.selector, "spec.allowedProviders.namespaces.selector", r);
  if (a.maxProvidersPerNamespace < 1 || a.maxProvidersPerNamespace > 10000) {
    r.error("spec.allowedProviders.maxProvidersPerNamespace", std::to_string(a.maxProvidersPerNamespace) +
                                                                  " is out of range; use 1 to 10000, the bounds the CRD enforces");
  }
  if (a.authModes.empty()) {
    r.error("spec.allowedProviders.authModes", "must list at least one of Passthrough, AccessKey");
  }
  std::set<api::AuthMode> seen;
  for (auto m : a.authModes) {
    if (!seen.insert(m).second) r.error("spec.allowedProviders.authModes", std::string("lists ") + api::to_string(m) + " twice");
  }
}

// Kubernetes' own syntax for what the gateway's Deployment and NetworkPolicy carry (apimachinery's
// validation): the CRD's schema cannot constrain map keys, so these are checked here, before the
// operator writes an object the API server would refuse.
bool is_label_value(std::string_view v) {
  static const std::regex form("^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$");
  return v.size() <= 63 && std::regex_match(v.begin(), v.end(), form);
}

// A DNS-1123 subdomain of at most 253: an object's name, a label key's prefix.
bool is_subdomain(std::string_view s) {
  static const std::regex subdomain("^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$");
  return !s.empty() && s.size() <= 253 && std::regex_match(s.begin(), s.end(), subdomain);
}

// [prefix/]name: a DNS-1123 subdomain of at most 253, then at most 63 of alphanumerics, '-', '_', '.'.
bool is_qualified_name(std::string_view key) {
  const auto slash = key.find('/');
  const auto name = slash == std::string_view::npos ? key : key.substr(slash + 1);
  if (slash != std::string_view::npos && !is_subdomain(key.substr(0, slash))) return false;
  return !name.empty() && is_label_value(name);
}

// A map key as a field path segment, quoted so that any key stays on one line.
std::string keyed(const std::string& map, const std::string& key) { return map + "[" + nlohmann::json(key).dump() + "]"; }

constexpr const char* kQualifiedNameForm =
    "an optional DNS subdomain prefix and '/', then at most 63 letters, digits, '-', '_' or '.', starting and ending "
    "with a letter or digit (e.g. example.com/tier)";
constexpr const char* kLabelValueForm =
    "at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit, or empty";

void check_labels(const std::map<std::string, std::string>& labels, const std::string& path, Report& r) {
  for (const auto& [key, value] : labels) {
    if (!is_qualified_name(key)) r.error(keyed(path, key), "the key is not a Kubernetes label key: use " + std::string(kQualifiedNameForm));
    if (!is_label_value(value)) r.error(keyed(path, key), "\"" + value + "\" is not a Kubernetes label value: use " + kLabelValueForm);
  }
}

void check_label_selector(const api::LabelSelector& selector, const std::string& path, Report& r) {
  check_labels(selector.matchLabels, path + ".matchLabels", r);
  for (std::size_t i = 0; i < selector.matchExpressions.size(); ++i) {
    const auto& e = selector.matchExpressions[i];
    const auto at = indexed(path + ".matchExpressions", i);
    if (!is_qualified_name(e.key)) r.error(at + ".key", "\"" + e.key + "\" is not a Kubernetes label key: use " + kQualifiedNameForm);
    for (std::size_t v = 0; v < e.values.size(); ++v) {
      if (!is_label_value(e.values[v])) {
        r.error(indexed(at + ".values", v), "\"" + e.values[v] + "\" is not a Kubernetes label value: use " + kLabelValueForm);
      }
    }
  }
}

void check_tolerations(const std::vector<api::Toleration>& tolerations, Report& r) {
  for (std::size_t i = 0; i < tolerations.size(); ++i) {
    const auto& t = tolerations[i];
    const auto at = indexed("spec.deployment.tolerations", i);
    if (t.key.empty() && t.op != "Exists") {
      r.error(at + ".operator", "must be Exists when key is empty (it then tolerates every taint); set operator: Exists or a key");
    }
    if (!t.key.empty() && !is_qualified_name(t.key)) r.error(at + ".key", "\"" + t.key + "\" is not a taint key: use " + kQualifiedNameForm);
    if (t.op == "Exists" && !t.value.empty()) r.error(at + ".value", "must be empty when operator is Exists; remove it or use operator: Equal");
    if (t.op != "Exists" && !is_label_value(t.value)) r.error(at + ".value", "\"" + t.value + "\" is not a taint value: use " + kLabelValueForm);
    if (t.tolerationSeconds && t.effect != "NoExecute") {
      r.error(at + ".tolerationSeconds", "is only for effect NoExecute; remove it or set effect: NoExecute");
    }
  }
}

void check_pod_annotations(const std::map<std::string, std::string>& annotations, Report& r) {
  // Kubernetes' limit on all of an object's annotations, less room for the operator's own.
  constexpr std::size_t kMaxAnnotationBytes = 256 * 1024 - 1024;
  std::size_t total = 0;
  for (const auto& [key, value] : annotations) {
    std::string lower = key;
    for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (!is_qualified_name(lower)) {
      r.error(keyed("spec.deployment.podAnnotations", key), "the key is not a Kubernetes annotation key: use " + std::string(kQualifiedNameForm));
    }
    total += key.size() + value.size();
  }
  if (total > kMaxAnnotationBytes) {
    r.error("spec.deployment.podAnnotations", "holds " + std::to_string(total) + " bytes; Kubernetes allows at most " +
                                                  std::to_string(kMaxAnnotationBytes) + " (256 KiB less the operator's own): shorten them");
  }
}

// Which resources a container may ask for, and in what amounts (Kubernetes'
// ValidateResourceRequirements): cpu, memory and ephemeral-storage; hugepages-<page size> in whole
// pages, alongside cpu or memory; anything else is an extended resource <domain>/<name>, in whole
// units. Neither of the last two can be overcommitted: a request needs an equal limit.
void check_resource_kinds(const api::GatewayDeployment& d, Report& r) {
  std::set<std::string> names;
  for (const auto* quantities : {&d.resourceLimits, &d.resourceRequests}) {
    for (const auto& entry : *quantities) names.insert(entry.first);
  }
  constexpr QuantityInt kNanosPerUnit = 1'000'000'000;
  const bool cpu_or_memory = names.count("cpu") || names.count("memory");
  for (const auto& name : names) {
    const bool standard = name == "cpu" || name == "memory" || name == "ephemeral-storage";
    QuantityInt page = 0;
    if (name.rfind("hugepages-", 0) == 0) {
      if (const auto size = parse_quantity(std::string_view(name).substr(10))) page = size->nanos;
    }
    const bool hugepages = page > 0;
    const bool extended = name.find('/') != std::string::npos && is_qualified_name(name) && name.find("kubernetes.io/") == std::string::npos;
    const auto limit = d.resourceLimits.find(name);
    const auto request = d.resourceRequests.find(name);
    const std::string at = std::string("spec.deployment.resources.") + (limit != d.resourceLimits.end() ? "limits." : "requests.") + name;
    if (!standard && !hugepages && !extended) {
      r.error(at, "\"" + name + "\" is not a resource a container can ask for: use cpu, memory, ephemeral-storage, "
                  "hugepages-<page size> or an extended resource <domain>/<name> such as nvidia.com/gpu");
      continue;
    }
    if (standard) continue;
    if (hugepages && !cpu_or_memory) r.error(at, "hugepages need a cpu or memory amount beside them; add one");
    for (const auto& [kind, quantities] : {std::pair{"limits.", &d.resourceLimits}, std::pair{"requests.", &d.resourceRequests}}) {
      const auto amount = quantities->find(name);
      if (amount == quantities->end()) continue;
      const auto value = parse_quantity(amount->second);
      if (value && value->nanos % (hugepages ? page : kNanosPerUnit) != 0) {
        r.error(std::string("spec.deployment.resources.") + kind + name,
                amount->second + " is not a whole number of " + (hugepages ? name.substr(10) + " pages" : std::string("units")) +
                    "; " + name + " cannot be split");
      }
    }
    if (request != d.resourceRequests.end() && (limit == d.resourceLimits.end() || parse_quantity(limit->second) != parse_quantity(request->second))) {
      r.error("spec.deployment.resources.requests." + name,
              "must equal its limit (spec.deployment.resources.limits." + name + "): " + name + " cannot be overcommitted; set both to the same amount");
    }
  }
}

void check_deployment(const api::GatewayDeployment& d, Report& r) {
  if (d.image.empty()) r.error("spec.deployment.image", "must not be empty; leave it out to run " + std::string(api::kDefaultPlanoImage));
  // The CRD's bounds (a Deployment's replicas is an int32; the CRD caps it lower), so that
  // validate passes only what the API server stores.
  constexpr std::int64_t kMaxReplicas = 1000;
  if (d.replicas < 0 || d.replicas > kMaxReplicas) {
    r.error("spec.deployment.replicas", std::to_string(d.replicas) + " is out of range; use 0 (stops the gateway) to " +
                                            std::to_string(kMaxReplicas) + ", the bounds the CRD enforces");
  }
  // What the API server would refuse when the operator applies the Deployment: found here, it
  // never stops a running gateway's next rollout.
  constexpr std::size_t kMaxQuantityLength = 64;  // the CRD's maxLength
  std::map<std::string, Quantity> limits;
  for (const auto& [kind, quantities] : {std::pair{"limits", &d.resourceLimits}, std::pair{"requests", &d.resourceRequests}}) {
    for (const auto& [name, text] : *quantities) {
      const std::string at = std::string("spec.deployment.resources.") + kind + "." + name;
      if (text.size() > kMaxQuantityLength) {
        r.error(at, "is longer than " + std::to_string(kMaxQuantityLength) + " characters (the CRD's limit); write it shorter");
        continue;
      }
      const auto value = parse_quantity(text);
      if (!value) {
        r.error(at, "\"" + text + "\" is not a quantity; write one such as 500m, 2 or 256Mi");
      } else if (value->nanos < 0) {
        r.error(at, text + " is negative; a container's resources must be 0 or more");
      } else if (std::string_view(kind) == "limits") {
        limits[name] = *value;
      } else if (auto limit = limits.find(name); limit != limits.end() && *value > limit->second) {
        r.error(at, text + " is more than its limit " + d.resourceLimits.at(name) +
                        " (spec.deployment.resources.limits." + name + "); a request may be at most the limit");
      }
    }
  }
  check_resource_kinds(d, r);
  check_labels(d.nodeSelector, "spec.deployment.nodeSelector", r);
  check_tolerations(d.tolerations, r);
  check_pod_annotations(d.podAnnotations, r);
  if (!parse_duration(d.minRolloutInterval)) {
    r.error("spec.deployment.minRolloutInterval", "\"" + d.minRolloutInterval + "\" is not a duration; write it like 30s, 2m or 0s (no limit)");
  }
  if (d.serviceType != "ClusterIP" && d.serviceType != "NodePort" && d.serviceType != "LoadBalancer") {
    r.error("spec.deployment.serviceType", "is \"" + d.serviceType + "\"; use ClusterIP, NodePort or LoadBalancer");
  }
}

// What a rollout and an eviction leave running: the pods' grace period against the streams a
// listener lets run, the surge, and the log volume.
void check_stopping(const api::PlanoGatewaySpec& spec, Report& r) {
  const auto& d = spec.deployment;
  if (d.terminationGracePeriodSeconds) {
    const auto grace = *d.terminationGracePeriodSeconds;
    const auto at = "spec.deployment.terminationGracePeriodSeconds";
    if (grace < kMinGraceSeconds || grace > kMaxGraceSeconds) {
      r.error(at, std::to_string(grace) + " is out of range; use " + std::to_string(kMinGraceSeconds) + " to " +
                      std::to_string(kMaxGraceSeconds) + ", the bounds the CRD enforces (or leave it unset)");
    } else {
      for (const auto& l : spec.listeners) {
        if (listener_timeout_ms(l) >= grace * 1000) {
          r.error(at, "must exceed every listener's timeout, and " + std::to_string(grace) + "s does not exceed listener " +
                          l.name + "'s " + std::to_string(listener_timeout_seconds(l)) + "s" + (l.timeout ? "" : " (Plano's default)") +
                          ", so a rollout would cut its longest streams; raise it or leave it unset (timeout + " +
                          std::to_string(api::kGraceMarginSeconds) + "s)");
          break;
        }
      }
    }
  }
  if (d.maxSurge < 1 || d.maxSurge > 1000) {
    r.error("spec.deployment.maxSurge", std::to_string(d.maxSurge) + " is out of range; use 1 to 1000 (a rollout "
                                        "starts new pods before it stops old ones, so it needs at least one)");
  }
  const auto size = parse_quantity(d.logVolumeSize);
  if (d.logVolumeSize.size() > 64 || !size || size->nanos <= 0) {
    r.error("spec.deployment.logVolumeSize", "\"" + d.logVolumeSize + "\" is not a positive quantity; write one such as 1Gi or 512Mi");
  }
}

// Plano's generator wants http:// and no path; its Envoy template writes the host and the text after
// the last ':' unquoted as the collector's address and port, so both must be there and plain (a
// trailing '/', which the generator allows, would end up in the port).
// An HTTP header name (a token) in lower case, as Envoy hands headers to Plano.
bool is_lower_case_header_name(const std::string& name) {
  static const std::regex form("^[-!#%&'*+.^_`|~0-9a-z]+$");
  return std::regex_match(name, form);
}

void check_tracing(const api::GatewayTracing& t, Report& r) {
  static const std::regex endpoint_form(
      "^http://[A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?(\\.[A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?)*:([0-9]{1,5})$");
  std::smatch m;
  if (t.endpoint.size() > kMaxTracingEndpointLength || !std::regex_match(t.endpoint, m, endpoint_form) ||
      std::stoi(m[m.size() - 1].str()) < 1 || std::stoi(m[m.size() - 1].str()) > 65535) {
    r.error("spec.tracing.endpoint", "\"" + t.endpoint + "\" is not http://<host>:<port> (a DNS name or IPv4 address, a port "
                                     "1-65535, nothing after it, at most " + std::to_string(kMaxTracingEndpointLength) +
                                     " characters), e.g. http://otel-collector.observability.svc.cluster.local:4317");
  }
  if (t.samplingPercent < 0 || t.samplingPercent > 100) {
    r.error("spec.tracing.samplingPercent", std::to_string(t.samplingPercent) + " is out of range; use 0 (none) to 100 (every request)");
  }
  const auto& prefixes = t.headerPrefixes;
  if (prefixes.size() > kMaxHeaderPrefixes) {
    r.error("spec.tracing.spanAttributes.headerPrefixes", "has " + std::to_string(prefixes.size()) + " prefixes; at most " +
                                                              std::to_string(kMaxHeaderPrefixes) + " are allowed");
  }
  std::set<std::string> seen;
  for (std::size_t i = 0; i < prefixes.size(); ++i) {
    const auto at = indexed("spec.tracing.spanAttributes.headerPrefixes", i);
    if (prefixes[i].size() > kMaxHeaderPrefixLength || !is_lower_case_header_name(prefixes[i])) {
      r.error(at, "is not the start of a lower-case HTTP header name of at most " + std::to_string(kMaxHeaderPrefixLength) +
                      " characters (letters a-z, digits and !#%&'*+-.^_`|~), e.g. x-team-");
    } else if (!seen.insert(prefixes[i]).second) {
      r.error(at, "\"" + prefixes[i] + "\" is listed twice; keep one");
    }
  }
  const auto& attributes = t.staticAttributes;
  if (attributes.size() > kMaxStaticAttributes) {
    r.error("spec.tracing.spanAttributes.static", "has " + std::to_string(attributes.size()) + " attributes; at most " +
                                                      std::to_string(kMaxStaticAttributes) + " are allowed");
  }
  static const std::regex name_form("^[A-Za-z0-9][-A-Za-z0-9_.]*$");
  for (const auto& [name, value] : attributes) {
    const auto at = keyed("spec.tracing.spanAttributes.static", name);
    if (name.size() > kMaxAttributeNameLength || !std::regex_match(name, name_form)) {
      r.error(at, "the attribute name is not 1 to " + std::to_string(kMaxAttributeNameLength) +
                      " letters, digits, '-', '_' or '.', starting with a letter or digit");
    }
    if (value.size() > kMaxAttributeValueLength) {
      r.error(at, "is longer than " + std::to_string(kMaxAttributeValueLength) + " characters (the CRD's limit)");
    }
    check_text(r, at, value);
  }
}

void check_state_storage(const api::PlanoGatewaySpec& spec, Report& r) {
  const auto& s = *spec.stateStorage;
  const bool postgres = s.type == api::StateStorageType::Postgres;
  if (postgres && !s.connectionStringSecretRef) {
    r.error("spec.stateStorage.connectionStringSecretRef", "is required for type Postgres: name the Secret in the gateway's "
                                                           "namespace, and its key, that holds the connection string "
                                                           "(postgresql://user:password@host:5432/database)");
  }
  if (!postgres && s.connectionStringSecretRef) {
    r.error("spec.stateStorage.connectionStringSecretRef", "is only for type Postgres; remove it, or set type: Postgres");
  }
  if (!postgres && spec.deployment.replicas > 1) {
    r.warning("spec.stateStorage.type", "Memory keeps each pod's conversations to itself, and the gateway runs " +
                                            std::to_string(spec.deployment.replicas) + " replicas: a follow-up request "
                                            "(previous_response_id) that reaches another pod finds nothing; use Postgres, or one replica");
  }
}

// Request headers a rate limit cannot select on: Envoy answers them itself or removes them, or
// Plano's filter removes them (content-length) before it reads the selector.
bool is_unselectable_header(std::string_view name) {
  static const std::set<std::string_view> headers = {"connection", "content-length", "host", "keep-alive", "proxy-connection",
                                                     "te", "trailer", "transfer-encoding", "upgrade", "x-arch-ratelimit-selector"};
  return headers.count(name) > 0;
}

void check_rate_limits(const std::vector<api::GatewayRateLimit>& limits, Report& r) {
  if (limits.size() > kMaxRateLimits) {
    r.error("spec.rateLimits", "has " + std::to_string(limits.size()) + " limits; at most " + std::to_string(kMaxRateLimits) +
                                   " are allowed (the CRD's limit)");
  }
  static const std::regex value_form("^[!-~]([ !-~]*[!-~])?$");
  // Plano keeps one limit per (model_id, selector) and skips any later one with only a log line.
  std::map<std::tuple<std::string_view, std::string_view, std::string_view>, std::size_t> first_of;
  for (std::size_t i = 0; i < limits.size(); ++i) {
    const auto& l = limits[i];
    const auto at = indexed("spec.rateLimits", i);
    const auto slash = l.model.find('/');
    if (l.model.size() > kMaxRateLimitModelLength || slash == std::string::npos || slash == 0 || slash + 1 == l.model.size()) {
      r.error(at + ".model", "\"" + l.model + "\" is not <provider>/<model_id> of at most " + std::to_string(kMaxRateLimitModelLength) +
                                 " characters: write a ModelProvider's spec.model as it declares it, e.g. openai/gpt-4o");
    } else if (model_id_of(l.model) == "*") {
      r.error(at + ".model", "\"" + l.model + "\" is a wildcard; Plano limits one model_id at a time: name each model, e.g. " +
                                 l.model.substr(0, slash) + "/gpt-4o");
    }
    check_text(r, at + ".model", l.model);
    if (l.selectorKey.size() > kMaxSelectorKeyLength || !is_lower_case_header_name(l.selectorKey)) {
      r.error(at + ".selector.key", "\"" + l.selectorKey + "\" is not a lower-case HTTP header name of at most " +
                                        std::to_string(kMaxSelectorKeyLength) + " characters (letters a-z, digits and "
                                        "!#%&'*+-.^_`|~), e.g. x-team; clients name it in lower case in x-arch-ratelimit-selector");
    } else if (is_unselectable_header(l.selectorKey)) {
      r.error(at + ".selector.key", "\"" + l.selectorKey + "\" never reaches Plano's rate limiter as a request header (Envoy or Plano "
                                        "consumes it); use a header of your own, e.g. x-team");
    }
    if (l.selectorValue.size() > kMaxSelectorValueLength || !std::regex_match(l.selectorValue, value_form)) {
      r.error(at + ".selector.value", "is not 1 to " + std::to_string(kMaxSelectorValueLength) + " printable ASCII characters "
                                          "(spaces only inside): Plano compares it with the header's value exactly");
    }
    check_text(r, at + ".selector.value", l.selectorValue);
    if (l.tokens < 1 || l.tokens > kMaxRateLimitTokens) {
      r.error(at + ".limit.tokens", std::to_string(l.tokens) + " is out of range; use 1 to " + std::to_string(kMaxRateLimitTokens) +
                                        " (0 stops Plano's filter from starting)");
    } else if (l.unit == api::RateLimitUnit::Day && l.tokens < 24) {
      r.warning(at + ".limit.tokens", "Plano turns a daily limit into tokens/24 per hour, at least 1: " + std::to_string(l.tokens) +
                                          " per day becomes 1 per hour (24 per day)");
    }
    const auto [it, first] = first_of.try_emplace({model_id_of(l.model), l.selectorKey, l.selectorValue}, i);
    if (!first) {
      r.error(at, "limits the same model_id (" + std::string(model_id_of(l.model)) + ") and selector as " +
                      indexed("spec.rateLimits", it->second) + "; Plano would keep only the first: merge them into one");
    }
  }
}

void check_routing(const api::GatewayRouting& routing, Report& r) {
  const auto& ref = routing.modelProviderRef;
  if (!is_subdomain(ref.name)) {
    r.error("spec.routing.modelProviderRef.name", "\"" + ref.name + "\" is not the name of a ModelProvider (a DNS subdomain)");
  }
  static const std::regex dns_label("^[a-z0-9]([-a-z0-9]*[a-z0-9])?$");
  if (ref.namespace_ && (ref.namespace_->size() > 63 || !std::regex_match(*ref.namespace_, dns_label))) {
    r.error("spec.routing.modelProviderRef.namespace", "\"" + *ref.namespace_ + "\" is not a namespace name (a DNS label)");
  }
  if (const auto& length = routing.contextLength; length && (*length < kMinRoutingContextLength || *length > kMaxRoutingContextLength)) {
    r.error("spec.routing.contextLength", std::to_string(*length) + " is out of range; use " + std::to_string(kMinRoutingContextLength) +
                                              " to " + std::to_string(kMaxRoutingContextLength) + " tokens (Plano's default is 8192)");
  }
}

// A metrics source's address: Plano fetches it from every pod, and its start-up pastes it through
// envsubst, so it is a plain http(s) URL with no '$', query or fragment.
void check_metrics_url(const std::string& field, const std::string& url, Report& r) {
  static const std::regex url_form("^https?://[A-Za-z0-9]([-A-Za-z0-9.]*[A-Za-z0-9])?(:[0-9]{1,5})?(/[-A-Za-z0-9._~%!&()*+,=:@/]*)?$");
  if (url.size() > kMaxMetricsUrlLength || !std::regex_match(url, url_form)) {
    r.error(field, "\"" + url + "\" is not http(s)://<host>[:<port>][/<path>] of at most " + std::to_string(kMaxMetricsUrlLength) +
                       " characters (letters, digits and -._~%!&()*+,=:@/ in the path; no '$', query or fragment)");
  }
}

void check_refresh(const std::string& field, const std::optional<std::int64_t>& seconds, Report& r) {
  if (seconds && (*seconds < kMinMetricsRefreshSeconds || *seconds > kMaxMetricsRefreshSeconds)) {
    r.error(field, std::to_string(*seconds) + " is out of range; use " + std::to_string(kMinMetricsRefreshSeconds) + " to " +
                       std::to_string(kMaxMetricsRefreshSeconds) + " seconds, or leave it unset to fetch once per pod start");
  }
}

void check_model_metrics(const api::PlanoGatewaySpec& spec, Report& r) {
  const auto& m = *spec.modelMetrics;
  if (spec.configVersion == "v0.3.0") {
    r.error("spec.modelMetrics", "needs configVersion v0.4.0 (v0.3.0 keeps routing preferences inline, where Plano has no "
                                 "selection policy to use the metrics)");
  }
  if (!m.cost && !m.latency) r.error("spec.modelMetrics", "names no source; set cost, latency or both, or remove it");
  if (const auto& cost = m.cost) {
    if (cost->provider != "models.dev" && cost->provider != "digitalocean") {
      r.error("spec.modelMetrics.cost.provider", "is \"" + cost->provider + "\"; use models.dev or digitalocean");
    }
    if (cost->url) check_metrics_url("spec.modelMetrics.cost.url", *cost->url, r);
    check_refresh("spec.modelMetrics.cost.refreshIntervalSeconds", cost->refreshIntervalSeconds, r);
    if (cost->modelAliases.size() > kMaxCostModelAliases) {
      r.error("spec.modelMetrics.cost.modelAliases", "has " + std::to_string(cost->modelAliases.size()) + " entries; at most " +
                                                         std::to_string(kMaxCostModelAliases) + " are allowed");
    }
    for (const auto& [key, model] : cost->modelAliases) {
      const auto at = keyed("spec.modelMetrics.cost.modelAliases", key);
      if (key.empty() || key.size() > kMaxCostModelAliasLength || model.empty() || model.size() > kMaxCostModelAliasLength) {
        r.error(at, "the catalog key and the model must each be 1 to " + std::to_string(kMaxCostModelAliasLength) + " characters");
      }
      check_text(r, at, key);
      check_text(r, at, model);
    }
  }
  if (const auto& latency = m.latency) {
    check_metrics_url("spec.modelMetrics.latency.url", latency->url, r);
    if (latency->query.size() > kMaxLatencyQueryLength) {
      r.error("spec.modelMetrics.latency.query", "is longer than " + std::to_string(kMaxLatencyQueryLength) + " characters (the CRD's limit)");
    }
    check_text(r, "spec.modelMetrics.latency.query", latency->query);
    check_refresh("spec.modelMetrics.latency.refreshIntervalSeconds", latency->refreshIntervalSeconds, r);
  }
}

void check_model(const api::ModelProviderSpec& s, Report& r) {
  auto slash = s.model.find('/');
  if (slash == std::string::npos || slash == 0 || slash + 1 == s.model.size()) {
    r.error("spec.model", "\"" + s.model + "\" must be <provider>/<model_id>, e.g. openai/gpt-4o");
    return;
  }
  const std::string provider = s.model.substr(0, slash);
  const bool wildcard = s.model.substr(slash + 1) == "*";
  if (wildcard && s.default_.value_or(false)) {
    r.error("spec.default", "a wildcard model (" + s.model + ") cannot be the default; make a concrete model the default");
  }
  if (wildcard && !s.routingPreferences.empty()) {
    r.error("spec.routingPreferences", "a wildcard model (" + s.model + ") cannot have routing preferences; attach them to a concrete model");
  }
  if (provider_requires_base_url(provider) && !s.baseURL) {
    r.error("spec.baseURL", "is required for provider " + provider + ": set the endpoint of your " + provider + " deployment");
  }
  if (!is_known_provider(provider)) {
    if (!s.baseURL) r.error("spec.baseURL", "is required for provider \"" + provider + "\", which Plano does not know: set the upstream's URL");
    if (!s.providerInterface) {
      r.error("spec.providerInterface", "is required for provider \"" + provider +
                                            "\", which Plano does not know: say which API it speaks (" +
                                            provider_interfaces_list() + "), usually openai");
    }
  } else if (s.providerInterface) {
    r.error("spec.providerInterface", "must not be set for " + provider + ", which Plano knows; remove it (the model prefix already says the API)");
  }
  if (s.providerInterface && !is_provider_interface(*s.providerInterface)) {
    r.error("spec.providerInterface", "\"" + *s.providerInterface + "\" is not one of " + provider_interfaces_list());
  }
}

// A DNS name or an IPv4/IPv6 literal (without brackets): what Envoy's template may write unquoted.
bool is_host(const std::string& host) {
  static const std::regex name("^[A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?(\\.[A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?)*\\.?$");
  static const std::regex ipv6("^[0-9A-Fa-f:.]+$");
  return std::regex_match(host, name) || (host.find(':') != std::string::npos && std::regex_match(host, ipv6));
}

// A host, or [IPv6], with an optional :port: what spec.httpHost may be.
bool is_host_and_port(const std::string& text) {
  static const std::regex port(":[0-9]{1,5}$");
  std::smatch m;
  const auto host = std::regex_search(text, m, port) ? text.substr(0, static_cast<std::size_t>(m.position(0))) : text;
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') return is_host(host.substr(1, host.size() - 2)) && host.find(':') != std::string::npos;
  return host.find(':') == std::string::npos && is_host(host);
}

void check_base_url(const api::ModelProviderSpec& s, Report& r) {
  if (!s.baseURL) return;
  const auto& url = *s.baseURL;
  if (url.find('$') != std::string::npos) {
    r.error("spec.baseURL", "must not contain '$': Plano does not expand environment variables in base_url; write the URL out");
    return;
  }
  if (auto problem = tenant_text_problem(url)) {
    r.error("spec.baseURL", std::move(*problem));
    return;
  }
  if (url.find_first_of(" \t") != std::string::npos) {
    r.error("spec.baseURL", "must not contain spaces or tabs; percent-encode them in the path (%20)");
    return;
  }
  auto parsed = parse_base_url(url);
  if (!parsed || (parsed->scheme != "http" && parsed->scheme != "https")) {
    r.error("spec.baseURL", "\"" + url + "\" must be an http:// or https:// URL with a host, e.g. https://api.example.com/v1");
    return;
  }
  if (!is_host(parsed->host)) {
    r.error("spec.baseURL", "\"" + parsed->host + "\" is not a host name or IP address; Plano writes the host unquoted into "
                            "Envoy's config, where other characters break it for every tenant");
  }
  if (parsed->hasUserinfo) {
    r.error("spec.baseURL", "must not carry credentials (user:password@); remove them and use accessKeySecretRef or passthroughAuth");
  }
  if (parsed->scheme == "http" && s.accessKeySecretRef && !is_cluster_local(parsed->host)) {
    r.warning("spec.baseURL", "sends the access key in clear text to " + parsed->host + "; use https://");
  }
}

// Aliases are names clients send as the model; Plano resolves them before it looks the model up.
void check_aliases(const api::ModelProvider& mp, Report& r) {
  const auto& s = mp.spec;
  if (s.aliases.empty()) return;
  if (s.aliases.size() > kMaxAliases) {
    r.error("spec.aliases", "has " + std::to_string(s.aliases.size()) + " aliases; at most " + std::to_string(kMaxAliases) +
                                " are allowed (the CRD's limit)");
  }
  const auto slash = s.model.find('/');
  if (slash != std::string::npos && s.model.substr(slash + 1) == "*") {
    r.error("spec.aliases", "a wildcard model (" + s.model + ") cannot have aliases (Plano's aliases target one model); "
                            "attach them to a concrete model");
  }
  const auto model_id = slash == std::string::npos ? s.model : s.model.substr(slash + 1);
  std::set<std::string> seen;
  for (std::size_t i = 0; i < s.aliases.size(); ++i) {
    const auto& alias = s.aliases[i];
    const auto at = indexed("spec.aliases", i);
    if (alias.empty() || alias.size() > kMaxAliasLength) {
      r.error(at, "must be 1 to " + std::to_string(kMaxAliasLength) + " characters (the CRD's limit)");
    } else if (!seen.insert(alias).second) {
      r.error(at, "\"" + alias + "\" is listed twice; keep one");
    } else if (alias == s.model || alias == model_id || alias == mp.planoName()) {
      r.error(at, "\"" + alias + "\" is already this provider's model or name, which clients can use as it is; remove it");
    }
    check_text(r, at, alias);
  }
}

void check_auth(const api::ModelProviderSpec& s, Report& r) {
  const bool passthrough = s.passthroughAuth.value_or(false);
  if (passthrough && s.accessKeySecretRef) {
    r.error("spec.accessKeySecretRef",
            "must not be set together with passthroughAuth: true (Plano would ignore the key and forward the "
            "client's credential); remove accessKeySecretRef, or remove passthroughAuth to use the managed key");
  } else if (!passthrough && !s.accessKeySecretRef) {
    r.error("spec.passthroughAuth",
            "neither passthroughAuth nor accessKeySecretRef is set, so Plano would forward the client's own "
            "credential without saying so; set passthroughAuth: true for upstreams that want the client's key "
            "or need none, or set accessKeySecretRef: {name, key} to a Secret in this namespace");
  }
}

}  // namespace

bool is_deployable_gateway_name(std::string_view name) {
  static const std::regex dns1035("^[a-z]([-a-z0-9]*[a-z0-9])?$");
  return name.size() <= kMaxGatewayNameLength && std::regex_match(name.begin(), name.end(), dns1035);
}

std::int64_t listener_timeout_ms(const api::Listener& listener) {
  const auto timeout = listener.timeout ? parse_duration(*listener.timeout) : std::nullopt;  // a bad one is refused elsewhere
  return timeout ? timeout->count() : api::kPlanoListenerTimeoutSeconds * 1000;
}

std::int64_t listener_timeout_seconds(const api::Listener& listener) { return (listener_timeout_ms(listener) + 999) / 1000; }

std::int64_t termination_grace_seconds(const api::PlanoGatewaySpec& spec) {
  if (spec.deployment.terminationGracePeriodSeconds) return *spec.deployment.terminationGracePeriodSeconds;
  std::int64_t longest = 0;
  for (const auto& l : spec.listeners) longest = std::max(longest, listener_timeout_seconds(l));
  if (spec.listeners.empty()) longest = api::kPlanoListenerTimeoutSeconds;
  return longest + api::kGraceMarginSeconds;
}

std::string_view model_id_of(std::string_view model) {
  const auto slash = model.find('/');
  return slash == std::string_view::npos ? model : model.substr(slash + 1);
}

ObjectRef ref_of(const api::PlanoGateway& gw) {
  return ObjectRef{api::kGatewayKind, gw.metadata.namespace_, gw.metadata.name};
}
ObjectRef ref_of(const api::ModelProvider& mp) {
  return ObjectRef{api::kProviderKind, mp.metadata.namespace_, mp.metadata.name};
}

std::vector<Finding> check_gateway(const api::PlanoGateway& gw) {
  Report r(ref_of(gw));
  if (!is_deployable_gateway_name(gw.metadata.name)) {
    r.error("metadata.name", "\"" + gw.metadata.name + "\" cannot name the gateway's Service \"<name>-plano\", a DNS-1035 "
                             "label: use at most " + std::to_string(kMaxGatewayNameLength) +
                             " lower-case letters, digits and '-', starting with a letter and ending with a letter or digit");
  }
  check_listeners(gw.spec, r);
  check_allowed(gw.spec.allowedProviders, r);
  check_deployment(gw.spec.deployment, r);
  check_stopping(gw.spec, r);
  if (gw.spec.tracing) check_tracing(*gw.spec.tracing, r);
  if (gw.spec.stateStorage) check_state_storage(gw.spec, r);
  check_rate_limits(gw.spec.rateLimits, r);
  if (gw.spec.routing) check_routing(*gw.spec.routing, r);
  if (gw.spec.modelMetrics) check_model_metrics(gw.spec, r);
  if (const auto& clients = gw.spec.networkPolicy.clientNamespaces) {
    check_selector(*clients, "spec.networkPolicy.clientNamespaces", r);
    check_label_selector(*clients, "spec.networkPolicy.clientNamespaces", r);
  }
  return r.take();
}

std::vector<Finding> check_provider(const api::ModelProvider& mp) {
  Report r(ref_of(mp));
  const auto& s = mp.spec;
  check_model(s, r);
  check_base_url(s, r);
  check_auth(s, r);
  check_aliases(mp, r);
  check_text(r, "spec.model", s.model);
  if (s.name) check_text(r, "spec.name", *s.name);
  if (s.httpHost) {
    if (auto problem = tenant_text_problem(*s.httpHost)) {
      r.error("spec.httpHost", std::move(*problem));
    } else if (!is_host_and_port(*s.httpHost)) {
      r.error("spec.httpHost", "\"" + *s.httpHost + "\" is not a host name or IP address with an optional :port; Plano writes "
                               "it unquoted into Envoy's config, where other characters break it for every tenant");
    }
  }
  for (const auto& [name, value] : s.headers) {
    const auto field = header_field(name);
    if (!is_http_token(name)) {
      r.error(field, "is not an HTTP header name: use letters, digits and !#$%&'*+-.^_`|~ only (no spaces, "
                     "colons or control characters)");
    } else if (is_credential_header(name)) {
      r.error(field, "carries a credential, which must never be written into a ModelProvider; "
                     "use accessKeySecretRef (managed key) or passthroughAuth: true (client's key)");
    } else {
      check_text(r, field, name);
    }
    check_text(r, field, value);
  }
  std::set<std::string> pref_names;
  for (std::size_t i = 0; i < s.routingPreferences.size(); ++i) {
    const auto& p = s.routingPreferences[i];
    const auto at = indexed("spec.routingPreferences", i);
    if (!pref_names.insert(p.name).second) {
      r.error(at + ".name", "\"" + p.name + "\" is listed twice; keep one");
    }
    check_text(r, at + ".name", p.name);
    check_text(r, at + ".description", p.description);
  }
  if (s.name && s.name->empty()) r.error("spec.name", "must not be empty; leave it out to use the model string");
  return r.take();
}

}  // namespace plano::rules
