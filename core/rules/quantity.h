// Kubernetes resource quantities ("500m", "2", "1Gi", "1e3"), as a Deployment's containers take
// them, and the durations the CRDs take ("30s", "500ms", "5m").
#pragma once

#include <chrono>
#include <compare>
#include <optional>
#include <string_view>

namespace plano::rules {

__extension__ using QuantityInt = __int128;  // 2^127 nano-units: beyond any real resource

// A quantity exactly, in nano-units (1n, Kubernetes' smallest; finer fractions round up as
// Kubernetes rounds them), saturating far beyond any real amount.
struct Quantity {
  QuantityInt nanos = 0;
  auto operator<=>(const Quantity&) const = default;
};

// nullopt when `text` is not a quantity: a signed decimal, then one binary (Ki..Ei) or decimal
// (n, u, m, k, M..E) suffix or an integer exponent (e3, E-2).
std::optional<Quantity> parse_quantity(std::string_view text);

// nullopt when `text` is not 1 to 9 digits followed by ms, s, m or h (the CRDs' pattern for
// listener timeouts and the rollout interval, and what the operator acts on).
std::optional<std::chrono::milliseconds> parse_duration(std::string_view text);

}  // namespace plano::rules
