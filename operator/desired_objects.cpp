#include "operator/desired_objects.h"

#include <algorithm>

#include "core/encoding/base64.h"
#include "core/render/renderer.h"
#include "core/rules/object_rules.h"

namespace plano::op {
namespace {

using nlohmann::json;

json labels(const api::PlanoGateway& gw) {
  return {{"app.kubernetes.io/name", "plano"},
          {"app.kubernetes.io/instance", gw.metadata.name},
          {"app.kubernetes.io/managed-by", "plano-operator"},
          {kGatewayLabel, gw.metadata.name}};
}

json selector(const api::PlanoGateway& gw) {
  return {{"app.kubernetes.io/name", "plano"}, {"app.kubernetes.io/instance", gw.metadata.name}};
}

json metadata(const api::PlanoGateway& gw, const std::string& name) {
  return {{"name", name},
          {"namespace", gw.metadata.namespace_},
          {"labels", labels(gw)},
          {"ownerReferences",
           json::array({{{"apiVersion", api::kApiVersion},
                         {"kind", api::kGatewayKind},
                         {"name", gw.metadata.name},
                         {"uid", gw.metadata.uid},
                         {"controller", true},
                         {"blockOwnerDeletion", true}}})}};
}

const api::Listener& model_listener(const api::PlanoGateway& gw) {
  for (const auto& l : gw.spec.listeners) {
    if (l.type == "model") return l;
  }
  return gw.spec.listeners.at(0);
}

// A container port name is an IANA service name (at most 15 of a-z, 0-9 and '-', a letter among
// them, no "--", no '-' at either end) and a Service port name a DNS-1123 label; a listener name
// may be neither ("model_listener" has '_'). The name of listener i, valid and unique among them.
std::vector<std::string> port_names(const std::vector<api::Listener>& listeners) {
  constexpr std::size_t kMaxPortName = 15;
  auto sanitize = [](const std::string& name, std::size_t max) {
    std::string out;
    for (char c : name) {
      const char d = c == '_' ? '-' : c;
      if (d == '-' && (out.empty() || out.back() == '-')) continue;
      if ((d >= 'a' && d <= 'z') || (d >= '0' && d <= '9') || d == '-') out += d;
      if (out.size() == max) break;
    }
    while (!out.empty() && out.back() == '-') out.pop_back();
    return out;
  };
  std::vector<std::string> names;
  for (std::size_t i = 0; i < listeners.size(); ++i) {
    auto name = sanitize(listeners[i].name, kMaxPortName);
    const bool has_letter = name.find_first_of("abcdefghijklmnopqrstuvwxyz") != std::string::npos;
    if (!has_letter || std::find(names.begin(), names.end(), name) != names.end()) {
      const auto suffix = "-" + std::to_string(i);
      name = sanitize(has_letter ? name : "listener", kMaxPortName - suffix.size()) + suffix;
    }
    names.push_back(std::move(name));
  }
  return names;
}

json string_map(const std::map<std::string, std::string>& m) {
  json out = json::object();
  for (const auto& [k, v] : m) out[k] = v;
  return out;
}

// preStop: Plano's supervisord stops at once on SIGTERM and its children get no signal, so the
// hook drains Envoy first (admin API, graceful: listeners keep accepting while the endpoints go,
// HTTP/1 replies say Connection: close, HTTP/2 gets GOAWAY), waits for the Service to stop sending
// new requests, then for every in-flight request (all listeners but admin) to end, at most argv[1]
// seconds. The image has python3 but no curl. An Envoy that does not answer ends the hook at once.
constexpr const char* kDrainScript = R"(import json, sys, time, urllib.request as r
admin, end = sys.argv[2], time.monotonic() + int(sys.argv[1])
try:
    r.urlopen(r.Request(admin + "/drain_listeners?graceful", method="POST"), timeout=5)
except Exception:
    sys.exit(0)
time.sleep(min(5, int(sys.argv[1])))
while time.monotonic() < end:
    try:
        stats = json.load(r.urlopen(admin + "/stats?format=json&filter=downstream_rq_active$", timeout=5))["stats"]
    except Exception:
        break
    if sum(s.get("value", 0) for s in stats if not s["name"].startswith("http.admin.")) == 0:
        break
    time.sleep(1)
)";

json container_resources(const api::GatewayDeployment& d) {
  json resources = json::object();
  if (!d.resourceLimits.empty()) resources["limits"] = string_map(d.resourceLimits);
  json requests = string_map(d.resourceRequests);
  // The log volume lives on the node's disk: the scheduler must count it.
  if (!requests.contains("ephemeral-storage") && !d.resourceLimits.count("ephemeral-storage")) {
    requests["ephemeral-storage"] = d.logVolumeSize;
  }
  resources["requests"] = requests;
  return resources;
}

// Plano's image runs as root and writes to /app, /etc and /var/log, so the pod cannot be non-root;
// it still gets no privilege escalation, no capabilities and the default seccomp.
json security_context() {
  return {{"allowPrivilegeEscalation", false},
          {"capabilities", {{"drop", json::array({"ALL"})}}},
          {"seccompProfile", {{"type", "RuntimeDefault"}}}};
}

}  // namespace

