// Admission review: the webhook's decision on one AdmissionReview, from the shared rules and a
// view of the cluster's gateways and providers (informer caches in production).
#pragma once

#include <nlohmann/json.hpp>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/api/types.h"
#include "core/rules/evaluation.h"

namespace plano::webhook {

// What the webhook knows of one gateway's part of the cluster when a request arrives, from
// informer caches (no API call per request), judged once when it changes rather than per request:
// the gateway (null while it does not exist), every provider attached to it, oldest first, and the
// rules' evaluation of them, after which a provider under review is judged.
struct ClusterView {
  std::string gatewayKey;  // namespace/name
  std::shared_ptr<const api::PlanoGateway> gateway;
  std::vector<std::shared_ptr<const api::ModelProvider>> providers;
  rules::NamespaceLabels namespaceLabels;
  rules::Evaluation evaluation;  // points into gateway and providers
  std::size_t configBytes = 0;    // the config the gateway's accepted providers render to
  std::size_t bareConfigBytes = 0;  // the config the gateway renders to without providers
  // Accepted providers per namespace, and the two namespaces with the most (of equals, the first by
  // name): a full gateway's room check reads these per request, not its thousands of providers.
  std::map<std::string, std::size_t> acceptedPerNamespace;
  std::pair<std::string, std::size_t> mostAccepted, secondMostAccepted;
};

// The view of gateway `gateway_key` from what is known of the cluster: the gateway of that key
// among `gateways`, the providers among `providers` whose gatewayRef names it, and their evaluation.
std::shared_ptr<const ClusterView> make_view(const std::string& gateway_key,
                                             const std::vector<std::shared_ptr<const api::PlanoGateway>>& gateways,
                                             const std::vector<std::shared_ptr<const api::ModelProvider>>& providers,
                                             rules::NamespaceLabels namespace_labels);

// The view for a gateway key "namespace/name".
using ClusterLookup = std::function<std::shared_ptr<const ClusterView>(const std::string& gateway_key)>;

// What the webhook says of one object: each message prefixed with its field.
struct Verdict {
  std::vector<std::string> errors;
  std::vector<std::string> warnings;
};

// The shared rules' verdict on a decoded provider joining (or changing on) its gateway: the
// webhook's per-request rules path, which `view` makes independent of the gateway's size.
Verdict judge_provider(const api::ModelProvider& candidate, const ClusterView& view);

// Whether the user behind a request (its request.userInfo) may get Secret `name` in `ns`: a
// provider makes the gateway send the Secret's value upstream on its author's behalf, so its
// author must be able to read it. The webhook asks the API server (SubjectAccessReview); throws
// when it cannot tell.
using SecretReadAccess = std::function<bool(const nlohmann::json& user_info, const std::string& ns, const std::string& name)>;

struct AdmissionOutcome {
  int httpStatus = 200;  // 400 for requests that are not a usable AdmissionReview
  nlohmann::json body;   // the AdmissionReview response, or a Status for 400
  // For metrics: kind, operation and verdict (allowed, denied, error).
  std::string kind, operation, verdict;
  // For the log line: the request's uid, the object's namespace and name, and the gateway
  // ("namespace/name") it belongs to, each empty when the request did not say.
  std::string uid, namespace_, name, gateway;
};

AdmissionOutcome review(const std::string& request_body, const ClusterLookup& cluster, const SecretReadAccess& may_read_secret);

}  // namespace plano::webhook
