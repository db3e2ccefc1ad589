#include "core/render/renderer.h"

#include <openssl/evp.h>

#include <algorithm>
#include <cctype>
#include <map>
#include <regex>
#include <tuple>
#include <stdexcept>
#include <string_view>

#include "core/render/yaml_text.h"
#include "core/rules/evaluation.h"
#include "core/rules/object_rules.h"

namespace plano::render {
namespace {

using api::ModelProvider;

std::string env_token(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  for (unsigned char c : s) out += std::isalnum(c) ? static_cast<char>(std::toupper(c)) : '_';
  return out;
}

// Block-style YAML in the layout the renderer has always written (yaml-cpp's, indent 2): a mapping
// entry at column c; the first entry of a sequence item carries "- " at c - 2.
class ConfigWriter {
 public:
  explicit ConfigWriter(std::string& out) : out_(out) {}

  // Each line of `text` as a comment line; CR and CRLF end a line too, as YAML readers see them.
  void comment(std::string_view text) {
    out_ += "# ";
    for (std::size_t i = 0; i < text.size(); ++i) {
      const char c = text[i];
      if (c == '\r' || c == '\n') {
        if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') ++i;
        out_ += "\n# ";
      } else {
        out_ += c;
      }
    }
    out_ += '\n';
  }

  // The next key written starts a sequence item.
  void item() { item_ = true; }

  // "name:" for the renderer's own key names, plain words; the value or a block follows.
  void key(int column, const char* name) {
    indent(column);
    out_ += name;
    out_ += ':';
  }

  void quoted(int column, const char* name, std::string_view value) {
    key(column, name);
    quoted_value(value);
  }

  // An entry whose key a tenant chose (a header name): in the style yaml-cpp gave such a key,
  // and in the explicit form "? key\n: value" when long.
  void quoted_with_tenant_key(int column, std::string_view key, std::string_view value) {
    tenant_key(column, key);
    quoted_value(value);
  }

  // The same for a key whose value is the block on the following lines (an alias).
  void block_with_tenant_key(int column, std::string_view key) {
    tenant_key(column, key);
    out_ += '\n';
  }

  // A value that yaml-cpp chose the style of: plain when it reads back as itself.
  void scalar(int column, const char* name, std::string_view value) {
    key(column, name);
    out_ += ' ';
    yaml::append_scalar(out_, value);
    out_ += '\n';
  }

  void literal(int column, const char* name, std::string_view yaml_text) {
    key(column, name);
    out_ += ' ';
    out_ += yaml_text;
    out_ += '\n';
  }

  // A key whose value is the block on the following lines.
  void block(int column, const char* name) {
    key(column, name);
    out_ += '\n';
  }

  void quoted_item(int column, std::string_view value) {
    out_.append(column, ' ');
    out_ += "- ";
    yaml::append_double_quoted(out_, value);
    out_ += '\n';
  }

  void empty_sequence(int column) {
    out_.append(column, ' ');
    out_ += "[]\n";
  }

 private:
  void quoted_value(std::string_view value) {
    out_ += ' ';
    yaml::append_double_quoted(out_, value);
    out_ += '\n';
  }

  void tenant_key(int column, std::string_view key) {
    indent(column);
    if (key.size() > yaml::kMaxSimpleKeyBytes) {
      out_ += "? ";
      yaml::append_scalar(out_, key);
      out_ += '\n';
      indent(column);
    } else {
      yaml::append_scalar(out_, key);
    }
    out_ += ':';
  }

  void indent(int column) {
    if (item_) {
      out_.append(column - 2, ' ');
      out_ += "- ";
      item_ = false;
    } else {
      out_.append(column, ' ');
    }
  }

