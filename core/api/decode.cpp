#include "core/api/decode.h"

#include <algorithm>
#include <functional>
#include <set>

namespace plano::api {
namespace {

using nlohmann::json;

// Names people write out of habit (Plano's own snake_case keys) mapped to this API's field.
const std::map<std::string, std::string>& habitual_names() {
  static const std::map<std::string, std::string> names = {
      {"passthrough_auth", "passthroughAuth"},
      {"access_key", "accessKeySecretRef"},
      {"accessKey", "accessKeySecretRef"},
      {"apiKey", "accessKeySecretRef"},
      {"api_key", "accessKeySecretRef"},
      {"base_url", "baseURL"},
      {"baseUrl", "baseURL"},
      {"provider_interface", "providerInterface"},
      {"http_host", "httpHost"},
      {"routing_preferences", "routingPreferences"},
      {"gateway_ref", "gatewayRef"},
      {"gateway", "gatewayRef"},
      {"config_version", "configVersion"},
      {"allowed_providers", "allowedProviders"},
      {"auth_modes", "authModes"},
      {"model_aliases", "aliases"},
      {"opentracing_grpc_endpoint", "endpoint"},
      {"random_sampling", "samplingPercent"},
      {"span_attributes", "spanAttributes"},
      {"header_prefixes", "headerPrefixes"},
      {"state_storage", "stateStorage"},
      {"connection_string", "connectionStringSecretRef"},
      {"connectionString", "connectionStringSecretRef"},
      {"ratelimits", "rateLimits"},
      {"rate_limits", "rateLimits"},
      {"overrides", "routing"},
      {"llm_routing_model", "modelProviderRef"},
      {"orchestrator_model_context_length", "contextLength"},
      {"selection_policy", "prefer"},
      {"selectionPolicy", "prefer"},
      {"model_metrics_sources", "modelMetrics"},
      {"metrics", "modelMetrics"},
      {"refresh_interval", "refreshIntervalSeconds"},
      {"refreshInterval", "refreshIntervalSeconds"},
  };
  return names;
}

std::size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<std::size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      bool same = std::tolower(static_cast<unsigned char>(a[i - 1])) ==
                  std::tolower(static_cast<unsigned char>(b[j - 1]));
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (same ? 0 : 1)});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

std::string suggestion(const std::string& unknown, const std::vector<std::string>& known) {
  auto habit = habitual_names().find(unknown);
  if (habit != habitual_names().end() &&
      std::find(known.begin(), known.end(), habit->second) != known.end()) {
    return habit->second;
  }
  std::string best;
  std::size_t best_distance = 3;  // only close misspellings are worth suggesting
  for (const auto& k : known) {
    auto d = edit_distance(unknown, k);
    if (d < best_distance) best_distance = d, best = k;
  }
  return best;
}

const char* json_type(const json& j) {
  switch (j.type()) {
    case json::value_t::null: return "null";
    case json::value_t::boolean: return "a boolean";
    case json::value_t::string: return "a string";
    case json::value_t::array: return "a list";
    case json::value_t::object: return "an object";
    default: return "a number";
  }
}

// Walks one JSON object, remembering which keys were read so the rest can be reported unknown.
class ObjectReader {
 public:
  ObjectReader(const json* j, std::string path, std::vector<FieldError>& errors)
      : json_(j), path_(std::move(path)), errors_(errors) {
    if (json_ && !json_->is_object()) {
      fail(path_, std::string("must be an object, not ") + json_type(*json_));
      json_ = nullptr;
    }
  }
  ~ObjectReader() { report_unknown(); }
  ObjectReader(const ObjectReader&) = delete;
  ObjectReader& operator=(const ObjectReader&) = delete;

  bool present() const { return json_ != nullptr; }
  std::string at(const std::string& key) const { return path_.empty() ? key : path_ + "." + key; }

  // The raw value of `key`, or nullptr if absent or null.
  const json* get(const std::string& key) {
    known_.push_back(key);
    if (!json_) return nullptr;
    auto it = json_->find(key);
    if (it == json_->end() || it->is_null()) return nullptr;
    return &*it;
  }

  std::optional<std::string> string(const std::string& key, bool required = false) {
    const json* v = get(key);
    if (!v) {
      if (required && json_) fail(at(key), "is required");
      return std::nullopt;
    }
    if (!v->is_string()) return type_error(key, "a string", *v), std::nullopt;
    if (required && v->get_ref<const std::string&>().empty()) fail(at(key), "must not be empty");
    return v->get<std::string>();
  }

