// Namespace labels from a Namespace informer, in the form the rules ask for them.
#pragma once

#include "core/kube/informer.h"
#include "core/rules/evaluation.h"

namespace plano::kube {

// Reads `namespaces` (an informer of Namespaces) on each call; the informer must outlive the result.
rules::NamespaceLabels namespace_labels(const Informer& namespaces);

}  // namespace plano::kube