OwnedNames owned_names(const api::PlanoGateway& gw) {
  const auto& n = gw.metadata.name;
  return {n + "-plano-config", n + "-plano-keys", n + "-plano", n + "-plano", n + "-plano", n + "-plano"};
}

std::string rollout_hash(const std::string& config, const std::map<std::string, std::string>& keys) {
  std::string material = render::sha256_hex(config);
  for (const auto& [var, value] : keys) material += "\n" + var + "=" + render::sha256_hex(value);
  return render::sha256_hex(material);
}

json desired_config_map(const api::PlanoGateway& gw, const std::string& config) {
  return {{"apiVersion", "v1"},
          {"kind", "ConfigMap"},
          {"metadata", metadata(gw, owned_names(gw).configMap)},
          {"data", {{kConfigKey, config}}}};
}

json desired_keys_secret(const api::PlanoGateway& gw, const std::map<std::string, std::string>& keys,
                         const std::map<std::string, std::string>& sources) {
  json data = json::object();
  for (const auto& [var, value] : keys) data[var] = encoding::base64_encode(value);
  json meta = metadata(gw, owned_names(gw).keys);
  meta["annotations"] = {{kKeySourcesAnnotation, json(sources).dump()}};
  return {{"apiVersion", "v1"}, {"kind", "Secret"}, {"metadata", meta}, {"type", "Opaque"}, {"data", data}};
}

