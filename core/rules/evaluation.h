// Rules across objects: which providers each gateway accepts, and why the others are refused.
// One implementation for the CLI (offline), the operator (status) and the webhook (admission).
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "core/api/types.h"
#include "core/rules/finding.h"

namespace plano::rules {

// Labels of a namespace, or nullopt when the namespace is not known.
using NamespaceLabels = std::function<std::optional<std::map<std::string, std::string>>(const std::string&)>;

enum class Reason { Accepted, Invalid, GatewayNotFound, NotAllowedByGateway, AuthModeNotAllowed, Conflict };
const char* to_string(Reason r);

struct ProviderVerdict {
  const api::ModelProvider* provider = nullptr;
  Reason reason = Reason::Accepted;
  std::string field;                // the field that decided a refusal
  std::string message;              // why, without naming another tenant's object
  std::optional<ObjectRef> winner;  // for Conflict: the provider that keeps the contested value
  bool accepted() const { return reason == Reason::Accepted; }
};

// What the providers accepted on one gateway hold; a later provider may take none of it.
struct Claims {
  struct Upstream {
    int port = 0;
    std::vector<const api::ModelProvider*> holders;  // all on `port`, in precedence order
  };
  std::map<std::string, const api::ModelProvider*> names;        // Plano provider name
  std::map<std::string, const api::ModelProvider*> modelKeys;    // models and model_ids share one set in Plano
  std::map<std::string, const api::ModelProvider*> aliases;      // spec.aliases: names clients send as a model
  std::map<std::string, Upstream> upstreams;                     // interface_host
  // A routing preference is one namespace's: its providers there may share it (its models are
  // theirs), giving the same description and prefer; no other namespace may use its name.
  struct Preference {
    std::string namespace_;
    std::vector<const api::ModelProvider*> holders;  // in precedence order
  };
  std::map<std::string, Preference> preferences;                 // by routing preference name
  const api::ModelProvider* defaultProvider = nullptr;
  std::map<std::string, std::set<std::string>> namespaces;       // namespace -> names of its accepted providers
};

struct GatewayResult {
  const api::PlanoGateway* gateway = nullptr;
  std::vector<const api::ModelProvider*> attached;  // gatewayRef points here, in precedence order
  std::vector<const api::ModelProvider*> accepted;  // subset of attached that the config carries
  bool valid = true;                                // the gateway itself passes its rules
  Claims claims;                                    // what `accepted` holds
  bool conflicts = false;                           // an attached provider was refused for a Conflict
};

struct Evaluation {
  std::vector<Finding> findings;                       // every object's errors and warnings
  std::map<std::string, GatewayResult> gateways;       // by namespace/name
  std::map<std::string, ProviderVerdict> providers;    // by namespace/name
};

// Judges everything together. `providers` must be in precedence order: when two conflict, the
// earlier one wins (document order offline, age in a cluster: see by_age). A provider whose
// gateway is missing gets a warning, not an error (GitOps may apply it first).
Evaluation evaluate(const std::vector<const api::PlanoGateway*>& gateways,
                    const std::vector<const api::ModelProvider*>& providers,
                    const NamespaceLabels& namespace_labels);

// One provider judged: its own rules, then the gateway's policy, then the claims of those before it.
struct Judgement {
  ProviderVerdict verdict;
  std::vector<Finding> findings;  // the provider's own, then the verdict's when it is a refusal
};

// `mp` judged after every provider `gateway` holds (null: the gateway does not exist), without
// judging those again: evaluate judges each provider so, in turn. Claims held by `replaced` (the
// object's own earlier version) do not count against it; that is exact when leaving `replaced`
// out changes no other verdict: when it was refused, or when no provider was refused for a Conflict.
Judgement judge_next(const api::ModelProvider& mp, const GatewayResult* gateway, const NamespaceLabels& namespace_labels,
                     const ObjectRef* replaced = nullptr);

// Whether `a` came before `b` in the cluster: creationTimestamp, then namespace/name.
bool older(const api::ModelProvider& a, const api::ModelProvider& b);

// Orders providers oldest first (see older).
void by_age(std::vector<const api::ModelProvider*>& providers);

// Whether a provider can be served, as its status last said: its key resolves (ResolvedRefs is
// not False). A provider whose status says nothing yet is taken to serve.
bool can_serve(const api::ModelProvider& mp);
// Whether its status says it is in the gateway's config now (Programmed=True).
bool is_programmed(const api::ModelProvider& mp);
// Whether the rules read condition `c` of a provider: those two answers come from ResolvedRefs=False
// and Programmed=True alone, so a copy of a provider kept for the rules needs no other condition.
bool read_by_rules(const api::Condition& c);

// The cluster's precedence, which the operator and the webhook share: providers that can serve
// first, among them those already programmed, then by age. A provider that can never serve (its
// Secret is missing) so holds no name or model another tenant's working one needs, and a working
// provider keeps what it holds when an older one's Secret appears later.
void by_claim(std::vector<const api::ModelProvider*>& providers, const std::function<bool(const api::ModelProvider&)>& serves);

// The verdict's message with the winner named, for readers allowed to see it.
std::string describe(const ProviderVerdict& v);

// The provider spec.routing.modelProviderRef names as "namespace/name" (the gateway's namespace
// unless it names one), and that provider among `served`, or nullptr.
std::string routing_provider_key(const api::PlanoGateway& gw);
const api::ModelProvider* routing_provider(const api::PlanoGateway& gw, const std::vector<const api::ModelProvider*>& served);

// Why the gateway's config must not be rendered with `served` (the providers it would carry), or
// nullopt when it may: spec.routing names a provider `served` lacks, and Plano would then send every
// tenant's routed prompts to its hosted router (archfc.katanemo.dev), out of the cluster. `verdicts`
// (by namespace/name) say why an attached provider is not served.
std::optional<std::string> routing_model_problem(const api::PlanoGateway& gw, const std::vector<const api::ModelProvider*>& served,
                                                 const std::map<std::string, ProviderVerdict>& verdicts);

// A warning for each of spec.rateLimits that limits no provider in `served`: Plano keeps it, but no
// request reaches its model_id, or it reaches another provider's model than the one written.
std::vector<Finding> rate_limit_findings(const api::PlanoGateway& gw, const std::vector<const api::ModelProvider*>& served);

}  // namespace plano::rules
