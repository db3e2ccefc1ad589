#include "core/rules/evaluation.h"

#include <algorithm>

#include "core/rules/base_url.h"
#include "core/rules/label_selector.h"
#include "core/rules/object_rules.h"
#include "core/rules/plano_catalog.h"

namespace plano::rules {
namespace {

using api::ModelProvider;
using api::PlanoGateway;

std::string gateway_name(const PlanoGateway& gw) { return api::key_of(gw.metadata); }

ProviderVerdict refuse(const ModelProvider* mp, Reason reason, std::string field, std::string message,
                       const ModelProvider* winner = nullptr) {
  ProviderVerdict v{mp, reason, std::move(field), std::move(message), std::nullopt};
  if (winner) v.winner = ref_of(*winner);
  return v;
}

std::optional<ProviderVerdict> check_policy(const PlanoGateway& gw, const ModelProvider& mp,
                                            const NamespaceLabels& namespace_labels) {
  const auto& allowed = gw.spec.allowedProviders;
  const auto& ns = mp.metadata.namespace_;
  const auto gw_name = gateway_name(gw);
  switch (allowed.from) {
    case api::NamespacesFrom::Same:
      if (ns != gw.metadata.namespace_) {
        return refuse(&mp, Reason::NotAllowedByGateway, "spec.gatewayRef",
                      "gateway " + gw_name + " only accepts providers from its own namespace (" +
                          gw.metadata.namespace_ + "); ask its owners to allow namespace " + ns);
      }
      break;
    case api::NamespacesFrom::All:
      break;
    case api::NamespacesFrom::Selector: {
      auto labels = namespace_labels ? namespace_labels(ns) : std::nullopt;
      if (!labels) {
        return refuse(&mp, Reason::NotAllowedByGateway, "spec.gatewayRef",
                      "gateway " + gw_name + " admits namespaces by label, and the labels of namespace " + ns +
                          " are not known; include its Namespace object");
      }
      if (!allowed.selector || !matches(*allowed.selector, *labels)) {
        return refuse(&mp, Reason::NotAllowedByGateway, "spec.gatewayRef",
                      "namespace " + ns + " does not match the namespace selector of gateway " + gw_name +
                          "; ask its owners to label the namespace or widen the selector");
      }
      break;
    }
  }
  // Plano refuses to start when a preference prefers cheapest without a cost source (fastest without
  // a latency source): such a provider would stop the gateway for every tenant.
  const auto& metrics = gw.spec.modelMetrics;
  for (std::size_t i = 0; i < mp.spec.routingPreferences.size(); ++i) {
    const auto prefer = mp.spec.routingPreferences[i].prefer;
    const bool cheapest = prefer == api::SelectionPreference::Cheapest;
    if (prefer == api::SelectionPreference::None || (metrics && (cheapest ? metrics->cost.has_value() : metrics->latency.has_value()))) continue;
    const std::string source = cheapest ? "cost" : "latency";
    return refuse(&mp, Reason::NotAllowedByGateway, "spec.routingPreferences[" + std::to_string(i) + "].prefer",
                  "gateway " + gw_name + " has no " + source + " metrics (spec.modelMetrics." + source + "), without which Plano "
                  "refuses to start with prefer: " + api::to_string(prefer) + "; ask the gateway's owners for a " + source +
                  " source, or use prefer: None");
  }
  const auto mode = mp.usesPassthrough() ? api::AuthMode::Passthrough : api::AuthMode::AccessKey;
  const auto& modes = allowed.authModes;
  if (std::find(modes.begin(), modes.end(), mode) == modes.end()) {
    const bool passthrough = mode == api::AuthMode::Passthrough;
    return refuse(&mp, Reason::AuthModeNotAllowed, passthrough ? "spec.passthroughAuth" : "spec.accessKeySecretRef",
                  std::string("gateway ") + gw_name + " does not allow auth mode " + api::to_string(mode) +
                      (passthrough ? "; use accessKeySecretRef with a key of your own"
                                   : " (clients must bring their own keys there); remove accessKeySecretRef and set passthroughAuth: true"));
  }
  return std::nullopt;
}

// The upstream cluster Plano would build for this provider: provider_interface + "_" + host.
std::optional<std::pair<std::string, int>> upstream_of(const ModelProvider& mp) {
  if (!mp.spec.baseURL) return std::nullopt;
  auto url = parse_base_url(*mp.spec.baseURL);
  if (!url) return std::nullopt;
  const auto& model = mp.spec.model;
  std::string iface = mp.spec.providerInterface.value_or(model.substr(0, model.find('/')));
  return std::make_pair(iface + "_" + url->host, url->port);
}

// Whether `holder` is the provider being replaced, whose claims do not count.
bool is_replaced(const ModelProvider* holder, const ObjectRef* replaced) {
  return replaced && holder->metadata.name == replaced->name && holder->metadata.namespace_ == replaced->namespace_;
}

// Who holds `value` in `claims`, unless it is the provider being replaced.
const ModelProvider* holder_of(const std::map<std::string, const ModelProvider*>& claims, const std::string& value,
                               const ObjectRef* replaced) {
  auto it = claims.find(value);
  return it == claims.end() || is_replaced(it->second, replaced) ? nullptr : it->second;
}

bool is_wildcard(const std::string& model) { return model.size() >= 2 && model.compare(model.size() - 2, 2, "/*") == 0; }

std::optional<ProviderVerdict> check_conflicts(const PlanoGateway& gw, const ModelProvider& mp, const Claims& c,
                                               const ObjectRef* replaced) {
  const auto on = " on gateway " + gateway_name(gw);
  const auto& s = mp.spec;
  if (mp.isDefault() && c.defaultProvider && !is_replaced(c.defaultProvider, replaced)) {
    return refuse(&mp, Reason::Conflict, "spec.default",
                  "another provider is already the default" + on + "; a gateway has exactly one default: remove default: true",
                  c.defaultProvider);
  }
  if (const auto* holder = holder_of(c.names, mp.planoName(), replaced)) {
    return refuse(&mp, Reason::Conflict, s.name ? "spec.name" : "spec.model",
                  "provider name \"" + mp.planoName() + "\" is already used" + on + "; set a distinct spec.name", holder);
  }
  if (!is_wildcard(s.model)) {
    const auto model_id = s.model.substr(s.model.find('/') + 1);
    if (const auto* holder = holder_of(c.modelKeys, s.model, replaced)) {
      return refuse(&mp, Reason::Conflict, "spec.model", "model " + s.model + " is already served" + on +
                    "; each model may be offered once per gateway", holder);
    }
    if (const auto* holder = holder_of(c.modelKeys, model_id, replaced)) {
      return refuse(&mp, Reason::Conflict, "spec.model",
                    "model_id " + model_id + " is already served" + on +
                        " (Plano routes by model_id, so two providers cannot share one); use another gateway or model",
                    holder);
    }
  }
  // Plano resolves an alias before it looks a model up, so an alias hides any name, model or
  // model_id equal to it: they all share one set of names a client may send.
  std::vector<std::pair<std::string, std::string>> sent_names{{mp.planoName(), s.name ? "spec.name" : "spec.model"}};
  if (!is_wildcard(s.model)) {
    sent_names.emplace_back(s.model, "spec.model");
    sent_names.emplace_back(s.model.substr(s.model.find('/') + 1), "spec.model");
  }
  for (const auto& [value, field] : sent_names) {
    if (const auto* holder = holder_of(c.aliases, value, replaced)) {
      return refuse(&mp, Reason::Conflict, field, "\"" + value + "\" is already another provider's alias" + on +
                    " (clients sending it reach that provider); use another model or spec.name", holder);
    }
  }
  for (std::size_t i = 0; i < s.aliases.size(); ++i) {
    const auto& alias = s.aliases[i];
    for (const auto& [claims, what] : {std::pair{&c.aliases, "an alias"}, std::pair{&c.names, "a provider name"},
                                       std::pair{&c.modelKeys, "a model"}}) {
      if (const auto* holder = holder_of(*claims, alias, replaced)) {
        return refuse(&mp, Reason::Conflict, "spec.aliases[" + std::to_string(i) + "]",
                      "alias \"" + alias + "\" is already " + what + on + "; choose another alias", holder);
      }
    }
  }
  if (auto up = upstream_of(mp)) {
    if (auto it = c.upstreams.find(up->first); it != c.upstreams.end() && it->second.port != up->second) {
      const auto& holders = it->second.holders;
      auto holder = std::find_if(holders.begin(), holders.end(), [&](const ModelProvider* h) { return !is_replaced(h, replaced); });
      if (holder != holders.end()) {
        return refuse(&mp, Reason::Conflict, "spec.baseURL",
                      "another provider" + on + " reaches the same host with the same providerInterface on port " +
                          std::to_string(it->second.port) + "; Plano would merge them into one upstream and send this "
                          "provider's traffic to that port: use the same port, or a different host name",
                      *holder);
      }
    }
  }
  for (std::size_t i = 0; i < s.routingPreferences.size(); ++i) {
    const auto& mine = s.routingPreferences[i];
    const auto at = "spec.routingPreferences[" + std::to_string(i) + "]";
    const auto it = c.preferences.find(mine.name);
    if (it == c.preferences.end()) continue;
    const auto& holders = it->second.holders;
    const auto holder = std::find_if(holders.begin(), holders.end(), [&](const ModelProvider* h) { return !is_replaced(h, replaced); });
    if (holder == holders.end()) continue;
    if (it->second.namespace_ != mp.metadata.namespace_) {
      return refuse(&mp, Reason::Conflict, at + ".name", "routing preference \"" + mine.name + "\" is already defined" + on +
                    " by another namespace, whose requests it routes; choose another name", *holder);
    }
    // A provider changing a preference it shares is let through (else neither of two could change
    // it first); the newer of those that then disagree are refused until they follow.
    if (std::any_of(holders.begin(), holders.end(), [&](const ModelProvider* h) { return is_replaced(h, replaced); })) continue;
    const auto& theirs = *std::find_if((*holder)->spec.routingPreferences.begin(), (*holder)->spec.routingPreferences.end(),
                                       [&](const api::RoutingPreference& p) { return p.name == mine.name; });
    const bool same_description = theirs.description == mine.description;
    if (!same_description || theirs.prefer != mine.prefer) {
      return refuse(&mp, Reason::Conflict, at + (same_description ? ".prefer" : ".description"),
                    "routing preference \"" + mine.name + "\" is already defined" + on + " with another " +
                        (same_description ? "prefer (" + std::string(api::to_string(theirs.prefer)) + ")" : std::string("description")) +
                        "; providers sharing a preference share its " + (same_description ? "prefer" : "description") +
                        ": write the same, or choose another name",
                    *holder);
    }
  }
  return std::nullopt;
}

void claim(const ModelProvider& mp, Claims& c) {
  const auto& s = mp.spec;
  if (mp.isDefault()) c.defaultProvider = &mp;
  c.names.emplace(mp.planoName(), &mp);
  if (!is_wildcard(s.model)) {
    c.modelKeys.emplace(s.model, &mp);
    c.modelKeys.emplace(s.model.substr(s.model.find('/') + 1), &mp);
  }
  if (auto up = upstream_of(mp)) {
    auto& upstream = c.upstreams.try_emplace(up->first, Claims::Upstream{up->second, {}}).first->second;
    upstream.holders.push_back(&mp);
  }
  for (const auto& p : s.routingPreferences) {
    c.preferences.try_emplace(p.name, Claims::Preference{mp.metadata.namespace_, {}}).first->second.holders.push_back(&mp);
  }
  for (const auto& alias : s.aliases) c.aliases.emplace(alias, &mp);
  c.namespaces[mp.metadata.namespace_].insert(mp.metadata.name);
}

// A namespace's share of a gateway: its providers accepted before, the replaced version aside.
std::optional<ProviderVerdict> check_namespace_share(const PlanoGateway& gw, const ModelProvider& mp, const Claims& c,
                                                     const ObjectRef* replaced) {
  const auto limit = gw.spec.allowedProviders.maxProvidersPerNamespace;
  const auto it = c.namespaces.find(mp.metadata.namespace_);
  if (it == c.namespaces.end()) return std::nullopt;
  auto held = static_cast<std::int64_t>(it->second.size());
  if (replaced && replaced->namespace_ == mp.metadata.namespace_ && it->second.count(replaced->name)) --held;
  if (held < limit) return std::nullopt;
  return refuse(&mp, Reason::NotAllowedByGateway, "spec.gatewayRef",
                "gateway " + gateway_name(gw) + " takes at most " + std::to_string(limit) + " providers from each namespace "
                "(spec.allowedProviders.maxProvidersPerNamespace), and namespace " + mp.metadata.namespace_ +
                " has " + std::to_string(held) + " there already; remove one, or ask the gateway's owners for more");
}

Finding finding_of(const ProviderVerdict& v, Severity severity) {
  return Finding{severity, ref_of(*v.provider), v.field, describe(v)};
}

}  // namespace

const char* to_string(Reason r) {
  switch (r) {
    case Reason::Accepted: return "Accepted";
    case Reason::Invalid: return "Invalid";
    case Reason::GatewayNotFound: return "GatewayNotFound";
    case Reason::NotAllowedByGateway: return "NotAllowedByGateway";
    case Reason::AuthModeNotAllowed: return "AuthModeNotAllowed";
    case Reason::Conflict: return "Conflict";
  }
  return "";
}

std::string describe(const ProviderVerdict& v) {
  if (!v.winner) return v.message;
  return v.message + " (held by " + v.winner->describe() + ", which takes precedence: it serves, and was there first; ask its owners)";
}

bool older(const ModelProvider& a, const ModelProvider& b) {
  return std::tie(a.metadata.creationTimestamp, a.metadata.namespace_, a.metadata.name) <
         std::tie(b.metadata.creationTimestamp, b.metadata.namespace_, b.metadata.name);
}

void by_age(std::vector<const ModelProvider*>& providers) {
  std::stable_sort(providers.begin(), providers.end(), [](const ModelProvider* a, const ModelProvider* b) { return older(*a, *b); });
}

namespace {
// A condition's type and status that the rules look for.
struct ConditionValue {
  const char* type;
  const char* status;
};
constexpr ConditionValue kUnresolved{"ResolvedRefs", "False"};
constexpr ConditionValue kProgrammed{"Programmed", "True"};

bool is(const api::Condition& c, ConditionValue v) { return c.type == v.type && c.status == v.status; }
bool has_condition(const ModelProvider& mp, ConditionValue v) {
  return std::any_of(mp.status.conditions.begin(), mp.status.conditions.end(), [&](const api::Condition& c) { return is(c, v); });
}
}  // namespace

bool can_serve(const ModelProvider& mp) { return !has_condition(mp, kUnresolved); }
bool is_programmed(const ModelProvider& mp) { return has_condition(mp, kProgrammed); }
bool read_by_rules(const api::Condition& c) { return is(c, kUnresolved) || is(c, kProgrammed); }

void by_claim(std::vector<const ModelProvider*>& providers, const std::function<bool(const ModelProvider&)>& serves) {
  std::vector<std::pair<int, const ModelProvider*>> ranked;
  ranked.reserve(providers.size());
  for (const auto* mp : providers) ranked.emplace_back((serves(*mp) ? 0 : 2) + (is_programmed(*mp) ? 0 : 1), mp);
  std::stable_sort(ranked.begin(), ranked.end(), [](const auto& a, const auto& b) {
    return a.first != b.first ? a.first < b.first : older(*a.second, *b.second);
  });
  for (std::size_t i = 0; i < ranked.size(); ++i) providers[i] = ranked[i].second;
}

// The one place a provider is judged: evaluate judges each provider in turn with it.
Judgement judge_next(const ModelProvider& mp, const GatewayResult* gateway, const NamespaceLabels& namespace_labels,
                     const ObjectRef* replaced) {
  Judgement out{ProviderVerdict{&mp, Reason::Accepted, "", "", std::nullopt}, check_provider(mp)};
  auto& verdict = out.verdict;
  if (has_error(out.findings)) {
    verdict = refuse(&mp, Reason::Invalid, out.findings.front().field, "the provider breaks the rules above; fix them");
    return out;
  }
  if (!gateway) {
    verdict = refuse(&mp, Reason::GatewayNotFound, "spec.gatewayRef",
                     "PlanoGateway " + mp.gatewayNamespace() + "/" + mp.spec.gatewayRef.name + " does not exist (yet)");
    out.findings.push_back(finding_of(verdict, Severity::Warning));
  } else if (auto refused = check_policy(*gateway->gateway, mp, namespace_labels)) {
    verdict = std::move(*refused);
    out.findings.push_back(finding_of(verdict, Severity::Error));
  } else if (auto conflict = check_conflicts(*gateway->gateway, mp, gateway->claims, replaced)) {
    verdict = std::move(*conflict);
    out.findings.push_back(finding_of(verdict, Severity::Error));
  } else if (auto over = check_namespace_share(*gateway->gateway, mp, gateway->claims, replaced)) {
    verdict = std::move(*over);
    out.findings.push_back(finding_of(verdict, Severity::Error));
  }
  return out;
}

Evaluation evaluate(const std::vector<const PlanoGateway*>& gateways, const std::vector<const ModelProvider*>& providers,
                    const NamespaceLabels& namespace_labels) {
  Evaluation out;
  for (const auto* gw : gateways) {
    auto findings = check_gateway(*gw);
    GatewayResult result;
    result.gateway = gw;
    result.valid = !has_error(findings);
    out.findings.insert(out.findings.end(), findings.begin(), findings.end());
    out.gateways.emplace(gateway_name(*gw), std::move(result));
  }
  for (const auto* mp : providers) {
    auto gw_it = out.gateways.find(mp->gatewayNamespace() + "/" + mp->spec.gatewayRef.name);
    GatewayResult* gateway = gw_it == out.gateways.end() ? nullptr : &gw_it->second;
    auto judgement = judge_next(*mp, gateway, namespace_labels);
    out.findings.insert(out.findings.end(), std::make_move_iterator(judgement.findings.begin()),
                        std::make_move_iterator(judgement.findings.end()));
    if (gateway) {
      gateway->attached.push_back(mp);
      if (judgement.verdict.accepted()) {
        claim(*mp, gateway->claims);
        gateway->accepted.push_back(mp);
      } else if (judgement.verdict.reason == Reason::Conflict) {
        gateway->conflicts = true;
      }
    }
    out.providers.insert_or_assign(api::key_of(mp->metadata), std::move(judgement.verdict));
  }
  for (auto& [key, result] : out.gateways) {
    if (!result.accepted.empty() && !result.claims.defaultProvider) {
      out.findings.push_back(Finding{Severity::Warning, ref_of(*result.gateway), "spec",
                                     "no accepted provider is the default, so requests naming no known model fail; "
                                     "set default: true on exactly one provider"});
    }
    if (!result.valid) continue;
    if (auto problem = routing_model_problem(*result.gateway, result.accepted, out.providers)) {
      out.findings.push_back(Finding{Severity::Error, ref_of(*result.gateway), "spec.routing.modelProviderRef", std::move(*problem)});
    }
    auto limits = rate_limit_findings(*result.gateway, result.accepted);
    out.findings.insert(out.findings.end(), std::make_move_iterator(limits.begin()), std::make_move_iterator(limits.end()));
  }
  return out;
}

std::string routing_provider_key(const PlanoGateway& gw) {
  const auto& ref = gw.spec.routing->modelProviderRef;
  return ref.namespace_.value_or(gw.metadata.namespace_) + "/" + ref.name;
}

const ModelProvider* routing_provider(const PlanoGateway& gw, const std::vector<const ModelProvider*>& served) {
  if (!gw.spec.routing) return nullptr;
  const auto key = routing_provider_key(gw);
  const auto it = std::find_if(served.begin(), served.end(), [&](const ModelProvider* mp) { return api::key_of(mp->metadata) == key; });
  return it == served.end() ? nullptr : *it;
}

std::optional<std::string> routing_model_problem(const PlanoGateway& gw, const std::vector<const ModelProvider*>& served,
                                                 const std::map<std::string, ProviderVerdict>& verdicts) {
  if (!gw.spec.routing) return std::nullopt;
  const auto key = routing_provider_key(gw);
  const auto fix = "; every tenant's routed prompts would go to Plano's hosted router (archfc.katanemo.dev) instead: serve "
                   "that provider on this gateway, or change spec.routing";
  if (const auto* mp = routing_provider(gw, served)) {
    if (!is_wildcard(mp->spec.model)) return std::nullopt;
    return "ModelProvider " + key + " serves a wildcard model (" + mp->spec.model + "), which Plano cannot route with; name "
           "a provider of one concrete model";
  }
  const auto verdict = verdicts.find(key);
  const bool attached = verdict != verdicts.end() &&
                        verdict->second.provider->gatewayNamespace() + "/" + verdict->second.provider->spec.gatewayRef.name ==
                            gateway_name(gw);
  if (!attached) {
    return "no ModelProvider " + key + " attaches to this gateway (it does not exist, or its spec.gatewayRef names another "
           "gateway)" + fix;
  }
  if (!verdict->second.accepted()) return "ModelProvider " + key + " is refused: " + describe(verdict->second) + fix;
  return "ModelProvider " + key + " is accepted but not in the config (its key does not resolve, or the config is full: see "
         "its Programmed condition)" + fix;
}

std::vector<Finding> rate_limit_findings(const PlanoGateway& gw, const std::vector<const ModelProvider*>& served) {
  std::vector<Finding> out;
  const auto& limits = gw.spec.rateLimits;
  for (std::size_t i = 0; i < limits.size(); ++i) {
    const auto& model = limits[i].model;
    const auto id = model_id_of(model);
    const auto prefix = model.substr(0, model.find('/'));
    const ModelProvider* same_id = nullptr;
    bool wildcard = false;
    for (const auto* mp : served) {
      const auto& m = mp->spec.model;
      if (is_wildcard(m)) wildcard = wildcard || m.substr(0, m.find('/')) == prefix;
      else if (model_id_of(m) == id) same_id = mp;
    }
    const auto field = "spec.rateLimits[" + std::to_string(i) + "].model";
    if (same_id && same_id->spec.model != model) {
      out.push_back(Finding{Severity::Warning, ref_of(gw), field,
                            "Plano compares only the model_id (" + std::string(id) + "), so this limit applies to the provider of " +
                                same_id->spec.model + "; write that model"});
    } else if (!same_id && !wildcard) {
      out.push_back(Finding{Severity::Warning, ref_of(gw), field,
                            "no provider in the gateway's config serves " + model + ", so the limit is inert until one does"});
    }
  }
  return out;
}

}  // namespace plano::rules
