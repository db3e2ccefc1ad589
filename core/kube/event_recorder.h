// Where Events go: the interfaces, apart from the correlating implementation (event_correlator.h)
// and from the API server (ApiEventSink in events.h), so that either side can be replaced in tests.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "core/kube/events.h"

namespace plano::kube {

// Writes of events.k8s.io/v1 Events. Both throw ApiError as the client does.
class EventSink {
 public:
  virtual ~EventSink() = default;
  // Creates the Event and returns its name as the server stored it.
  virtual std::string create(const EventRecord& record, std::chrono::system_clock::time_point observed) = 0;
  // Sets series {count, lastObservedTime} on an existing Event.
  virtual void patch_series(const std::string& ns, const std::string& name, std::int64_t count,
                            std::chrono::system_clock::time_point last_observed) = 0;
};

// What controllers call: one occurrence of something worth telling the object's owner. Never
// throws; whether and how it is written is the recorder's business (correlated, rate-limited,
// best effort), and it may write before returning, so controllers call it off the reconcile path.
class EventRecorder {
 public:
  virtual ~EventRecorder() = default;
  virtual void record(const EventRecord& record) = 0;
};

}  // namespace plano::kube
