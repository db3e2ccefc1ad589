// The plain-HTTP side every long-running subcommand serves: /healthz, /readyz and /metrics.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "core/http/server.h"
#include "core/metrics/registry.h"

namespace plano::http {

// Serves GET /healthz (always 200), /readyz (200 when `ready()`, else 503 with `not_ready`) and
// /metrics from `registry` on `address` ("HOST:PORT", see parse_address). Logs where it listens.
std::unique_ptr<Server> start_probe_server(const std::string& address, std::function<bool()> ready,
                                           std::string not_ready, metrics::Registry& registry);

}  // namespace plano::http