  std::optional<bool> boolean(const std::string& key) {
    const json* v = get(key);
    if (!v) return std::nullopt;
    if (!v->is_boolean()) return type_error(key, "true or false", *v), std::nullopt;
    return v->get<bool>();
  }

  std::optional<std::int64_t> integer(const std::string& key, bool required = false) {
    const json* v = get(key);
    if (!v) {
      if (required && json_) fail(at(key), "is required");
      return std::nullopt;
    }
    if (!v->is_number_integer()) return type_error(key, "an integer", *v), std::nullopt;
    return v->get<std::int64_t>();
  }

  std::map<std::string, std::string> string_map(const std::string& key) {
    std::map<std::string, std::string> out;
    const json* v = get(key);
    if (!v) return out;
    if (!v->is_object()) return type_error(key, "a map of strings", *v), out;
    for (const auto& [k, val] : v->items()) {
      if (!val.is_string()) {
        fail(at(key) + "." + k, std::string("must be a string, not ") + json_type(val) +
                                    " (quote values such as \"true\" or \"8080\")");
        continue;
      }
      out[k] = val.get<std::string>();
    }
    return out;
  }

  // Calls `each(item, path)` for every element of the list at `key`.
  void list(const std::string& key, const std::function<void(const json&, const std::string&)>& each) {
    const json* v = get(key);
    if (!v) return;
    if (!v->is_array()) return type_error(key, "a list", *v);
    for (std::size_t i = 0; i < v->size(); ++i) each((*v)[i], at(key) + "[" + std::to_string(i) + "]");
  }

  void fail(const std::string& path, std::string message) {
    errors_.push_back(FieldError{path, std::move(message)});
  }

 private:
  void type_error(const std::string& key, const char* expected, const json& got) {
    fail(at(key), std::string("must be ") + expected + ", not " + json_type(got));
  }

  void report_unknown() {
    if (!json_) return;
    for (const auto& [k, v] : json_->items()) {
      if (std::find(known_.begin(), known_.end(), k) != known_.end()) continue;
      std::string message = "unknown field";
      auto better = suggestion(k, known_);
      if (!better.empty()) message += "; did you mean \"" + better + "\"?";
      if (k == "access_key" || k == "accessKey" || k == "apiKey" || k == "api_key") {
        message += " Keys never go into this object: put the key in a Secret in this namespace and "
                   "reference it with accessKeySecretRef: {name, key}";
      }
      if (k == "connection_string" || k == "connectionString") {
        message += " A connection string holds a password: put it in a Secret in this namespace and reference it "
                   "with connectionStringSecretRef: {name, key}";
      }
      fail(at(k), message);
    }
  }

  const json* json_;
  std::string path_;
  std::vector<FieldError>& errors_;
  std::vector<std::string> known_;
};

std::vector<std::string> string_list(ObjectReader& r, const std::string& key) {
  std::vector<std::string> out;
  r.list(key, [&](const json& item, const std::string& path) {
    if (item.is_string()) out.push_back(item.get<std::string>());
    else r.fail(path, std::string("must be a string, not ") + json_type(item));
  });
  return out;
}

void decode_metadata(ObjectReader& top, ObjectMeta& meta, std::vector<FieldError>& errors) {
  ObjectReader r(top.get("metadata"), "metadata", errors);
  if (!r.present()) {
    top.fail("metadata", "is required (metadata.name and metadata.namespace)");
    return;
  }
  meta.name = r.string("name", true).value_or("");
  meta.namespace_ = r.string("namespace").value_or("");
  meta.uid = r.string("uid").value_or("");
  meta.resourceVersion = r.string("resourceVersion").value_or("");
  meta.generation = r.integer("generation").value_or(0);
  meta.creationTimestamp = r.string("creationTimestamp").value_or("");
  meta.labels = r.string_map("labels");
  meta.annotations = r.string_map("annotations");
  // The rest of ObjectMeta is the API server's business; accept it unread.
  for (const char* k : {"generateName", "selfLink", "deletionTimestamp", "deletionGracePeriodSeconds",
                        "ownerReferences", "finalizers", "managedFields"}) {
    r.get(k);
  }
}