  std::string& out_;
  bool item_ = false;
};

// One model_providers item at column 4; `access_key_variable` is empty when the provider has none.
void write_provider(ConfigWriter& w, const ModelProvider& mp, const std::string& access_key_variable,
                    bool inline_preferences) {
  const auto& s = mp.spec;
  w.item();
  w.quoted(4, "name", mp.planoName());
  w.quoted(4, "model", s.model);
  if (mp.isDefault()) w.literal(4, "default", "true");
  if (s.baseURL) w.quoted(4, "base_url", *s.baseURL);
  if (s.providerInterface) w.quoted(4, "provider_interface", *s.providerInterface);
  if (!access_key_variable.empty()) w.quoted(4, "access_key", "$" + access_key_variable);
  if (mp.usesPassthrough()) w.literal(4, "passthrough_auth", "true");
  if (s.httpHost) w.quoted(4, "http_host", *s.httpHost);
  if (!s.headers.empty()) {
    w.block(4, "headers");
    for (const auto& [k, v] : s.headers) w.quoted_with_tenant_key(6, k, v);  // std::map: sorted
  }
  if (inline_preferences && !s.routingPreferences.empty()) {
    w.block(4, "routing_preferences");
    for (const auto& p : s.routingPreferences) {
      w.item();
      w.quoted(8, "name", p.name);
      w.quoted(8, "description", p.description);
    }
  }
}

void write_tracing(ConfigWriter& w, const api::GatewayTracing& t) {
  w.block(0, "tracing");
  w.literal(2, "random_sampling", std::to_string(t.samplingPercent));
  if (t.traceInternal) w.literal(2, "trace_arch_internal", *t.traceInternal ? "true" : "false");
  w.quoted(2, "opentracing_grpc_endpoint", t.endpoint);
  if (t.headerPrefixes.empty() && t.staticAttributes.empty()) return;
  w.block(2, "span_attributes");
  if (!t.headerPrefixes.empty()) w.block(4, "header_prefixes");
  for (const auto& prefix : t.headerPrefixes) w.quoted_item(6, prefix);
  if (!t.staticAttributes.empty()) w.block(4, "static");
  for (const auto& [name, value] : t.staticAttributes) w.quoted_with_tenant_key(6, name, value);  // std::map: sorted
}

// Plano's ratelimits, in the gateway's order; each model as the model_id Plano's filter compares.
void write_rate_limits(ConfigWriter& w, const std::vector<api::GatewayRateLimit>& limits) {
  if (limits.empty()) return;
  w.block(0, "ratelimits");
  for (const auto& l : limits) {
    w.item();
    w.quoted(4, "model", rules::model_id_of(l.model));
    w.block(4, "selector");
    w.quoted(6, "key", l.selectorKey);
    w.quoted(6, "value", l.selectorValue);
    w.block(4, "limit");
    w.literal(6, "tokens", std::to_string(l.tokens));
    w.scalar(6, "unit", api::to_string(l.unit));
  }
}

// Plano's selection_policy.prefer spelling; None is Plano's default and is not written.
const char* plano_prefer(api::SelectionPreference prefer) {
  return prefer == api::SelectionPreference::Cheapest ? "cheapest" : "fastest";
}

// Top-level routing_preferences by name, each with the models of every provider naming it (one
// namespace's, agreeing on description and prefer: rules::Claims), sorted.
void write_preferences(ConfigWriter& w, const std::vector<const ModelProvider*>& providers) {
  struct Preference {
    const api::RoutingPreference* first = nullptr;  // views into the providers, which outlive the map
    std::vector<std::string_view> models;
  };
  std::map<std::string_view, Preference> prefs;
  for (const auto* mp : providers) {
    for (const auto& p : mp->spec.routingPreferences) {
      auto& pref = prefs[p.name];
      if (!pref.first) pref.first = &p;
      pref.models.push_back(mp->spec.model);
    }
  }
  if (!prefs.empty()) w.block(0, "routing_preferences");
  for (auto& [name, pref] : prefs) {
    std::sort(pref.models.begin(), pref.models.end());
    w.item();
    w.quoted(4, "name", name);
    w.quoted(4, "description", pref.first->description);
    w.block(4, "models");
    for (const auto& model : pref.models) w.quoted_item(6, model);
    if (pref.first->prefer != api::SelectionPreference::None) {
      w.block(4, "selection_policy");
      w.scalar(6, "prefer", plano_prefer(pref.first->prefer));
    }
  }
}

// Plano's model_metrics_sources: the cost catalog, then the latency query.
void write_model_metrics(ConfigWriter& w, const api::GatewayModelMetrics& m) {
  w.block(0, "model_metrics_sources");
  if (const auto& cost = m.cost) {
    w.item();
    w.scalar(4, "type", "cost");
    w.quoted(4, "provider", cost->provider);
    if (cost->url) w.quoted(4, "url", *cost->url);
    if (cost->refreshIntervalSeconds) w.literal(4, "refresh_interval", std::to_string(*cost->refreshIntervalSeconds));
    if (!cost->modelAliases.empty()) w.block(4, "model_aliases");
    for (const auto& [key, model] : cost->modelAliases) w.quoted_with_tenant_key(6, key, model);  // std::map: sorted
  }
  if (const auto& latency = m.latency) {
    w.item();
    w.scalar(4, "type", "latency");
    w.scalar(4, "provider", "prometheus");
    w.quoted(4, "url", latency->url);
    w.quoted(4, "query", latency->query);
    if (latency->refreshIntervalSeconds) w.literal(4, "refresh_interval", std::to_string(*latency->refreshIntervalSeconds));
  }
}

// Bytes of config per provider, roughly: enough that the output buffer rarely grows.
constexpr std::size_t kConfigBytesPerProvider = 256;

}  // namespace

std::string sha256_hex(const std::string& data) {
  // Fetched once: EVP_sha256() makes OpenSSL 3 look the algorithm up again on every digest,
  // which cost more than the digest itself (a key variable per provider in each render).
  static EVP_MD* const sha256 = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (!sha256 || EVP_Digest(data.data(), data.size(), digest, &len, sha256, nullptr) != 1) {
    throw std::runtime_error("SHA-256 failed");
  }
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (unsigned int i = 0; i < len; ++i) {
    out += hex[digest[i] >> 4];
    out += hex[digest[i] & 0xf];
  }
  return out;
}

std::string key_variable(std::size_t n, const std::string& ns, const std::string& secret, const std::string& key) {
  // A Secret's data keys (the keys Secret holds these names) are at most 253 characters.
  constexpr std::size_t kMaxReadablePart = 200;
  return "PLANO_KEY_" + std::to_string(n) + "_" +
         env_token(ns + "_" + secret + "_" + key).substr(0, kMaxReadablePart);
}

std::optional<std::string> key_value_problem(std::string_view value) {
  constexpr std::size_t kMaxKeyBytes = 16 * 1024;
  if (value.empty()) return "is empty";
  if (value.size() > kMaxKeyBytes) return "is longer than " + std::to_string(kMaxKeyBytes) + " bytes";
  static constexpr std::string_view kSymbols = "-._~+/=";
  for (char c : value) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && kSymbols.find(c) == std::string_view::npos) {
      return "holds a character other than letters, digits and -._~+/=, which Plano's start-up would paste "
             "unquoted into its YAML config (envsubst), breaking or changing it";
    }
  }
  // What YAML 1.1 (PyYAML) or 1.2 reads as another type: numbers in any base or notation, .inf and
  // .nan, dates, booleans, null, and PyYAML's "=" value tag; "-" alone would start a list.
  static const std::regex other_type(
      "[-+]?[0-9._]*([eE][-+]?[0-9]+)?|[-+]?0[xXoObB][0-9a-fA-F_]+|[-+]?\\.(inf|Inf|INF|nan|NaN|NAN)|"
      "[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}|[yY]|[nN]|[yY][eE][sS]|[nN][oO]|[oO][nN]|[oO][fF][fF]|"
      "[tT][rR][uU][eE]|[fF][aA][lL][sS][eE]|[nN][uU][lL][lL]|~|=|-");
  if (std::regex_match(value.begin(), value.end(), other_type)) {
    return "reads as a number, boolean, null or date once Plano's start-up pastes it unquoted into its YAML config";
  }
  return std::nullopt;
}