json desired_deployment(const api::PlanoGateway& gw, const std::string& rollout, const std::string& rolled_at) {
  const auto names = owned_names(gw);
  const auto& d = gw.spec.deployment;
  const auto& listener = model_listener(gw);
  json ports = json::array();
  const auto port_name = port_names(gw.spec.listeners);
  for (std::size_t i = 0; i < gw.spec.listeners.size(); ++i) {
    ports.push_back({{"name", port_name[i]}, {"containerPort", gw.spec.listeners[i].port}, {"protocol", "TCP"}});
  }
  auto probe = [&](const char* path, int period, int timeout, int failures) {
    return json{{"httpGet", {{"path", path}, {"port", listener.port}}},
                {"periodSeconds", period},
                {"timeoutSeconds", timeout},
                {"failureThreshold", failures}};
  };
  const auto grace = rules::termination_grace_seconds(gw.spec);
  json logs_mount = {{"name", "logs"}, {"mountPath", kLogPath}};
  json container = {
      {"name", "plano"},
      {"image", d.image},
      {"ports", ports},
      // UV_NO_PROJECT: the image starts `uv run python -m planoai.config_generator` in /app, which
      // holds Plano's pyproject.toml and uv.lock; without it uv builds /app/.venv from the index at
      // every start (no start without egress). With it uv runs the image's own Python, where
      // planoai and its dependencies are installed (tests/startup/offline_start_test.py).
      {"env", json::array({{{"name", "PLANO_CONFIG_FILE"}, {"value", kConfigPath}}, {{"name", "UV_NO_PROJECT"}, {"value", "1"}}})},
      {"envFrom", json::array({{{"secretRef", {{"name", names.keys}}}}})},
      {"volumeMounts", json::array({{{"name", "config"}, {"mountPath", kConfigPath}, {"subPath", kConfigKey}, {"readOnly", true}}, logs_mount})},
      // Ready when Envoy's listener answers AND brightstaff behind it does: /v1/models is routed
      // through Envoy to brightstaff, which answers it from its own config (no upstream call).
      {"readinessProbe", probe("/v1/models", 5, 3, 2)},
      // Alive while Envoy answers /healthz itself: a slow upstream or a busy brightstaff never
      // restarts the pod and cuts every tenant's streams.
      {"livenessProbe", probe("/healthz", 10, 5, 6)},
      {"startupProbe", probe("/healthz", 2, 2, 60)},
      {"lifecycle",
       {{"preStop", {{"exec", {{"command", json::array({"python3", "-c", kDrainScript,
                                                        std::to_string(std::max<std::int64_t>(grace - kStopMarginSeconds, 1)),
                                                        kEnvoyAdmin})}}}}}}},
      {"resources", container_resources(d)},
      {"securityContext", security_context()}};
  // An emptyDir hides the image's /var/log: copy what the image put there (the log files
  // supervisord's tail_access_logs follows from the start), so Plano sees the layout it was built with.
  json init = {{"name", "logs"},
               {"image", d.image},
               {"command", json::array({"/bin/sh", "-c", "cp -a /var/log/. /plano-log/"})},
               {"volumeMounts", json::array({{{"name", "logs"}, {"mountPath", "/plano-log"}}})},
               {"resources", container_resources(d)},
               {"securityContext", security_context()}};
  json annotations = string_map(d.podAnnotations);
  annotations[kConfigHashAnnotation] = rollout;
  json pod_spec = {{"initContainers", json::array({init})},
                   {"containers", json::array({container})},
                   {"automountServiceAccountToken", false},
                   {"terminationGracePeriodSeconds", grace},
                   {"volumes", json::array({{{"name", "config"}, {"configMap", {{"name", names.configMap}}}},
                                            {{"name", "logs"}, {"emptyDir", {{"sizeLimit", d.logVolumeSize}}}}})}};
  if (!d.nodeSelector.empty()) pod_spec["nodeSelector"] = string_map(d.nodeSelector);
  if (!d.tolerations.empty()) {
    json tolerations = json::array();
    for (const auto& t : d.tolerations) {
      json tol = json::object();
      if (!t.key.empty()) tol["key"] = t.key;
      if (!t.op.empty()) tol["operator"] = t.op;
      if (!t.value.empty()) tol["value"] = t.value;
      if (!t.effect.empty()) tol["effect"] = t.effect;
      if (t.tolerationSeconds) tol["tolerationSeconds"] = *t.tolerationSeconds;
      tolerations.push_back(tol);
    }
    pod_spec["tolerations"] = tolerations;
  }
  json pod_labels = labels(gw);
  json meta = metadata(gw, names.deployment);
  meta["annotations"] = {{kRolledAtAnnotation, rolled_at}};
  return {{"apiVersion", "apps/v1"},
          {"kind", "Deployment"},
          {"metadata", meta},
          {"spec",
           {{"replicas", d.replicas},
            {"selector", {{"matchLabels", selector(gw)}}},
            // Capacity never drops in a rollout: an old pod goes only once a new one is ready.
            {"strategy", {{"type", "RollingUpdate"}, {"rollingUpdate", {{"maxUnavailable", 0}, {"maxSurge", d.maxSurge}}}}},
            {"template", {{"metadata", {{"labels", pod_labels}, {"annotations", annotations}}}, {"spec", pod_spec}}}}}};
}

