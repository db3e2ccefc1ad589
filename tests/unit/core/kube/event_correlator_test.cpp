#include "core/kube/event_correlator.h"

#include <gtest/gtest.h>

#include <stdexcept>

namespace plano::kube {
namespace {

using namespace std::chrono_literals;
using Kind = EventWrite::Kind;

const EventClock::time_point t0 = EventClock::time_point{} + std::chrono::hours(24 * 365 * 56);

EventRecord event(const std::string& name, const std::string& reason, const std::string& note = "note",
                  const std::string& resource_version = "1") {
  EventRecord r;
  r.regarding = {{"apiVersion", "plano-operator.io/v1alpha1"}, {"kind", "ModelProvider"}, {"namespace", "team"},
                 {"name", name}, {"uid", "uid-" + name}, {"resourceVersion", resource_version}};
  r.type = EventType::Warning;
  r.reason = reason;
  r.note = note;
  r.action = "Reconcile";
  r.reporting_controller = "plano-operator.io/operator";
  r.reporting_instance = "op-0";
  return r;
}

TEST(EventCorrelator, RepeatsAreCountedOnTheOneEvent) {
  EventCorrelator c;
  auto first = c.observe(event("p", "SecretNotFound"), t0);
  ASSERT_TRUE(first);
  EXPECT_EQ(first->kind, Kind::Create);
  EXPECT_EQ(first->observed, t0);
  // A repeat while the Create is in flight waits for the Event's name...
  EXPECT_FALSE(c.observe(event("p", "SecretNotFound"), t0 + 1s));
  // ...and is written as the series once the name is known.
  auto series = c.created(first->key, "p.abc", t0 + 2s);
  ASSERT_TRUE(series);
  EXPECT_EQ(series->kind, Kind::PatchSeries);
  EXPECT_EQ(series->name, "p.abc");
  EXPECT_EQ(series->ns, "team");
  EXPECT_EQ(series->count, 2);
  EXPECT_EQ(series->observed, t0 + 1s);
  // Another note and another resourceVersion of the object: still the same Event.
  auto third = c.observe(event("p", "SecretNotFound", "other words", "7"), t0 + 3s);
  ASSERT_TRUE(third);
  EXPECT_EQ(third->kind, Kind::PatchSeries);
  EXPECT_EQ(third->count, 3);
  EXPECT_EQ(third->observed, t0 + 3s);
  EXPECT_EQ(c.series(), 1u);
}

TEST(EventCorrelator, AnotherReasonTypeOrObjectIsAnotherEvent) {
  EventCorrelator c;
  ASSERT_EQ(c.observe(event("p", "SecretNotFound"), t0)->kind, Kind::Create);
  EXPECT_EQ(c.observe(event("p", "KeyNotFound"), t0)->kind, Kind::Create);
  EXPECT_EQ(c.observe(event("q", "SecretNotFound"), t0)->kind, Kind::Create);
  auto normal = event("p", "SecretNotFound");
  normal.type = EventType::Normal;
  EXPECT_EQ(c.observe(normal, t0)->kind, Kind::Create);
  EXPECT_EQ(c.series(), 4u);
}

TEST(EventCorrelator, ASeriesIdleForSixMinutesEndsAndTheNextRepeatStartsAnew) {
  EventCorrelator c;
  auto first = c.observe(event("p", "Conflict"), t0);
  c.created(first->key, "p.1", t0);
  EXPECT_EQ(c.observe(event("p", "Conflict"), t0 + 6min)->kind, Kind::PatchSeries);  // within 6 minutes of the last
  EXPECT_TRUE(c.flush(t0 + 12min).empty());
  EXPECT_EQ(c.series(), 1u);  // ended 6 minutes after its last repeat, not before
  EXPECT_TRUE(c.flush(t0 + 12min + 1s).empty());
  EXPECT_EQ(c.series(), 0u);
  EXPECT_EQ(c.observe(event("p", "Conflict"), t0 + 13min)->kind, Kind::Create);
}

TEST(EventCorrelator, EachObjectHasABurstOf25ThenOneWritePerFiveMinutes) {
  EventCorrelator c;
  for (int i = 0; i < 25; ++i) {
    auto w = c.observe(event("p", "Reason" + std::to_string(i)), t0);
    ASSERT_TRUE(w) << i;
    EXPECT_EQ(w->kind, Kind::Create);
  }
  EXPECT_FALSE(c.observe(event("p", "Reason25"), t0 + 1s));  // past the burst: a new Event is dropped
  EXPECT_EQ(c.dropped(), 1u);
  EXPECT_TRUE(c.observe(event("q", "Reason0"), t0 + 1s));  // another object has its own bucket
  EXPECT_FALSE(c.observe(event("p", "Reason26"), t0 + 4min));
  EXPECT_TRUE(c.observe(event("p", "Reason27"), t0 + 5min + 2s));  // one token back
  EXPECT_FALSE(c.observe(event("p", "Reason28"), t0 + 5min + 3s));
}

TEST(EventCorrelator, ARepeatPastTheRateIsCountedAndWrittenWhenATokenIsBack) {
  EventCorrelator c({4096, 2, std::chrono::seconds(300), std::chrono::seconds(360)});
  auto first = c.observe(event("p", "Conflict"), t0);
  EXPECT_FALSE(c.created(first->key, "p.1", t0));
  EXPECT_EQ(c.observe(event("p", "Conflict"), t0 + 1s)->count, 2);  // the second token
  EXPECT_FALSE(c.observe(event("p", "Conflict"), t0 + 2s));         // counted, not written
  EXPECT_FALSE(c.observe(event("p", "Conflict"), t0 + 3s));
  EXPECT_TRUE(c.flush(t0 + 4s).empty());
  auto due = c.flush(t0 + 5min + 1s);
  ASSERT_EQ(due.size(), 1u);
  EXPECT_EQ(due[0].kind, Kind::PatchSeries);
  EXPECT_EQ(due[0].count, 4);
  EXPECT_EQ(due[0].observed, t0 + 3s);
  EXPECT_TRUE(c.flush(t0 + 20min).empty());  // written; and now ended
  EXPECT_EQ(c.series(), 0u);
}

TEST(EventCorrelator, TheCacheIsBounded) {
  EventCorrelator c({3, 25, std::chrono::seconds(300), std::chrono::seconds(360)});
  for (int i = 0; i < 10; ++i) c.observe(event("p" + std::to_string(i), "Conflict"), t0);
  EXPECT_EQ(c.series(), 3u);
  // The least recently used went first: p9 is a repeat (its Create still in flight, so nothing to
  // write yet), p0 a new Event again.
  EXPECT_FALSE(c.observe(event("p9", "Conflict"), t0));
  EXPECT_EQ(c.observe(event("p0", "Conflict"), t0)->kind, Kind::Create);
  EXPECT_EQ(c.series(), 3u);
}

// A sink that keeps what it was asked to write, and fails on demand.
struct RecordingSink : EventSink {
  std::vector<std::string> writes;
  bool fail = false;
  std::string create(const EventRecord& record, EventClock::time_point) override {
    if (fail) throw std::runtime_error("refused");
    writes.push_back("create " + record.reason);
    return record.regarding.value("name", "") + "." + std::to_string(writes.size());
  }
  void patch_series(const std::string&, const std::string& name, std::int64_t count, EventClock::time_point) override {
    if (fail) throw std::runtime_error("refused");
    writes.push_back("patch " + name + " " + std::to_string(count));
  }
};

TEST(CorrelatingEventRecorder, CreatesOncePatchesRepeatsAndStartsOverAfterAFailure) {
  RecordingSink sink;
  auto now = t0;
  CorrelatingEventRecorder recorder(sink, {}, [&now] { return now; });
  recorder.record(event("p", "SecretNotFound"));
  now += 1s;
  recorder.record(event("p", "SecretNotFound"));
  now += 1s;
  recorder.record(event("p", "SecretNotFound"));
  EXPECT_EQ(sink.writes, (std::vector<std::string>{"create SecretNotFound", "patch p.1 2", "patch p.1 3"}));
  sink.fail = true;
  recorder.record(event("p", "SecretNotFound"));  // logged, and the series forgotten
  sink.fail = false;
  recorder.record(event("p", "SecretNotFound"));
  EXPECT_EQ(sink.writes.back(), "create SecretNotFound");
}

}  // namespace
}  // namespace plano::kube
