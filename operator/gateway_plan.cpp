#include "operator/gateway_plan.h"

#include <algorithm>

#include "core/render/renderer.h"
#include "core/rules/object_rules.h"
#include "operator/conditions.h"
#include "operator/desired_objects.h"

namespace plano::op {
namespace {

using nlohmann::json;

api::Condition condition(const std::string& type, bool ok, std::string reason, std::string message, std::int64_t gen) {
  return api::Condition{type, ok ? "True" : "False", gen, "", std::move(reason), std::move(message)};
}

// Whether the Deployment has caught up with its spec, has every replica available, and runs no pod
// of an older template (the checks of `kubectl rollout status`): mid-rollout, the old pods still
// count as available, but they serve the old config.
std::pair<bool, std::string> deployment_ready(const json* d) {
  if (!d) return {false, "the Deployment does not exist yet"};
  const auto& status = d->value("status", json::object());
  const auto generation = d->value("metadata", json::object()).value("generation", 0);
  const auto wanted = d->value("spec", json::object()).value("replicas", 1);
  const auto available = status.value("availableReplicas", 0);
  const auto updated = status.value("updatedReplicas", 0);
  const auto total = status.value("replicas", 0);
  if (status.value("observedGeneration", 0) < generation) return {false, "the Deployment controller has not seen the latest spec"};
  if (updated < wanted || available < wanted) {
    return {false, std::to_string(available) + "/" + std::to_string(wanted) + " replicas available, " +
                       std::to_string(updated) + " updated"};
  }
  if (total > updated) {
    return {false, std::to_string(total - updated) + " replica(s) of the previous config still running"};
  }
  return {true, std::to_string(available) + "/" + std::to_string(wanted) + " replicas available"};
}

struct KeyResolution {
  bool resolved = true;
  std::string reason = "NoReferences";
  std::string message = "passthroughAuth: the client's own credential is forwarded";
  std::optional<std::string> value;
};

KeyResolution resolve_key(const api::ModelProvider& mp, const SecretData& secrets) {
  KeyResolution r;
  if (!mp.spec.accessKeySecretRef) return r;
  const auto& ref = *mp.spec.accessKeySecretRef;
  auto data = secrets ? secrets(mp.metadata.namespace_, ref.name) : std::nullopt;
  if (!data) return {false, "SecretNotFound", "Secret " + mp.metadata.namespace_ + "/" + ref.name + " does not exist", {}};
  auto it = data->find(ref.key);
  if (it == data->end()) {
    return {false, "KeyNotFound", "Secret " + mp.metadata.namespace_ + "/" + ref.name + " has no key \"" + ref.key + "\"", {}};
  }
  return {true, "Resolved", "key \"" + ref.key + "\" of Secret " + ref.name + " found", it->second};
}

void note_transition(GatewayPlan& plan, const api::ModelProvider& mp, const api::Condition* before,
                     const api::Condition& after) {
  if (before && before->status == after.status && before->reason == after.reason) return;
  plan.events.push_back(EventNote{api::kProviderKind, mp.metadata.namespace_, mp.metadata.name, mp.metadata.uid,
                                  after.status == "True" ? "Normal" : "Warning", after.reason, after.message});
}

}  // namespace

json status_json(const api::PlanoGatewayStatus& s) {
  return {{"observedGeneration", s.observedGeneration},
          {"conditions", to_json(s.conditions)},
          {"attachedProviders", s.attachedProviders},
          {"acceptedProviders", s.acceptedProviders},
          {"configHash", s.configHash}};
}

json status_json(const api::ModelProviderStatus& s) {
  return {{"observedGeneration", s.observedGeneration}, {"conditions", to_json(s.conditions)}};
}

GatewayPlan plan_gateway(const GatewaySnapshot& snap) {
  GatewayPlan plan;
  std::vector<const api::ModelProvider*> providers(snap.providers);
  rules::by_age(providers);
  std::vector<const api::PlanoGateway*> gateways;
  if (snap.gateway) gateways.push_back(snap.gateway);
  const auto evaluation = rules::evaluate(gateways, providers, snap.namespaceLabels);
  const auto gw_key = snap.namespace_ + "/" + snap.name;

  // Which accepted providers can be rendered: those whose key is at hand.
  std::map<std::string, KeyResolution> keys;
  std::vector<const api::ModelProvider*> renderable;
  for (const auto* mp : providers) {
    auto res = resolve_key(*mp, snap.secretData);
    if (evaluation.providers.at(api::key_of(mp->metadata)).accepted() && res.resolved) renderable.push_back(mp);
    keys.emplace(api::key_of(mp->metadata), std::move(res));
  }

  bool programmed = false;
  std::string programmed_reason, programmed_message;
  if (snap.gateway) {
    const auto& gw = *snap.gateway;
    const auto gen = gw.metadata.generation;
    const auto& result = evaluation.gateways.at(gw_key);
    auto status = gw.status;
    status.observedGeneration = gen;
    status.attachedProviders = static_cast<std::int64_t>(providers.size());
    std::optional<render::RenderResult> rendered;
    if (result.valid) rendered = render::render(gw, renderable);
    if (rendered && rendered->config.size() > kMaxConfigBytes) {
      programmed_reason = "ConfigTooLarge";
      programmed_message = "the rendered config of " + std::to_string(renderable.size()) + " providers is " +
                           std::to_string(rendered->config.size()) + " bytes, over the " + std::to_string(kMaxConfigBytes) +
                           "-byte ConfigMap limit; the last good config keeps running: split the providers across gateways";
      set_condition(status.conditions, condition("Accepted", true, "Accepted", "the gateway passes every rule", gen), snap.now);
      set_condition(status.conditions, condition("Programmed", false, programmed_reason, programmed_message, gen), snap.now);
    } else if (rendered) {
      std::map<std::string, std::string> value_by_ref;  // namespace/secret/key -> value
      for (const auto* mp : renderable) {
        if (const auto& ref = mp->spec.accessKeySecretRef) {
          value_by_ref[mp->metadata.namespace_ + "/" + ref->name + "/" + ref->key] = *keys.at(api::key_of(mp->metadata)).value;
        }
      }
      std::map<std::string, std::string> key_values;
      for (const auto& b : rendered->keys) key_values[b.variable] = value_by_ref.at(b.namespace_ + "/" + b.secret + "/" + b.key);
      const auto rollout = rollout_hash(rendered->config, key_values);
      plan.apply = true;
      plan.configMap = desired_config_map(gw, rendered->config);
      plan.keysSecret = desired_keys_secret(gw, key_values);
      plan.deployment = desired_deployment(gw, rollout);
      plan.service = desired_service(gw);
      programmed = true;
      programmed_reason = "Programmed";
      programmed_message = "config " + rollout.substr(0, 12) + " with " + std::to_string(renderable.size()) +
                           " provider(s) applied to ConfigMap " + owned_names(gw).configMap;
      if (status.configHash != rollout && !status.configHash.empty()) {
        plan.events.push_back(EventNote{api::kGatewayKind, gw.metadata.namespace_, gw.metadata.name, gw.metadata.uid,
                                        "Normal", "ConfigRolledOut",
                                        "config or keys changed; rolling Plano to " + rollout.substr(0, 12)});
      }
      status.configHash = rollout;
      status.acceptedProviders = static_cast<std::int64_t>(renderable.size());
      set_condition(status.conditions, condition("Accepted", true, "Accepted", "the gateway passes every rule", gen), snap.now);
      set_condition(status.conditions, condition("Programmed", true, programmed_reason, programmed_message, gen), snap.now);
    } else {
      std::string why;
      for (const auto& f : evaluation.findings) {
        if (f.severity == rules::Severity::Error && f.object == rules::ref_of(gw)) why += (why.empty() ? "" : "; ") + f.field + ": " + f.message;
      }
      programmed_reason = "Invalid";
      programmed_message = "the gateway breaks its rules; the last good config keeps running: " + why;
      set_condition(status.conditions, condition("Accepted", false, "Invalid", why, gen), snap.now);
      set_condition(status.conditions, condition("Programmed", false, "Invalid", programmed_message, gen), snap.now);
    }
    auto [ready, ready_message] = deployment_ready(snap.liveDeployment);
    set_condition(status.conditions,
                  condition("Ready", ready, ready ? "Available" : "DeploymentNotAvailable", ready_message, gen), snap.now);
    auto status_doc = status_json(status);
    if (status_doc != status_json(gw.status)) plan.gatewayStatus = std::move(status_doc);
  }

  for (const auto* mp : providers) {
    const auto key = api::key_of(mp->metadata);
    const auto& verdict = evaluation.providers.at(key);
    const auto& res = keys.at(key);
    const auto gen = mp->metadata.generation;
    auto status = mp->status;
    status.observedGeneration = gen;
    const auto* accepted_before = find_condition(status.conditions, "Accepted");
    std::optional<api::Condition> before;
    if (accepted_before) before = *accepted_before;
    auto accepted = condition("Accepted", verdict.accepted(), rules::to_string(verdict.reason),
                              verdict.accepted() ? "accepted by gateway " + gw_key : rules::describe(verdict), gen);
    note_transition(plan, *mp, before ? &*before : nullptr, accepted);
    set_condition(status.conditions, accepted, snap.now);
    set_condition(status.conditions, condition("ResolvedRefs", res.resolved, res.reason, res.message, gen), snap.now);
    const bool in_config = programmed && std::find(renderable.begin(), renderable.end(), mp) != renderable.end();
    std::string reason = in_config ? "Programmed" : !verdict.accepted() ? "NotAccepted" : !res.resolved ? "RefsNotResolved" : programmed_reason.empty() ? "GatewayNotFound" : programmed_reason;
    std::string message = in_config ? "in the config of gateway " + gw_key
                          : !verdict.accepted() ? "not in the gateway's config: see Accepted"
                          : !res.resolved ? "not in the gateway's config until its key resolves: see ResolvedRefs"
                                          : "gateway " + gw_key + " is not programmed: " + programmed_message;
    set_condition(status.conditions, condition("Programmed", in_config, reason, message, gen), snap.now);
    auto doc = status_json(status);
    if (doc != status_json(mp->status)) plan.providerStatuses.push_back({mp->metadata.namespace_, mp->metadata.name, doc});
  }
  return plan;
}

}  // namespace plano::op
