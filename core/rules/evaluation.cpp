#include "core/rules/evaluation.h"

#include <algorithm>
#include <set>

#include "core/rules/base_url.h"
#include "core/rules/label_selector.h"
#include "core/rules/object_rules.h"
#include "core/rules/plano_catalog.h"

namespace plano::rules {
namespace {

using api::ModelProvider;
using api::PlanoGateway;

// What a provider claims on its gateway; a second claim of the same value is a conflict.
struct Claims {
  std::map<std::string, const ModelProvider*> names;        // Plano provider name
  std::map<std::string, const ModelProvider*> modelKeys;    // models and model_ids share one set in Plano
  std::map<std::string, std::pair<int, const ModelProvider*>> upstreams;  // interface_host -> port
  std::map<std::string, const ModelProvider*> preferences;  // routing preference names
  const ModelProvider* defaultProvider = nullptr;
};

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

std::optional<ProviderVerdict> check_conflicts(const PlanoGateway& gw, const ModelProvider& mp, const Claims& c) {
  const auto on = " on gateway " + gateway_name(gw);
  const auto& s = mp.spec;
  const bool wildcard = s.model.size() >= 2 && s.model.compare(s.model.size() - 2, 2, "/*") == 0;
  if (mp.isDefault() && c.defaultProvider) {
    return refuse(&mp, Reason::Conflict, "spec.default",
                  "another provider is already the default" + on + "; a gateway has exactly one default: remove default: true",
                  c.defaultProvider);
  }
  if (auto it = c.names.find(mp.planoName()); it != c.names.end()) {
    return refuse(&mp, Reason::Conflict, s.name ? "spec.name" : "spec.model",
                  "provider name \"" + mp.planoName() + "\" is already used" + on + "; set a distinct spec.name",
                  it->second);
  }
  if (!wildcard) {
    const auto model_id = s.model.substr(s.model.find('/') + 1);
    if (auto it = c.modelKeys.find(s.model); it != c.modelKeys.end()) {
      return refuse(&mp, Reason::Conflict, "spec.model", "model " + s.model + " is already served" + on +
                    "; each model may be offered once per gateway", it->second);
    }
    if (auto it = c.modelKeys.find(model_id); it != c.modelKeys.end()) {
      return refuse(&mp, Reason::Conflict, "spec.model",
                    "model_id " + model_id + " is already served" + on +
                        " (Plano routes by model_id, so two providers cannot share one); use another gateway or model",
                    it->second);
    }
  }
  if (auto up = upstream_of(mp)) {
    if (auto it = c.upstreams.find(up->first); it != c.upstreams.end() && it->second.first != up->second) {
      return refuse(&mp, Reason::Conflict, "spec.baseURL",
                    "another provider" + on + " reaches the same host with the same providerInterface on port " +
                        std::to_string(it->second.first) + "; Plano would merge them into one upstream and send this "
                        "provider's traffic to that port: use the same port, or a different host name",
                    it->second.second);
    }
  }
  for (std::size_t i = 0; i < s.routingPreferences.size(); ++i) {
    const auto& name = s.routingPreferences[i].name;
    if (auto it = c.preferences.find(name); it != c.preferences.end()) {
      return refuse(&mp, Reason::Conflict, "spec.routingPreferences[" + std::to_string(i) + "].name",
                    "routing preference \"" + name + "\" is already defined" + on + "; choose another name",
                    it->second);
    }
  }
  return std::nullopt;
}

void claim(const ModelProvider& mp, Claims& c) {
  const auto& s = mp.spec;
  if (mp.isDefault()) c.defaultProvider = &mp;
  c.names.emplace(mp.planoName(), &mp);
  const bool wildcard = s.model.size() >= 2 && s.model.compare(s.model.size() - 2, 2, "/*") == 0;
  if (!wildcard) {
    c.modelKeys.emplace(s.model, &mp);
    c.modelKeys.emplace(s.model.substr(s.model.find('/') + 1), &mp);
  }
  if (auto up = upstream_of(mp)) c.upstreams.emplace(up->first, std::make_pair(up->second, &mp));
  for (const auto& p : s.routingPreferences) c.preferences.emplace(p.name, &mp);
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
  return v.message + " (kept by " + v.winner->describe() + ", which was there first)";
}

void by_age(std::vector<const ModelProvider*>& providers) {
  std::stable_sort(providers.begin(), providers.end(), [](const ModelProvider* a, const ModelProvider* b) {
    return std::tie(a->metadata.creationTimestamp, a->metadata.namespace_, a->metadata.name) <
           std::tie(b->metadata.creationTimestamp, b->metadata.namespace_, b->metadata.name);
  });
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
  std::map<std::string, Claims> claims;
  for (const auto* mp : providers) {
    auto findings = check_provider(*mp);
    out.findings.insert(out.findings.end(), findings.begin(), findings.end());
    const auto key = api::key_of(mp->metadata);
    const auto gw_key = mp->gatewayNamespace() + "/" + mp->spec.gatewayRef.name;
    auto gw_it = out.gateways.find(gw_key);
    if (gw_it != out.gateways.end()) gw_it->second.attached.push_back(mp);
    ProviderVerdict verdict{mp, Reason::Accepted, "", "", std::nullopt};
    if (has_error(findings)) {
      verdict = refuse(mp, Reason::Invalid, findings.front().field, "the provider breaks the rules above; fix them");
    } else if (gw_it == out.gateways.end()) {
      verdict = refuse(mp, Reason::GatewayNotFound, "spec.gatewayRef", "PlanoGateway " + gw_key + " does not exist (yet)");
      out.findings.push_back(finding_of(verdict, Severity::Warning));
    } else if (auto refused = check_policy(*gw_it->second.gateway, *mp, namespace_labels)) {
      verdict = std::move(*refused);
      out.findings.push_back(finding_of(verdict, Severity::Error));
    } else if (auto conflict = check_conflicts(*gw_it->second.gateway, *mp, claims[gw_key])) {
      verdict = std::move(*conflict);
      out.findings.push_back(finding_of(verdict, Severity::Error));
    } else {
      claim(*mp, claims[gw_key]);
      gw_it->second.accepted.push_back(mp);
    }
    out.providers.insert_or_assign(key, std::move(verdict));
  }
  for (auto& [key, result] : out.gateways) {
    if (!result.accepted.empty() && !claims[key].defaultProvider) {
      out.findings.push_back(Finding{Severity::Warning, ref_of(*result.gateway), "spec",
                                     "no accepted provider is the default, so requests naming no known model fail; "
                                     "set default: true on exactly one provider"});
    }
  }
  return out;
}

}  // namespace plano::rules