json desired_service(const api::PlanoGateway& gw) {
  json ports = json::array();
  const auto port_name = port_names(gw.spec.listeners);
  for (std::size_t i = 0; i < gw.spec.listeners.size(); ++i) {
    const auto port = gw.spec.listeners[i].port;
    ports.push_back({{"name", port_name[i]}, {"port", port}, {"targetPort", port}, {"protocol", "TCP"}});
  }
  return {{"apiVersion", "v1"},
          {"kind", "Service"},
          {"metadata", metadata(gw, owned_names(gw).service)},
          {"spec", {{"type", gw.spec.deployment.serviceType}, {"selector", selector(gw)}, {"ports", ports}}}};
}

std::optional<json> desired_disruption_budget(const api::PlanoGateway& gw) {
  if (gw.spec.deployment.replicas <= 1 || !gw.spec.deployment.podDisruptionBudget) return std::nullopt;
  // AlwaysAllow: pods that are not ready may always be evicted, so a broken gateway never blocks a node drain.
  return json{{"apiVersion", "policy/v1"},
              {"kind", "PodDisruptionBudget"},
              {"metadata", metadata(gw, owned_names(gw).disruptionBudget)},
              {"spec", {{"maxUnavailable", 1}, {"selector", {{"matchLabels", selector(gw)}}}, {"unhealthyPodEvictionPolicy", "AlwaysAllow"}}}};
}

json desired_network_policy(const api::PlanoGateway& gw) {
  json ports = json::array();
  for (const auto& l : gw.spec.listeners) ports.push_back({{"port", l.port}, {"protocol", "TCP"}});
  json rule = {{"ports", ports}};
  if (const auto& clients = gw.spec.networkPolicy.clientNamespaces) {
    json namespace_selector = json::object();
    if (!clients->matchLabels.empty()) namespace_selector["matchLabels"] = string_map(clients->matchLabels);
    if (!clients->matchExpressions.empty()) {
      json expressions = json::array();
      for (const auto& e : clients->matchExpressions) {
        json expression = {{"key", e.key}, {"operator", e.op}};
        if (!e.values.empty()) expression["values"] = e.values;
        expressions.push_back(std::move(expression));
      }
      namespace_selector["matchExpressions"] = std::move(expressions);
    }
    rule["from"] = json::array({{{"namespaceSelector", namespace_selector}}});
  }
  return {{"apiVersion", "networking.k8s.io/v1"},
          {"kind", "NetworkPolicy"},
          {"metadata", metadata(gw, owned_names(gw).networkPolicy)},
          {"spec", {{"podSelector", {{"matchLabels", selector(gw)}}}, {"policyTypes", json::array({"Ingress"})}, {"ingress", json::array({rule})}}}};
}

bool is_subset(const json& desired, const json& live) {
  if (desired.is_object()) {
    if (!live.is_object()) return false;
    for (const auto& [k, v] : desired.items()) {
      auto it = live.find(k);
      // The API server drops empty maps and lists (a keys Secret with no keys has no data).
      if (it == live.end() ? !(v.is_structured() && v.empty()) : !is_subset(v, *it)) return false;
    }
    return true;
  }
  if (desired.is_array()) {
    if (!live.is_array() || live.size() != desired.size()) return false;
    for (std::size_t i = 0; i < desired.size(); ++i) {
      if (!is_subset(desired[i], live[i])) return false;
    }
    return true;
  }
  return desired == live;
}

bool needs_apply(const json& desired, const json* live) {
  if (!live) return true;
  if (desired.contains("data") && live->value("data", json::object()) != desired["data"]) return true;
  return !is_subset(desired, *live);
}

}  // namespace plano::op
