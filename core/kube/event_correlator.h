// Events like client-go's correlator: a repeat of an Event on the same object is counted on the one
// Event already written (events.k8s.io/v1 series.count and series.lastObservedTime, by a PATCH)
// instead of creating another, and each object has a bounded rate of Event writes.
//
// What is kept from client-go, and where it differs:
// - The correlation key is tools/events' one: the regarding and related objects, type, reason,
//   action, reporting controller and instance; not the note, which the server keeps immutable (the
//   series keeps its first note; the object's conditions hold the current detail). Unlike there,
//   the references leave out resourceVersion, which every status write changes.
// - A series ends when not observed for 6 minutes (tools/events' finishTime): a later repeat
//   starts a new Event. Without a note in the key, tools/record's aggregation of "similar events
//   that differ only by message" (10 within 10 minutes) has nothing left to aggregate.
// - The rate is tools/record's spam filter: a token bucket per object and reporter, 25 writes at
//   once, then one more per 5 minutes. A new Event past the rate is dropped (as there); a repeat
//   past the rate is still counted, and the count is written once a token is back (flush).
// - Both caches hold at most 4,096 entries and drop the least recently used (like client-go's LRU).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "core/kube/event_recorder.h"
#include "core/kube/lru_map.h"

namespace plano::kube {

using EventClock = std::chrono::system_clock;

struct CorrelatorOptions {
  std::size_t cacheEntries = 4096;
  int burst = 25;
  std::chrono::seconds refillEvery{300};
  std::chrono::seconds seriesEnd{360};
};

// One write the correlator decided on.
struct EventWrite {
  enum class Kind { Create, PatchSeries };
  Kind kind = Kind::Create;
  std::string key;      // the correlation key, to report the outcome with
  EventRecord record;   // Create: what to write
  std::string ns, name;  // PatchSeries: which Event
  std::int64_t count = 1;
  EventClock::time_point observed;  // Create: eventTime; PatchSeries: series.lastObservedTime
};

// The decisions alone, on times given by the caller; not thread-safe.
class EventCorrelator {
 public:
  explicit EventCorrelator(CorrelatorOptions options = {});

  // One occurrence at `now`: what to write now, if anything.
  std::optional<EventWrite> observe(const EventRecord& record, EventClock::time_point now);
  // The Create for `key` succeeded under `name`; repeats observed meanwhile come back as a patch
  // when the rate allows.
  std::optional<EventWrite> created(const std::string& key, const std::string& name, EventClock::time_point now);
  // The Event for `key` could not be written or is gone: the next occurrence starts a new one.
  void forget(const std::string& key);
  // Counts that waited for the rate, now written; and series that ended, dropped from the cache.
  std::vector<EventWrite> flush(EventClock::time_point now);

  std::size_t series() const { return series_.size(); }
  std::uint64_t dropped() const { return dropped_; }

 private:
  struct Series {
    std::string ns, name;  // name: empty while the Create is in flight
    std::string rateKey;
    std::int64_t count = 1;    // occurrences observed
    std::int64_t written = 1;  // occurrences the server's Event holds (or a write in flight will)
    EventClock::time_point lastObserved;
  };
  struct Bucket {
    double tokens = 0;
    EventClock::time_point updated;
  };
  bool take_token(const std::string& rate_key, EventClock::time_point now);
  std::optional<EventWrite> patch_if_allowed(const std::string& key, Series& s, EventClock::time_point now);

  CorrelatorOptions options_;
  LruMap<Series> series_;
  LruMap<Bucket> buckets_;
  std::uint64_t dropped_ = 0;
};

// An EventRecorder that correlates, then writes through the sink on the caller's thread: call it
// off the reconcile path (the operator calls it from its async writer).
class CorrelatingEventRecorder final : public EventRecorder {
 public:
  explicit CorrelatingEventRecorder(EventSink& sink, CorrelatorOptions options = {},
                                    std::function<EventClock::time_point()> clock = EventClock::now);
  void record(const EventRecord& record) override;
  // Writes counts that waited for the rate and ends idle series; call every few tens of seconds.
  void flush();

 private:
  void write(EventWrite write);

  EventSink& sink_;
  std::function<EventClock::time_point()> clock_;
  std::mutex mu_;
  EventCorrelator correlator_;
};

}  // namespace plano::kube
