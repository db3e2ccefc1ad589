// What of an object is bookkeeping: metadata.managedFields (server-side apply) and kubectl's
// last-applied-configuration annotation (client-side apply, a second copy of the object). Large, and
// never read from a cache: informers leave them out.
#pragma once

#include <string_view>

#include <nlohmann/json.hpp>

namespace plano::kube {

// The object without its bookkeeping (an annotations map left empty goes too).
nlohmann::json without_bookkeeping(nlohmann::json object);

// Parses a watch event (`{"type": ..., "object": {...}}`), building the object without its
// bookkeeping: skipped as it is read rather than built and dropped. An empty annotations map stays.
// Returns a discarded value when the text is not JSON.
nlohmann::json parse_event_without_bookkeeping(std::string_view event);

}  // namespace plano::kube
