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

// A listener's timeout in milliseconds, and in whole seconds rounded up (Plano's 300s when unset;
// saturating at about 2^50 ms).
std::int64_t listener_timeout_ms(const api::Listener& listener);
std::int64_t listener_timeout_seconds(const api::Listener& listener);
// How long a gateway's pods get to stop: spec.deployment.terminationGracePeriodSeconds, or the
// longest listener timeout plus api::kGraceMarginSeconds.
std::int64_t termination_grace_seconds(const api::PlanoGatewaySpec& spec);
inline constexpr std::int64_t kMinGraceSeconds = 30;
inline constexpr std::int64_t kMaxGraceSeconds = 86400;

// A provider's spec.aliases: how many, and how long each may be (the CRD's maxItems and maxLength).
inline constexpr std::size_t kMaxAliases = 16;
inline constexpr std::size_t kMaxAliasLength = 256;

// spec.tracing's bounds, as the CRD has them.
inline constexpr std::size_t kMaxTracingEndpointLength = 512;
inline constexpr std::size_t kMaxHeaderPrefixes = 16;
inline constexpr std::size_t kMaxHeaderPrefixLength = 64;
inline constexpr std::size_t kMaxStaticAttributes = 32;
inline constexpr std::size_t kMaxAttributeNameLength = 128;
inline constexpr std::size_t kMaxAttributeValueLength = 256;

// spec.rateLimits' bounds, as the CRD has them: tokens is Plano's u32, and 0 makes its filter panic.
inline constexpr std::size_t kMaxRateLimits = 64;
inline constexpr std::size_t kMaxRateLimitModelLength = 256;
inline constexpr std::size_t kMaxSelectorKeyLength = 128;
inline constexpr std::size_t kMaxSelectorValueLength = 256;
inline constexpr std::int64_t kMaxRateLimitTokens = 4294967295;
// spec.routing.contextLength's bounds (Plano's default is 8192 tokens).
inline constexpr std::int64_t kMinRoutingContextLength = 1024;
inline constexpr std::int64_t kMaxRoutingContextLength = 1048576;

// spec.modelMetrics' bounds, as the CRD has them.
inline constexpr std::size_t kMaxMetricsUrlLength = 512;
inline constexpr std::size_t kMaxLatencyQueryLength = 2048;
inline constexpr std::size_t kMaxCostModelAliases = 64;
inline constexpr std::size_t kMaxCostModelAliasLength = 256;
inline constexpr std::int64_t kMinMetricsRefreshSeconds = 10;
inline constexpr std::int64_t kMaxMetricsRefreshSeconds = 86400;

// The model_id of a <provider>/<model_id> model: what Plano compares (everything after the first '/').
std::string_view model_id_of(std::string_view model);

std::vector<Finding> check_gateway(const api::PlanoGateway& gw);
std::vector<Finding> check_provider(const api::ModelProvider& mp);

}  // namespace plano::rules