std::optional<std::string> connection_string_problem(std::string_view value) {
  constexpr std::size_t kMaxConnectionStringBytes = 4096;
  if (value.empty()) return "is empty";
  if (value.size() > kMaxConnectionStringBytes) return "is longer than " + std::to_string(kMaxConnectionStringBytes) + " bytes";
  if (value.rfind("postgres://", 0) != 0 && value.rfind("postgresql://", 0) != 0) {
    return "is not a postgres:// or postgresql:// URI (Plano connects with it as written)";
  }
  static constexpr std::string_view kSymbols = "-._~%!&'()*+,;=:@/?";
  for (char c : value) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && kSymbols.find(c) == std::string_view::npos) {
      return "holds a character other than letters, digits and -._~%!&'()*+,;=:@/?, which Plano's start-up would paste "
             "unquoted into its YAML config (envsubst), breaking or changing it; percent-encode it";
    }
  }
  // A plain YAML scalar cannot end in ':', which would start a mapping value.
  if (value.back() == ':') return "ends in ':', which YAML would read as the start of a mapping once Plano's start-up pastes it; remove it";
  return std::nullopt;
}

RenderResult render(const api::PlanoGateway& gw, const std::vector<const ModelProvider*>& accepted) {
  std::vector<const ModelProvider*> providers(accepted);
  std::sort(providers.begin(), providers.end(), [](const ModelProvider* a, const ModelProvider* b) {
    return std::tie(a->metadata.namespace_, a->metadata.name) < std::tie(b->metadata.namespace_, b->metadata.name);
  });
  // v0.4.0 lists routing preferences at the top level; v0.3.0 keeps them inline (Plano moves them).
  const bool top_level_preferences = gw.spec.configVersion != "v0.3.0";

  RenderResult out;
  out.config.reserve(kConfigBytesPerProvider * (providers.size() + 1));
  ConfigWriter w(out.config);
  w.comment("Rendered by plano-operator from PlanoGateway " + api::key_of(gw.metadata) + ". Edits are overwritten.");
  w.scalar(0, "version", gw.spec.configVersion);
  w.block(0, "listeners");
  if (gw.spec.listeners.empty()) w.empty_sequence(2);
  for (const auto& l : gw.spec.listeners) {
    w.item();
    w.quoted(4, "name", l.name);
    w.scalar(4, "type", l.type);
    w.literal(4, "port", std::to_string(l.port));
    w.quoted(4, "address", l.address.value_or("0.0.0.0"));
    if (l.timeout) w.quoted(4, "timeout", *l.timeout);
  }
  // Each distinct namespace/Secret/key gets its number in sorted order; providers sharing one share
  // its variable.
  std::map<std::tuple<std::string_view, std::string_view, std::string_view>, std::string> variables;
  for (const auto* mp : providers) {
    if (const auto& ref = mp->spec.accessKeySecretRef) variables.try_emplace({mp->metadata.namespace_, ref->name, ref->key});
  }
  const auto& storage = gw.spec.stateStorage;
  const auto* connection = storage && storage->type == api::StateStorageType::Postgres && storage->connectionStringSecretRef
                               ? &*storage->connectionStringSecretRef : nullptr;
  if (connection) variables.try_emplace({gw.metadata.namespace_, connection->name, connection->key});
  for (auto& [ref, variable] : variables) {
    const auto& [ns, secret, key] = ref;
    variable = key_variable(out.keys.size() + 1, std::string(ns), std::string(secret), std::string(key));
    out.keys.push_back(KeyBinding{variable, std::string(ns), std::string(secret), std::string(key)});
  }
  if (!providers.empty()) w.block(0, "model_providers");
  for (const auto* mp : providers) {
    const auto& ref = mp->spec.accessKeySecretRef;
    write_provider(w, *mp, ref ? variables.at({mp->metadata.namespace_, ref->name, ref->key}) : std::string(),
                   !top_level_preferences);
  }
  if (top_level_preferences) write_preferences(w, providers);
  // alias -> the model it targets (Plano checks the target is a configured model).
  std::map<std::string_view, std::string_view> aliases;
  for (const auto* mp : providers) {
    for (const auto& alias : mp->spec.aliases) aliases.emplace(alias, mp->spec.model);
  }
  if (!aliases.empty()) w.block(0, "model_aliases");
  for (const auto& [alias, model] : aliases) {
    w.block_with_tenant_key(2, alias);
    w.quoted(4, "target", model);
  }
  if (gw.spec.tracing) write_tracing(w, *gw.spec.tracing);
  if (storage) {
    w.block(0, "state_storage");
    w.scalar(2, "type", storage->type == api::StateStorageType::Postgres ? "postgres" : "memory");
    if (connection) w.quoted(2, "connection_string", "$" + variables.at({gw.metadata.namespace_, connection->name, connection->key}));
  }
  write_rate_limits(w, gw.spec.rateLimits);
  if (gw.spec.modelMetrics && top_level_preferences) write_model_metrics(w, *gw.spec.modelMetrics);
  // Written only for a provider rendered here: callers render nothing without it
  // (rules::routing_model_problem), since Plano would then add its hosted router.
  if (const auto* router = rules::routing_provider(gw, providers)) {
    w.block(0, "overrides");
    w.quoted(2, "llm_routing_model", router->spec.model);
    if (const auto& length = gw.spec.routing->contextLength) w.literal(2, "orchestrator_model_context_length", std::to_string(*length));
  }
  return out;
}

}  // namespace plano::render
