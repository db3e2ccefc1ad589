#include "operator/work_queue.h"

#include <gtest/gtest.h>

#include <thread>

namespace plano::op {
namespace {

using namespace std::chrono_literals;

TEST(WorkQueue, DeduplicatesQueuedKeys) {
  WorkQueue q;
  q.add("a");
  q.add("a");
  q.add("b");
  EXPECT_EQ(q.depth(), 2u);
  EXPECT_EQ(*q.get(), "a");
  EXPECT_EQ(*q.get(), "b");
  EXPECT_EQ(q.depth(), 0u);
}

TEST(WorkQueue, KeyAddedWhileProcessingComesBackAfterDone) {
  WorkQueue q;
  q.add("a");
  auto key = q.get();
  q.add("a");  // changed while a worker holds it: must not go to a second worker now
  EXPECT_EQ(q.depth(), 0u);
  q.done(*key);
  EXPECT_EQ(q.depth(), 1u);
  EXPECT_EQ(*q.get(), "a");
}

TEST(WorkQueue, AddAfterWaits) {
  WorkQueue q;
  auto start = WorkQueue::Clock::now();
  q.add_after("a", 50ms);
  EXPECT_EQ(*q.get(), "a");
  EXPECT_GE(WorkQueue::Clock::now() - start, 50ms);
}

TEST(WorkQueue, BackoffGrowsPerKeyAndResetsOnForget) {
  WorkQueue::Options o;
  o.baseDelay = 10ms;
  WorkQueue q(o);
  for (int i = 0; i < 3; ++i) {
    q.add_rate_limited("a");
    auto key = q.get();
    q.done(*key);
  }
  EXPECT_EQ(q.retries("a"), 3);
  auto start = WorkQueue::Clock::now();
  q.add_rate_limited("a");  // fourth failure: 10ms * 2^3
  q.get();
  EXPECT_GE(WorkQueue::Clock::now() - start, 80ms);
  q.forget("a");
  EXPECT_EQ(q.retries("a"), 0);
}

TEST(WorkQueue, BackoffIsCapped) {
  WorkQueue::Options o;
  o.baseDelay = 1ms;
  o.maxDelay = 20ms;
  WorkQueue q(o);
  for (int i = 0; i < 40; ++i) {
    q.add_rate_limited("a");
    q.done(*q.get());
  }
  auto start = WorkQueue::Clock::now();
  q.add_rate_limited("a");
  q.get();
  EXPECT_LT(WorkQueue::Clock::now() - start, 1s);
}

TEST(WorkQueue, OverallRateLimit) {
  WorkQueue::Options o;
  o.baseDelay = 0ms;
  o.ratePerSecond = 100;
  o.burst = 5;
  WorkQueue q(o);
  auto start = WorkQueue::Clock::now();
  for (int i = 0; i < 25; ++i) q.add_rate_limited("k" + std::to_string(i));
  for (int i = 0; i < 25; ++i) q.done(*q.get());
  // 5 from the burst, 20 more at 100/s: about 200 ms.
  EXPECT_GE(WorkQueue::Clock::now() - start, 150ms);
}

TEST(WorkQueue, ShutDownWakesWorkers) {
  WorkQueue q;
  std::optional<std::string> got = "unset";
  std::thread worker([&] { got = q.get(); });
  std::this_thread::sleep_for(20ms);
  q.shut_down();
  worker.join();
  EXPECT_FALSE(got);
}

}  // namespace
}  // namespace plano::op
