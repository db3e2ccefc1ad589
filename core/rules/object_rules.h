// Rules that judge one object alone. The CRDs carry the same rules as CEL, so the API server
// enforces them even when the webhook is down; tests/ keeps the two in step.
#pragma once

#include <string_view>
#include <vector>

#include "core/api/types.h"
#include "core/rules/finding.h"

namespace plano::rules {

ObjectRef ref_of(const api::PlanoGateway& gw);
ObjectRef ref_of(const api::ModelProvider& mp);

// The gateway's objects are named "<name>-plano..."; its Service name is a DNS-1035 label of at most 63.
inline constexpr std::size_t kMaxGatewayNameLength = 57;
bool is_deployable_gateway_name(std::string_view name);

std::vector<Finding> check_gateway(const api::PlanoGateway& gw);
std::vector<Finding> check_provider(const api::ModelProvider& mp);

}  // namespace plano::rules