std::vector<Condition> decode_conditions(ObjectReader& status) {
  std::vector<Condition> out;
  if (const json* list = status.get("conditions"); list && list->is_array()) out.reserve(list->size());
  status.list("conditions", [&](const json& item, const std::string&) {
    if (!item.is_object()) return;
    auto text = [&](const char* key) {
      auto it = item.find(key);
      return it != item.end() && it->is_string() ? SharedText::interned(it->get_ref<const std::string&>()) : SharedText();
    };
    Condition c;
    c.type = item.value("type", "");
    c.status = item.value("status", "");
    c.observedGeneration = item.value("observedGeneration", std::int64_t{0});
    c.lastTransitionTime = text("lastTransitionTime");
    c.reason = text("reason");
    c.message = text("message");
    out.push_back(std::move(c));
  });
  return out;
}

void decode_selector(ObjectReader& parent, const std::string& key, std::optional<LabelSelector>& out,
                     std::vector<FieldError>& errors) {
  ObjectReader r(parent.get(key), parent.at(key), errors);
  if (!r.present()) return;
  LabelSelector sel;
  sel.matchLabels = r.string_map("matchLabels");
  r.list("matchExpressions", [&](const json& item, const std::string& path) {
    ObjectReader e(&item, path, errors);
    LabelSelectorRequirement req;
    req.key = e.string("key", true).value_or("");
    req.op = e.string("operator", true).value_or("");
    req.values = string_list(e, "values");
    sel.matchExpressions.push_back(std::move(req));
  });
  out = std::move(sel);
}

// Reads apiVersion/kind and checks they name `kind` of this API.
void decode_type_meta(ObjectReader& r, const char* kind) {
  auto apiVersion = r.string("apiVersion", true);
  auto k = r.string("kind", true);
  if (apiVersion && *apiVersion != kApiVersion) {
    r.fail("apiVersion", "is \"" + *apiVersion + "\"; this version of plano-operator serves " +
                             std::string(kApiVersion));
  }
  if (k && *k != kind) r.fail("kind", "is \"" + *k + "\", expected " + kind);
}

}  // namespace

const char* to_string(NamespacesFrom from) {
  switch (from) {
    case NamespacesFrom::Same: return "Same";
    case NamespacesFrom::All: return "All";
    case NamespacesFrom::Selector: return "Selector";
  }
  return "";
}

const char* to_string(StateStorageType type) { return type == StateStorageType::Memory ? "Memory" : "Postgres"; }

const char* to_string(RateLimitUnit unit) {
  switch (unit) {
    case RateLimitUnit::Second: return "second";
    case RateLimitUnit::Minute: return "minute";
    case RateLimitUnit::Hour: return "hour";
    case RateLimitUnit::Day: return "day";
  }
  return "";
}

const char* to_string(SelectionPreference prefer) {
  switch (prefer) {
    case SelectionPreference::None: return "None";
    case SelectionPreference::Cheapest: return "Cheapest";
    case SelectionPreference::Fastest: return "Fastest";
  }
  return "";
}

const char* to_string(AuthMode mode) {
  return mode == AuthMode::Passthrough ? "Passthrough" : "AccessKey";
}

TypeMeta type_meta(const json& body) {
  TypeMeta t;
  if (!body.is_object()) return t;
  if (auto it = body.find("apiVersion"); it != body.end() && it->is_string()) t.apiVersion = *it;
  if (auto it = body.find("kind"); it != body.end() && it->is_string()) t.kind = *it;
  return t;
}

