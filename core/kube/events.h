// Recording events.k8s.io/v1 Events about objects (what `kubectl describe` shows).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "core/kube/client.h"

namespace plano::kube {

enum class EventType { Normal, Warning };

struct EventRecord {
  // What the event is about, as object_reference(object) gives it: a reference, not the object, so
  // that events waiting to be written hold a few fields rather than whole objects.
  nlohmann::json regarding;
  EventType type = EventType::Normal;
  std::string reason;  // UpperCamelCase, machine-readable: "ProviderRejected"
  std::string note;    // for humans; cut to the API's 1 kB limit
  std::string action;  // what was done or failed: "Reconcile"
  std::string reporting_controller;  // "plano-operator.io/operator"
  std::string reporting_instance;    // this replica, e.g. the pod name
  std::optional<nlohmann::json> related;  // a second object involved, if any, also as a reference
};

// An ObjectReference {apiVersion, kind, namespace, name, uid, resourceVersion} to an object.
nlohmann::json object_reference(const nlohmann::json& object);

// A MicroTime as the API wants it: 2006-01-02T15:04:05.000000Z.
std::string micro_time(std::chrono::system_clock::time_point at);

// The Event object create_event would send (no I/O), observed at `at`.
nlohmann::json make_event(const EventRecord& record,
                          std::chrono::system_clock::time_point at = std::chrono::system_clock::now());

// Creates the Event in the regarding object's namespace ("default" for
// cluster-scoped objects) and returns it as the server stored it.
nlohmann::json create_event(ApiClient& client, const EventRecord& record,
                            std::chrono::system_clock::time_point at = std::chrono::system_clock::now());

// Counts repeats on an Event already written: its series is {count, lastObservedTime}.
void patch_event_series(ApiClient& client, const std::string& ns, const std::string& name, std::int64_t count,
                        std::chrono::system_clock::time_point last_observed);

}  // namespace plano::kube
