#include "core/kube/event_correlator.h"

#include <spdlog/spdlog.h>

#include <algorithm>

namespace plano::kube {
namespace {

// The object a reference names, without its resourceVersion (every status write changes it).
std::string object_identity(const nlohmann::json& reference) {
  std::string out;
  for (const char* field : {"apiVersion", "kind", "namespace", "name", "uid"}) {
    const auto it = reference.find(field);
    if (it != reference.end() && it->is_string()) out += it->get<std::string>();
    out += '\x1f';
  }
  return out;
}

std::string rate_key(const EventRecord& r) {
  return object_identity(r.regarding) + r.reporting_controller + '\x1f' + r.reporting_instance;
}

std::string correlation_key(const EventRecord& r) {
  return rate_key(r) + '\x1f' + (r.type == EventType::Warning ? "Warning" : "Normal") + '\x1f' + r.reason + '\x1f' +
         r.action + '\x1f' + (r.related ? object_identity(*r.related) : std::string());
}

}  // namespace

EventCorrelator::EventCorrelator(CorrelatorOptions options)
    : options_(options), series_(options.cacheEntries), buckets_(options.cacheEntries) {}

bool EventCorrelator::take_token(const std::string& key, EventClock::time_point now) {
  auto* bucket = buckets_.find(key);
  if (!bucket) bucket = &buckets_.put(key, Bucket{static_cast<double>(options_.burst), now});
  const auto elapsed = std::chrono::duration<double>(now - bucket->updated).count();
  if (elapsed > 0) {
    bucket->tokens = std::min<double>(options_.burst, bucket->tokens + elapsed / static_cast<double>(options_.refillEvery.count()));
    bucket->updated = now;
  }
  if (bucket->tokens < 1) return false;
  bucket->tokens -= 1;
  return true;
}

std::optional<EventWrite> EventCorrelator::patch_if_allowed(const std::string& key, Series& s, EventClock::time_point now) {
  if (s.name.empty() || s.count <= s.written || !take_token(s.rateKey, now)) return std::nullopt;
  s.written = s.count;
  EventWrite w;
  w.kind = EventWrite::Kind::PatchSeries;
  w.key = key;
  w.ns = s.ns;
  w.name = s.name;
  w.count = s.count;
  w.observed = s.lastObserved;
  return w;
}

std::optional<EventWrite> EventCorrelator::observe(const EventRecord& record, EventClock::time_point now) {
  const auto key = correlation_key(record);
  if (auto* s = series_.find(key); s && now - s->lastObserved <= options_.seriesEnd) {
    ++s->count;
    s->lastObserved = std::max(s->lastObserved, now);
    return patch_if_allowed(key, *s, now);
  }
  const auto rate = rate_key(record);
  if (!take_token(rate, now)) {
    ++dropped_;
    series_.erase(key);  // an ended series: the next occurrence that gets a token starts anew
    return std::nullopt;
  }
  series_.put(key, Series{record.regarding.value("namespace", "default"), "", rate, 1, 1, now});
  EventWrite w;
  w.kind = EventWrite::Kind::Create;
  w.key = key;
  w.record = record;
  w.observed = now;
  return w;
}

std::optional<EventWrite> EventCorrelator::created(const std::string& key, const std::string& name, EventClock::time_point now) {
  auto* s = series_.find(key);
  if (!s) return std::nullopt;  // evicted meanwhile
  s->name = name;
  return patch_if_allowed(key, *s, now);
}

void EventCorrelator::forget(const std::string& key) { series_.erase(key); }

std::vector<EventWrite> EventCorrelator::flush(EventClock::time_point now) {
  std::vector<EventWrite> writes;
  series_.retain([&](const std::string& key, Series& s) {
    if (auto w = patch_if_allowed(key, s, now)) writes.push_back(std::move(*w));
    // Ended, and the server holds its final count (or it never will: the Create is lost).
    return !(now - s.lastObserved > options_.seriesEnd && (s.count == s.written || s.name.empty()));
  });
  return writes;
}

CorrelatingEventRecorder::CorrelatingEventRecorder(EventSink& sink, CorrelatorOptions options,
                                                   std::function<EventClock::time_point()> clock)
    : sink_(sink), clock_(std::move(clock)), correlator_(options) {}

void CorrelatingEventRecorder::record(const EventRecord& record) {
  std::optional<EventWrite> w;
  {
    std::lock_guard lock(mu_);
    w = correlator_.observe(record, clock_());
  }
  if (w) write(std::move(*w));
}

void CorrelatingEventRecorder::flush() {
  std::vector<EventWrite> writes;
  {
    std::lock_guard lock(mu_);
    writes = correlator_.flush(clock_());
  }
  for (auto& w : writes) write(std::move(w));
}

// Best effort, like every Event: a write that fails is logged, and its series forgotten so that
// the next occurrence starts a new Event. Series counts are absolute, so a lost patch, or two
// patches of one Event landing out of order from two threads, heal with the next one.
void CorrelatingEventRecorder::write(EventWrite w) {
  try {
    if (w.kind == EventWrite::Kind::Create) {
      const auto name = sink_.create(w.record, w.observed);
      std::optional<EventWrite> repeats;
      {
        std::lock_guard lock(mu_);
        repeats = correlator_.created(w.key, name, clock_());
      }
      if (repeats) write(std::move(*repeats));
    } else {
      sink_.patch_series(w.ns, w.name, w.count, w.observed);
    }
  } catch (const std::exception& e) {
    {
      std::lock_guard lock(mu_);
      correlator_.forget(w.key);
    }
    spdlog::warn("cannot record event {} {}/{}: {}", w.kind == EventWrite::Kind::Create ? w.record.reason : "series of",
                 w.ns.empty() ? w.record.regarding.value("namespace", "") : w.ns,
                 w.name.empty() ? w.record.regarding.value("name", "") : w.name, e.what());
  }
}

}  // namespace plano::kube