Decoded<PlanoGateway> decode_gateway(const json& body) {
  Decoded<PlanoGateway> out;
  PlanoGateway gw;
  {
    ObjectReader top(&body, "", out.errors);
    decode_type_meta(top, kGatewayKind);
    decode_metadata(top, gw.metadata, out.errors);
    ObjectReader spec(top.get("spec"), "spec", out.errors);
    if (!spec.present()) top.fail("spec", "is required (at least spec.listeners)");
    if (auto v = spec.string("configVersion")) {
      if (*v != "v0.3.0" && *v != "v0.4.0") {
        spec.fail("spec.configVersion", "is \"" + *v + "\"; use v0.4.0 (or v0.3.0, which Plano images migrate to v0.4.0)");
      }
      gw.spec.configVersion = *v;
    }
    if (spec.present() && !spec.get("listeners")) spec.fail("spec.listeners", "is required: add one listener of type model, e.g. {name: llm, type: model, port: 12000}");
    spec.list("listeners", [&](const json& item, const std::string& path) {
      ObjectReader l(&item, path, out.errors);
      Listener listener;
      listener.name = l.string("name", true).value_or("");
      listener.type = l.string("type", true).value_or("");
      listener.port = l.integer("port", true).value_or(0);
      listener.address = l.string("address");
      listener.timeout = l.string("timeout");
      gw.spec.listeners.push_back(std::move(listener));
    });
    {
      ObjectReader allowed(spec.get("allowedProviders"), "spec.allowedProviders", out.errors);
      {
        ObjectReader ns(allowed.get("namespaces"), "spec.allowedProviders.namespaces", out.errors);
        if (auto from = ns.string("from")) {
          if (*from == "Same") gw.spec.allowedProviders.from = NamespacesFrom::Same;
          else if (*from == "All") gw.spec.allowedProviders.from = NamespacesFrom::All;
          else if (*from == "Selector") gw.spec.allowedProviders.from = NamespacesFrom::Selector;
          else ns.fail(ns.at("from"), "is \"" + *from + "\"; use Same, All or Selector");
        }
        decode_selector(ns, "selector", gw.spec.allowedProviders.selector, out.errors);
      }
      gw.spec.allowedProviders.maxProvidersPerNamespace =
          allowed.integer("maxProvidersPerNamespace").value_or(gw.spec.allowedProviders.maxProvidersPerNamespace);
      if (allowed.get("authModes")) {
        gw.spec.allowedProviders.authModes.clear();
        for (const auto& mode : string_list(allowed, "authModes")) {
          if (mode == "Passthrough") gw.spec.allowedProviders.authModes.push_back(AuthMode::Passthrough);
          else if (mode == "AccessKey") gw.spec.allowedProviders.authModes.push_back(AuthMode::AccessKey);
          else allowed.fail(allowed.at("authModes"), "has \"" + mode + "\"; use Passthrough or AccessKey");
        }
      }
    }
    {
      auto& d = gw.spec.deployment;
      ObjectReader dep(spec.get("deployment"), "spec.deployment", out.errors);
      d.image = dep.string("image").value_or(kDefaultPlanoImage);
      d.replicas = dep.integer("replicas").value_or(1);
      {
        ObjectReader res(dep.get("resources"), "spec.deployment.resources", out.errors);
        auto quantities = [&](const std::string& key) {
          std::map<std::string, std::string> q;
          ObjectReader m(res.get(key), res.at(key), out.errors);
          if (!m.present()) return q;
          for (const auto& [name, value] : res.get(key)->items()) {
            m.get(name);
            if (value.is_string()) {
              q[name] = value.get<std::string>();
            } else if (value.is_number_integer()) {
              q[name] = value.dump();
            } else if (value.is_number()) {
              // The CRD takes an integer or a string (int-or-string), so a fraction must be quoted.
              m.fail(m.at(name), "is the number " + value.dump() + ", but a quantity must be an integer or a string: write \"" +
                                     value.dump() + "\"");
            } else {
              m.fail(m.at(name), "must be a quantity such as \"500m\" or \"256Mi\"");
            }
          }
          return q;
        };
        if (res.present()) {
          d.resourceLimits = quantities("limits");
          d.resourceRequests = quantities("requests");
        } else {
          d.resourceLimits = kDefaultResourceLimits;
          d.resourceRequests = kDefaultResourceRequests;
        }
      }
      d.nodeSelector = dep.string_map("nodeSelector");
      dep.list("tolerations", [&](const json& item, const std::string& path) {
        ObjectReader t(&item, path, out.errors);
        Toleration tol;
        tol.key = t.string("key").value_or("");
        tol.op = t.string("operator").value_or("");
        tol.value = t.string("value").value_or("");
        tol.effect = t.string("effect").value_or("");
        tol.tolerationSeconds = t.integer("tolerationSeconds");
        d.tolerations.push_back(std::move(tol));
      });
      d.podAnnotations = dep.string_map("podAnnotations");
      d.serviceType = dep.string("serviceType").value_or("ClusterIP");
      d.minRolloutInterval = dep.string("minRolloutInterval").value_or(d.minRolloutInterval);
      d.terminationGracePeriodSeconds = dep.integer("terminationGracePeriodSeconds");
      d.maxSurge = dep.integer("maxSurge").value_or(d.maxSurge);
      d.podDisruptionBudget = dep.boolean("podDisruptionBudget").value_or(d.podDisruptionBudget);
      d.logVolumeSize = dep.string("logVolumeSize").value_or(d.logVolumeSize);
    }
    {
      ObjectReader policy(spec.get("networkPolicy"), "spec.networkPolicy", out.errors);
      gw.spec.networkPolicy.enabled = policy.boolean("enabled").value_or(true);
      decode_selector(policy, "clientNamespaces", gw.spec.networkPolicy.clientNamespaces, out.errors);
    }
    {
      ObjectReader tracing(spec.get("tracing"), "spec.tracing", out.errors);
      if (tracing.present()) {
        GatewayTracing t;
        t.endpoint = tracing.string("endpoint", true).value_or("");
        t.samplingPercent = tracing.integer("samplingPercent").value_or(t.samplingPercent);
        t.traceInternal = tracing.boolean("traceInternal");
        ObjectReader attributes(tracing.get("spanAttributes"), "spec.tracing.spanAttributes", out.errors);
        t.headerPrefixes = string_list(attributes, "headerPrefixes");
        t.staticAttributes = attributes.string_map("static");
        gw.spec.tracing = std::move(t);
      }
    }
    {
      ObjectReader storage(spec.get("stateStorage"), "spec.stateStorage", out.errors);
      if (storage.present()) {
        GatewayStateStorage s;
        if (auto type = storage.string("type", true)) {
          if (*type == "Postgres") s.type = StateStorageType::Postgres;
          else if (*type != "Memory") storage.fail(storage.at("type"), "is \"" + *type + "\"; use Memory or Postgres");
        }
        ObjectReader ref(storage.get("connectionStringSecretRef"), "spec.stateStorage.connectionStringSecretRef", out.errors);
        if (ref.present()) s.connectionStringSecretRef = SecretKeyRef{ref.string("name", true).value_or(""), ref.string("key", true).value_or("")};
        gw.spec.stateStorage = std::move(s);
      }
    }
    spec.list("rateLimits", [&](const json& item, const std::string& path) {
      ObjectReader entry(&item, path, out.errors);
      GatewayRateLimit limit;
      limit.model = entry.string("model", true).value_or("");
      ObjectReader selector(entry.get("selector"), path + ".selector", out.errors);
      if (!selector.present()) entry.fail(entry.at("selector"), "is required: {key: <header name>, value: <header value>}");
      limit.selectorKey = selector.string("key", true).value_or("");
      limit.selectorValue = selector.string("value", true).value_or("");
      ObjectReader budget(entry.get("limit"), path + ".limit", out.errors);
      if (!budget.present()) entry.fail(entry.at("limit"), "is required: {tokens: <count>, unit: second|minute|hour|day}");
      limit.tokens = budget.integer("tokens", true).value_or(0);
      if (auto unit = budget.string("unit", true)) {
        const std::map<std::string, RateLimitUnit> units = {{"second", RateLimitUnit::Second}, {"minute", RateLimitUnit::Minute},
                                                            {"hour", RateLimitUnit::Hour}, {"day", RateLimitUnit::Day}};
        if (auto it = units.find(*unit); it != units.end()) limit.unit = it->second;
        else budget.fail(budget.at("unit"), "is \"" + *unit + "\"; use second, minute, hour or day");
      }
      gw.spec.rateLimits.push_back(std::move(limit));
    });
    {
      ObjectReader routing(spec.get("routing"), "spec.routing", out.errors);
      if (routing.present()) {
        GatewayRouting r;
        ObjectReader ref(routing.get("modelProviderRef"), "spec.routing.modelProviderRef", out.errors);
        if (!ref.present()) routing.fail(routing.at("modelProviderRef"), "is required: {name, namespace} of the ModelProvider that decides routing");
        r.modelProviderRef.name = ref.string("name", true).value_or("");
        r.modelProviderRef.namespace_ = ref.string("namespace");
        r.contextLength = routing.integer("contextLength");
        gw.spec.routing = std::move(r);
      }
    }
    {
      ObjectReader metrics(spec.get("modelMetrics"), "spec.modelMetrics", out.errors);
      if (metrics.present()) {
        GatewayModelMetrics m;
        ObjectReader cost(metrics.get("cost"), "spec.modelMetrics.cost", out.errors);
        if (cost.present()) {
          GatewayCostMetrics c;
          c.provider = cost.string("provider", true).value_or("");
          c.url = cost.string("url");
          c.refreshIntervalSeconds = cost.integer("refreshIntervalSeconds");
          c.modelAliases = cost.string_map("modelAliases");
          m.cost = std::move(c);
        }
        ObjectReader latency(metrics.get("latency"), "spec.modelMetrics.latency", out.errors);
        if (latency.present()) {
          GatewayLatencyMetrics l;
          l.url = latency.string("url", true).value_or("");
          l.query = latency.string("query", true).value_or("");
          l.refreshIntervalSeconds = latency.integer("refreshIntervalSeconds");
          m.latency = std::move(l);
        }
        gw.spec.modelMetrics = std::move(m);
      }
    }
    ObjectReader status(top.get("status"), "status", out.errors);
    gw.status.observedGeneration = status.integer("observedGeneration").value_or(0);
    gw.status.conditions = decode_conditions(status);
    gw.status.attachedProviders = status.integer("attachedProviders").value_or(0);
    gw.status.acceptedProviders = status.integer("acceptedProviders").value_or(0);
    gw.status.configHash = status.string("configHash").value_or("");
  }
  out.object = std::move(gw);
  return out;
}

