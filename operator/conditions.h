// metav1.Condition bookkeeping, as Kubernetes API conventions describe it.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/api/types.h"

namespace plano::op {

// Sets `c` in `conditions` by type. lastTransitionTime moves only when the status changes, so a
// steady state produces identical status and therefore no write.
void set_condition(std::vector<api::Condition>& conditions, api::Condition c, const std::string& now);

const api::Condition* find_condition(const std::vector<api::Condition>& conditions, const std::string& type);

nlohmann::json to_json(const std::vector<api::Condition>& conditions);

// RFC 3339 UTC with seconds, as metav1.Time serialises.
std::string now_rfc3339();

}  // namespace plano::op
