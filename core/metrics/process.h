// The process_* metrics every Prometheus client library exports (CPU time, memory, file
// descriptors, start time), so dashboards and alerts written for them work unchanged.
#pragma once

#include "core/metrics/registry.h"

namespace plano::metrics {

// Registers the families and reads their values from /proc (Linux) at each scrape.
void register_process_metrics(Registry& registry);

}  // namespace plano::metrics
