// Which REST collection an operation addresses, and the ones plano-operator uses.
#pragma once

#include <string>
#include <string_view>

namespace plano::kube {

struct Resource {
  std::string group;    // "" for the core group
  std::string version;  // "v1", "v1alpha1"
  std::string plural;   // the URL segment: "configmaps"
  std::string kind;     // "ConfigMap"; fills apiVersion/kind of applied objects that lack them
  bool namespaced = true;

  // "v1" or "apps/v1".
  std::string api_version() const;
  // "configmaps" or "deployments.apps", as kubectl and RBAC name it.
  std::string name() const;
  // The request path. ns is ignored for cluster-scoped resources; an empty ns on a
  // namespaced resource addresses all namespaces (lists and watches only).
  std::string path(std::string_view ns, std::string_view object_name = {}, std::string_view subresource = {}) const;
};

namespace resources {

inline const Resource kPlanoGateways{"plano-operator.io", "v1alpha1", "planogateways", "PlanoGateway", true};
inline const Resource kModelProviders{"plano-operator.io", "v1alpha1", "modelproviders", "ModelProvider", true};
inline const Resource kConfigMaps{"", "v1", "configmaps", "ConfigMap", true};
inline const Resource kSecrets{"", "v1", "secrets", "Secret", true};
inline const Resource kServices{"", "v1", "services", "Service", true};
inline const Resource kServiceAccounts{"", "v1", "serviceaccounts", "ServiceAccount", true};
inline const Resource kNamespaces{"", "v1", "namespaces", "Namespace", false};
inline const Resource kDeployments{"apps", "v1", "deployments", "Deployment", true};
inline const Resource kNetworkPolicies{"networking.k8s.io", "v1", "networkpolicies", "NetworkPolicy", true};
inline const Resource kPodDisruptionBudgets{"policy", "v1", "poddisruptionbudgets", "PodDisruptionBudget", true};
inline const Resource kLeases{"coordination.k8s.io", "v1", "leases", "Lease", true};
inline const Resource kEvents{"events.k8s.io", "v1", "events", "Event", true};
inline const Resource kCustomResourceDefinitions{"apiextensions.k8s.io", "v1", "customresourcedefinitions",
                                                 "CustomResourceDefinition", false};
inline const Resource kValidatingWebhookConfigurations{"admissionregistration.k8s.io", "v1",
                                                       "validatingwebhookconfigurations",
                                                       "ValidatingWebhookConfiguration", false};
inline const Resource kSelfSubjectAccessReviews{"authorization.k8s.io", "v1", "selfsubjectaccessreviews",
                                                "SelfSubjectAccessReview", false};
inline const Resource kSubjectAccessReviews{"authorization.k8s.io", "v1", "subjectaccessreviews", "SubjectAccessReview", false};

}  // namespace resources

// Percent-encodes a query parameter value or path segment (everything but RFC 3986 unreserved characters).
std::string url_encode(std::string_view text);

}  // namespace plano::kube
