#pragma once

#include <map>
#include <string>

#include "core/api/types.h"

namespace plano::rules {

// Kubernetes label selector semantics: every matchLabels pair and every expression must hold.
bool matches(const api::LabelSelector& selector, const std::map<std::string, std::string>& labels);

}  // namespace plano::rules
