#include "operator/gateway_plan.h"

#include <algorithm>

#include "core/encoding/base64.h"
#include "core/kube/object_fields.h"
#include "core/render/fitting.h"
#include "core/render/renderer.h"
#include "core/rules/object_rules.h"
#include "core/rules/quantity.h"
#include "operator/conditions.h"
#include "operator/desired_objects.h"

namespace plano::op {
namespace {

using nlohmann::json;
using kube::string_at;

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

// The value of Secret key `ref` in namespace `ns`, when it exists and reaches Plano intact (no
// `problem`); `consequence` says what is left out meanwhile.
KeyResolution resolve_secret_key(const std::string& ns, const api::SecretKeyRef& ref, const SecretData& secrets,
                                 std::optional<std::string> (*problem)(std::string_view), const char* consequence) {
  auto data = secrets ? secrets(ns, ref.name) : std::nullopt;
  if (!data) return {false, "SecretNotFound", "Secret " + ns + "/" + ref.name + " does not exist", {}};
  auto it = data->find(ref.key);
  if (it == data->end()) return {false, "KeyNotFound", "Secret " + ns + "/" + ref.name + " has no key \"" + ref.key + "\"", {}};
  if (auto why = problem(it->second)) {
    return {false, "InvalidKeyValue", "the value of key \"" + ref.key + "\" of Secret " + ns + "/" + ref.name + " " + *why +
                                          consequence, {}};
  }
  return {true, "Resolved", "key \"" + ref.key + "\" of Secret " + ref.name + " found", it->second};
}

KeyResolution resolve_key(const api::ModelProvider& mp, const SecretData& secrets) {
  if (!mp.spec.accessKeySecretRef) return {};
  return resolve_secret_key(mp.metadata.namespace_, *mp.spec.accessKeySecretRef, secrets, render::key_value_problem,
                            "; only this provider is left out of the config: correct the value in the Secret");
}

// The gateway's Postgres connection string, when its state storage needs one.
std::optional<KeyResolution> resolve_connection_string(const api::PlanoGateway* gw, const SecretData& secrets) {
  if (!gw || !gw->spec.stateStorage || !gw->spec.stateStorage->connectionStringSecretRef) return std::nullopt;
  return resolve_secret_key(gw->metadata.namespace_, *gw->spec.stateStorage->connectionStringSecretRef, secrets,
                            render::connection_string_problem, "; the gateway keeps its last config: correct the value in the Secret");
}

// Whether a key the pods hold has been revoked since: its Secret, or the key in it, is gone, or
// holds another value now (the keys Secret says where each variable came from).
bool served_key_revoked(const GatewaySnapshot& snap) {
  if (!snap.liveKeysSecret) return false;
  const auto sources = json::parse(string_at(*snap.liveKeysSecret, {"metadata", "annotations", kKeySourcesAnnotation}), nullptr, false);
  const auto data_it = snap.liveKeysSecret->find("data");
  if (data_it == snap.liveKeysSecret->end() || !data_it->is_object()) return false;
  for (const auto& [variable, encoded] : data_it->items()) {
    const auto source = sources.is_object() ? sources.value(variable, "") : "";
    const auto first = source.find('/'), last = source.rfind('/');
    if (first == std::string::npos || first == last || !encoded.is_string()) return true;  // unknown origin: assume the worst
    const auto data = snap.secretData ? snap.secretData(source.substr(0, first), source.substr(first + 1, last - first - 1)) : std::nullopt;
    if (!data) return true;
    const auto key = data->find(source.substr(last + 1));
    if (key == data->end() || encoding::base64_decode(encoded.get<std::string>()) != key->second) return true;
  }
  return false;
}

// The config hash the pods are to run, when they rolled to it, and until when a newer one waits.
struct PodRollout {
  std::string hash;
  std::string rolledAt;
  std::optional<std::chrono::system_clock::time_point> heldUntil;
};

PodRollout pods_roll(const GatewaySnapshot& snap, const std::string& rollout) {
  const json* live = snap.liveDeployment;
  if (!live) return {rollout, snap.now, std::nullopt};
  const auto live_hash = string_at(*live, {"spec", "template", "metadata", "annotations", kConfigHashAnnotation});
  const auto rolled_at = string_at(*live, {"metadata", "annotations", kRolledAtAnnotation});
  if (live_hash == rollout) return {rollout, rolled_at.empty() ? snap.now : rolled_at, std::nullopt};
  const auto last = parse_rfc3339(rolled_at);
  const auto now = parse_rfc3339(snap.now);
  const auto interval = rules::parse_duration(snap.gateway->spec.deployment.minRolloutInterval);
  if (last && now && interval && *now < *last + *interval && !live_hash.empty() && !served_key_revoked(snap)) {
    return {live_hash, rolled_at, *last + *interval};
  }
  return {rollout, snap.now, std::nullopt};
}

// How far the gateway's pods are from serving config `pods.hash`.
Progress rollout_progress(const json* live, const PodRollout& pods, const std::string& hold_note) {
  using State = Progress::State;
  if (!live) return {State::Waiting, "DeploymentNotAvailable", "the Deployment does not exist yet"};
  if (string_at(*live, {"spec", "template", "metadata", "annotations", kConfigHashAnnotation}) != pods.hash) {
    return {State::Waiting, "RollingOut", "rolling the pods to config " + pods.hash.substr(0, 12)};
  }
  // The Deployment controller gives up after spec.progressDeadlineSeconds (an image that does not
  // pull, pods that crash): no retry of ours changes that.
  const json* conditions = nullptr;
  if (const auto status = live->find("status"); status != live->end() && status->is_object()) {
    if (const auto found = status->find("conditions"); found != status->end() && found->is_array()) conditions = &*found;
  }
  for (const auto& c : conditions ? *conditions : json::array()) {
    if (c.is_object() && c.value("type", "") == "Progressing" && c.value("status", "") == "False" &&
        c.value("reason", "") == "ProgressDeadlineExceeded") {
      return {State::Blocked, "ProgressDeadlineExceeded", "the pods of config " + pods.hash.substr(0, 12) +
                                                              " do not become available: " + c.value("message", "")};
    }
  }
  auto [ready, message] = deployment_ready(live);
  if (!ready) return {State::Waiting, "DeploymentNotAvailable", message};
  if (pods.heldUntil) return {State::Waiting, "RolloutHeld", message + hold_note};
  return {State::Done, "Available", message};
}

// Where a provider stands: `gateway` is where its gateway's pods stand, `programmed_*` what its
// Programmed condition says.
Progress provider_progress(const api::ModelProvider& mp, const rules::ProviderVerdict& verdict, const KeyResolution& key,
                           bool in_config, bool over_limit, const Progress& gateway, const std::string& gw_key,
                           const std::string& programmed_message) {
  using State = Progress::State;
  // What is still to come (the gateway, the Secret: applied by another tool, another pipeline, in any
  // order) is waited for; what is there but wrong waits for someone to change it.
  if (!verdict.accepted()) {
    return {verdict.reason == rules::Reason::GatewayNotFound ? State::Waiting : State::Blocked, rules::to_string(verdict.reason),
            rules::describe(verdict)};
  }
  if (!key.resolved) return {key.reason == "SecretNotFound" ? State::Waiting : State::Blocked, key.reason, key.message};
  if (over_limit) return {State::Blocked, "ConfigTooLarge", programmed_message};
  if (!in_config) return {State::Blocked, "GatewayNotProgrammed", programmed_message};
  // Newly in the config (or changed): Ready once the gateway's pods serve it. One already Ready at this
  // generation stays so while others' changes roll, so a rollout writes only the changed providers.
  const auto* ready = find_condition(mp.status.conditions, "Ready");
  const bool served = ready && ready->status == "True" && ready->observedGeneration == mp.metadata.generation;
  if (gateway.state != State::Done && !served) {
    // The gateway's own condition says why (its message names the config hash): repeating it here
    // would rewrite every provider's status on each change while the pods are not ready.
    return {gateway.state, "GatewayNotReady", "in the config of gateway " + gw_key +
                                                  ", whose pods do not serve it yet: see the gateway's Ready condition"};
  }
  return {State::Done, "Programmed", programmed_message};
}

// An Event when a condition's status or reason changes: a Warning for each new problem, a Normal
// one for a recovery and, with `announce_first`, for a condition that starts out True.
void note_transition(GatewayPlan& plan, const api::ModelProvider& mp, const api::Condition* before,
                     const api::Condition& after, bool announce_first) {
  if (before ? before->status == after.status && before->reason == after.reason : after.status == "True" && !announce_first) return;
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
  const api::SharedText now(snap.now);  // one buffer for every condition that moves in this pass
  std::vector<const api::ModelProvider*> providers(snap.providers);
  std::map<std::string, KeyResolution> keys;
  for (const auto* mp : providers) {
    const auto& key = keys.emplace(api::key_of(mp->metadata), resolve_key(*mp, snap.secretData)).first->second;
    plan.awaitsSecret = plan.awaitsSecret || key.reason == "SecretNotFound";
  }
  const auto connection = resolve_connection_string(snap.gateway, snap.secretData);
  plan.awaitsSecret = plan.awaitsSecret || (connection && connection->reason == "SecretNotFound");
  // Precedence with what the keys say now; the webhook reads the same from the statuses written here.
  rules::by_claim(providers, [&keys](const api::ModelProvider& mp) { return keys.at(api::key_of(mp.metadata)).resolved; });
  std::vector<const api::PlanoGateway*> gateways;
  if (snap.gateway) gateways.push_back(snap.gateway);
  const auto evaluation = rules::evaluate(gateways, providers, snap.namespaceLabels);
  const auto gw_key = snap.namespace_ + "/" + snap.name;

  // Which accepted providers can be rendered: those whose key is at hand.
  std::vector<const api::ModelProvider*> renderable;
  for (const auto* mp : providers) {
    if (evaluation.providers.at(api::key_of(mp->metadata)).accepted() && keys.at(api::key_of(mp->metadata)).resolved) {
      renderable.push_back(mp);
    }
  }

  bool programmed = false;
  std::string programmed_reason, programmed_message;
  Progress gateway_progress{Progress::State::Waiting, "GatewayNotFound", "gateway " + gw_key + " does not exist"};
  std::vector<const api::ModelProvider*> left_out;  // accepted and resolved, but past the size limit
  std::string config_notes;
  if (snap.gateway) {
    const auto& gw = *snap.gateway;
    const auto gen = gw.metadata.generation;
    const auto& result = evaluation.gateways.at(gw_key);
    auto status = gw.status;
    status.observedGeneration = gen;
    status.attachedProviders = static_cast<std::int64_t>(providers.size());
    std::optional<render::RenderResult> rendered;
    // What the gateway itself refers to and is not there yet, or is wrong: the pods keep the last
    // config until it is (a Secret or provider applied later) or someone corrects it.
    std::optional<Progress> held;
    if (result.valid && connection && !connection->resolved) {
      // With state storage that does not connect, the pods would not start.
      held = Progress{connection->reason == "SecretNotFound" ? Progress::State::Waiting : Progress::State::Blocked,
                      connection->reason, "spec.stateStorage.connectionStringSecretRef: " + connection->message};
    } else if (result.valid) {
      // Degrade, never freeze: when everything does not fit, the namespaces with the most providers
      // give way, so no one else's provider, change or revocation waits on them.
      auto fitted = render::render_fitting(gw, renderable);
      if (auto problem = rules::routing_model_problem(gw, fitted.served, evaluation.providers)) {
        held = Progress{Progress::State::Waiting, "RoutingModelNotServed", "spec.routing.modelProviderRef: " + *problem};
      } else {
        rendered = std::move(fitted.rendered);
        renderable = std::move(fitted.served);
        left_out = std::move(fitted.leftOut);
        if (!left_out.empty()) {
          config_notes = "; " + std::to_string(left_out.size()) + " provider(s) left out: with them the config would " +
                         "pass the " + std::to_string(render::kMaxConfigBytes) + "-byte ConfigMap limit";
        }
        // Said, not held: an inert limit harms no one, and a provider it is meant for may come later.
        // A few in full keep the message well within a condition's 32 KiB.
        constexpr std::size_t kRateLimitNotes = 4;
        const auto limits = rules::rate_limit_findings(gw, renderable);
        for (std::size_t i = 0; i < std::min(limits.size(), kRateLimitNotes); ++i) {
          config_notes += "; " + limits[i].field + ": " + limits[i].message;
        }
        if (limits.size() > kRateLimitNotes) {
          config_notes += "; and " + std::to_string(limits.size() - kRateLimitNotes) + " more spec.rateLimits limit nothing the "
                          "gateway serves (plano-operator validate lists them)";
        }
      }
    }
    if (rendered) {
      std::map<std::string, std::string> value_by_ref;  // namespace/secret/key -> value
      for (const auto* mp : renderable) {
        if (const auto& ref = mp->spec.accessKeySecretRef) {
          value_by_ref[mp->metadata.namespace_ + "/" + ref->name + "/" + ref->key] = *keys.at(api::key_of(mp->metadata)).value;
        }
      }
      if (connection) {
        const auto& ref = *gw.spec.stateStorage->connectionStringSecretRef;
        value_by_ref[gw.metadata.namespace_ + "/" + ref.name + "/" + ref.key] = *connection->value;
      }
      std::map<std::string, std::string> key_values, key_sources;
      for (const auto& b : rendered->keys) {
        const auto source = b.namespace_ + "/" + b.secret + "/" + b.key;
        key_values[b.variable] = value_by_ref.at(source);
        key_sources[b.variable] = source;
      }
      const auto rollout = rollout_hash(rendered->config, key_values);
      plan.apply = true;
      plan.configMap = desired_config_map(gw, rendered->config);
      plan.keysSecret = desired_keys_secret(gw, key_values, key_sources);
      const auto pods = pods_roll(snap, rollout);
      plan.rolloutHeldUntil = pods.heldUntil;
      plan.deployment = desired_deployment(gw, pods.hash, pods.rolledAt);
      plan.service = desired_service(gw);
      if (gw.spec.networkPolicy.enabled) plan.networkPolicy = desired_network_policy(gw);
      plan.disruptionBudget = desired_disruption_budget(gw);
      programmed = true;
      programmed_reason = "Programmed";
      programmed_message = "config " + rollout.substr(0, 12) + " with " + std::to_string(renderable.size()) +
                           " provider(s) applied to ConfigMap " + owned_names(gw).configMap + config_notes;
      std::string hold_note;
      if (pods.heldUntil) {
        hold_note = "; the pods keep config " + pods.hash.substr(0, 12) + " until " + to_rfc3339(*pods.heldUntil) +
                    " (spec.deployment.minRolloutInterval " + gw.spec.deployment.minRolloutInterval + ")";
      }
      programmed_message += hold_note;
      gateway_progress = rollout_progress(snap.liveDeployment, pods, hold_note);
      if (status.configHash != pods.hash && !status.configHash.empty()) {
        plan.events.push_back(EventNote{api::kGatewayKind, gw.metadata.namespace_, gw.metadata.name, gw.metadata.uid,
                                        "Normal", "ConfigRolledOut",
                                        "config or keys changed; rolling Plano to the config in status.configHash"});
      }
      status.configHash = pods.hash;
      status.acceptedProviders = static_cast<std::int64_t>(renderable.size());
      set_condition(status.conditions, condition("Accepted", true, "Accepted", "the gateway passes every rule", gen), now);
      set_condition(status.conditions, condition("Programmed", true, programmed_reason, programmed_message, gen), now);
    } else if (held) {
      programmed_reason = held->reason;
      programmed_message = held->message + "; the last good config keeps running";
      set_condition(status.conditions, condition("Accepted", true, "Accepted", "the gateway passes every rule", gen), now);
      set_condition(status.conditions, condition("Programmed", false, programmed_reason, programmed_message, gen), now);
      gateway_progress = {held->state, programmed_reason, programmed_message};
    } else {
      std::string why;
      for (const auto& f : evaluation.findings) {
        if (f.severity == rules::Severity::Error && f.object == rules::ref_of(gw)) why += (why.empty() ? "" : "; ") + f.field + ": " + f.message;
      }
      programmed_reason = "Invalid";
      programmed_message = "the gateway breaks its rules; the last good config keeps running: " + why;
      set_condition(status.conditions, condition("Accepted", false, "Invalid", why, gen), now);
      set_condition(status.conditions, condition("Programmed", false, "Invalid", programmed_message, gen), now);
      gateway_progress = {Progress::State::Blocked, "Invalid", programmed_message};
    }
    set_summary(status.conditions, gateway_progress, gen, now);
    auto status_doc = status_json(status);
    if (status_doc != status_json(gw.status)) plan.gatewayStatus = std::move(status_doc);
    plan.desiredGatewayStatus = std::move(status);
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
    note_transition(plan, *mp, before ? &*before : nullptr, accepted, true);
    set_condition(status.conditions, accepted, now);
    const auto resolved = condition("ResolvedRefs", res.resolved, res.reason, res.message, gen);
    note_transition(plan, *mp, find_condition(mp->status.conditions, "ResolvedRefs"), resolved, false);
    set_condition(status.conditions, resolved, now);
    const bool in_config = programmed && std::find(renderable.begin(), renderable.end(), mp) != renderable.end();
    const bool over_limit = std::find(left_out.begin(), left_out.end(), mp) != left_out.end();
    std::string reason = in_config ? "Programmed" : !verdict.accepted() ? "NotAccepted" : !res.resolved ? "RefsNotResolved"
                         : over_limit ? "ConfigTooLarge" : programmed_reason.empty() ? "GatewayNotFound" : programmed_reason;
    std::string message = in_config ? "in the config of gateway " + gw_key
                          : !verdict.accepted() ? "not in the gateway's config: see Accepted"
                          : !res.resolved ? "not in the gateway's config until its key resolves: see ResolvedRefs"
                          : over_limit ? "left out of gateway " + gw_key + "'s config: with it the config would pass the " +
                                             std::to_string(render::kMaxConfigBytes) + "-byte ConfigMap limit, and the namespaces "
                                             "with the most providers on the gateway give way first; the platform team can lower "
                                             "spec.allowedProviders.maxProvidersPerNamespace or split providers across gateways"
                                       : "gateway " + gw_key + " is not programmed: " + programmed_message;
    const auto programmed_now = condition("Programmed", in_config, reason, message, gen);
    // Left out because not accepted or unresolved: that problem has its own Event already.
    if (reason != "NotAccepted" && reason != "RefsNotResolved") {
      note_transition(plan, *mp, find_condition(mp->status.conditions, "Programmed"), programmed_now, false);
    }
    set_condition(status.conditions, programmed_now, now);
    set_summary(status.conditions, provider_progress(*mp, verdict, res, in_config, over_limit, gateway_progress, gw_key, message),
                gen, now);
    // Compared typed (status_json writes every field): a json tree a provider was 2/3 of a plan.
    if (status != mp->status) plan.providerStatuses.push_back({mp->metadata.namespace_, mp->metadata.name, std::move(status)});
  }
  return plan;
}

ApplyFailure apply_failure(const api::PlanoGateway& gw, const GatewayPlan& plan, const std::string& what_failed,
                           const std::string& now) {
  auto status = plan.desiredGatewayStatus;
  status.configHash = gw.status.configHash;  // what still runs
  const auto message = what_failed + "; the last good config keeps running, and the operator retries with backoff";
  const auto* before = find_condition(gw.status.conditions, "Programmed");
  const bool is_new = !before || before->reason != "ApplyFailed" || before->message != message;
  set_condition(status.conditions, condition("Programmed", false, "ApplyFailed", message, gw.metadata.generation), now);
  set_summary(status.conditions, {Progress::State::Blocked, "ApplyFailed", message}, gw.metadata.generation, now);
  ApplyFailure out{status_json(status), std::nullopt};
  if (is_new) {
    out.event = EventNote{api::kGatewayKind, gw.metadata.namespace_, gw.metadata.name, gw.metadata.uid, "Warning",
                          "ApplyFailed", message};
  }
  return out;
}

}  // namespace plano::op
