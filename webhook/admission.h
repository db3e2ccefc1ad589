// Admission review: the webhook's decision on one AdmissionReview, from the shared rules and a
// view of the cluster's gateways and providers (informer caches in production).
#pragma once

#include <nlohmann/json.hpp>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/api/types.h"
#include "core/rules/evaluation.h"

namespace plano::webhook {

// What the webhook knows of one gateway's part of the cluster when a request arrives: the gateway
// (if it exists) and every provider attached to it. From informer caches: no API call per request.
struct ClusterView {
  std::vector<std::shared_ptr<const api::PlanoGateway>> gateways;
  std::vector<std::shared_ptr<const api::ModelProvider>> providers;
  rules::NamespaceLabels namespaceLabels;
};
// The view for a gateway key "namespace/name".
using ClusterLookup = std::function<ClusterView(const std::string& gateway_key)>;

struct AdmissionOutcome {
  int httpStatus = 200;  // 400 for requests that are not a usable AdmissionReview
  nlohmann::json body;   // the AdmissionReview response, or a Status for 400
  // For metrics: kind, operation and verdict (allowed, denied, error).
  std::string kind, operation, verdict;
};

AdmissionOutcome review(const std::string& request_body, const ClusterLookup& cluster);

}  // namespace plano::webhook