namespace {

ModelProviderStatus read_provider_status(ObjectReader& status) {
  ModelProviderStatus out;
  out.observedGeneration = status.integer("observedGeneration").value_or(0);
  out.conditions = decode_conditions(status);
  return out;
}

}  // namespace

ModelProviderStatus decode_provider_status(const json& status) {
  std::vector<FieldError> ignored;  // the operator's own writes: status_json's output
  ObjectReader reader(&status, "status", ignored);
  return read_provider_status(reader);
}

Decoded<ModelProvider> decode_provider(const json& body) {
  Decoded<ModelProvider> out;
  ModelProvider mp;
  {
    ObjectReader top(&body, "", out.errors);
    decode_type_meta(top, kProviderKind);
    decode_metadata(top, mp.metadata, out.errors);
    ObjectReader spec(top.get("spec"), "spec", out.errors);
    if (!spec.present()) top.fail("spec", "is required (at least spec.gatewayRef and spec.model)");
    {
      ObjectReader ref(spec.get("gatewayRef"), "spec.gatewayRef", out.errors);
      if (!ref.present() && spec.present()) spec.fail("spec.gatewayRef", "is required: name the PlanoGateway to attach to, e.g. {name: shared, namespace: platform}");
      mp.spec.gatewayRef.name = ref.string("name", true).value_or("");
      mp.spec.gatewayRef.namespace_ = ref.string("namespace");
    }
    mp.spec.model = spec.string("model", spec.present()).value_or("");
    mp.spec.name = spec.string("name");
    mp.spec.baseURL = spec.string("baseURL");
    mp.spec.providerInterface = spec.string("providerInterface");
    mp.spec.passthroughAuth = spec.boolean("passthroughAuth");
    {
      ObjectReader ref(spec.get("accessKeySecretRef"), "spec.accessKeySecretRef", out.errors);
      if (ref.present()) {
        SecretKeyRef key;
        key.name = ref.string("name", true).value_or("");
        key.key = ref.string("key", true).value_or("");
        mp.spec.accessKeySecretRef = std::move(key);
      }
    }
    mp.spec.default_ = spec.boolean("default");
    spec.list("routingPreferences", [&](const json& item, const std::string& path) {
      ObjectReader p(&item, path, out.errors);
      RoutingPreference pref;
      pref.name = p.string("name", true).value_or("");
      pref.description = p.string("description", true).value_or("");
      if (auto prefer = p.string("prefer")) {
        const std::map<std::string, SelectionPreference> preferences = {
            {"None", SelectionPreference::None}, {"Cheapest", SelectionPreference::Cheapest}, {"Fastest", SelectionPreference::Fastest}};
        if (auto it = preferences.find(*prefer); it != preferences.end()) pref.prefer = it->second;
        else p.fail(p.at("prefer"), "is \"" + *prefer + "\"; use Cheapest, Fastest or None");
      }
      mp.spec.routingPreferences.push_back(std::move(pref));
    });
    mp.spec.headers = spec.string_map("headers");
    mp.spec.httpHost = spec.string("httpHost");
    mp.spec.aliases = string_list(spec, "aliases");
    ObjectReader status(top.get("status"), "status", out.errors);
    mp.status = read_provider_status(status);
  }
  out.object = std::move(mp);
  return out;
}

}  // namespace plano::api
