#include "operator/async_writer.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace plano::op {
namespace {

using namespace std::chrono_literals;

bool eventually(const std::function<bool()>& done, std::chrono::milliseconds limit = 5s) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(1ms);
  }
  return true;
}

TEST(AsyncWriter, ANewerWriteReplacesOneNotYetMadeAndOrderHolds) {
  AsyncWriter writer(4);
  writer.start();
  std::mutex mu;
  std::vector<std::string> written;
  std::promise<void> release;
  auto released = release.get_future().share();
  std::atomic<bool> first_running{false};
  writer.submit("status/a", [&] {
    first_running = true;
    released.wait();
    std::lock_guard lock(mu);
    written.push_back("v1");
  });
  ASSERT_TRUE(eventually([&] { return first_running.load(); }));
  for (const char* v : {"v2", "v3"}) {
    writer.submit("status/a", [&, v] {
      std::lock_guard lock(mu);
      written.push_back(v);
    });
  }
  release.set_value();
  ASSERT_TRUE(eventually([&] {
    std::lock_guard lock(mu);
    return written.size() == 2;
  }));
  std::this_thread::sleep_for(20ms);
  std::lock_guard lock(mu);
  EXPECT_EQ(written, (std::vector<std::string>{"v1", "v3"}));
}

TEST(AsyncWriter, AFailedWriteIsRetriedUntilItSucceeds) {
  AsyncWriter writer(2);
  writer.start();
  std::atomic<int> calls{0};
  writer.submit("status/a", [&] {
    if (++calls < 3) throw std::runtime_error("API server unavailable");
  });
  EXPECT_TRUE(eventually([&] { return calls.load() == 3; }));
  std::this_thread::sleep_for(50ms);
  EXPECT_EQ(calls.load(), 3);
  EXPECT_EQ(writer.pending(), 0u);
}

TEST(AsyncWriter, AFailedWriteIsNotRetriedOnceANewerOneArrived) {
  AsyncWriter writer(2);
  writer.start();
  std::atomic<int> old_calls{0}, new_calls{0};
  std::promise<void> release;
  auto released = release.get_future().share();
  writer.submit("status/a", [&] {
    ++old_calls;
    released.wait();
    throw std::runtime_error("conflict");
  });
  ASSERT_TRUE(eventually([&] { return old_calls.load() == 1; }));
  writer.submit("status/a", [&] { ++new_calls; });
  release.set_value();
  EXPECT_TRUE(eventually([&] { return new_calls.load() == 1; }));
  std::this_thread::sleep_for(50ms);
  EXPECT_EQ(old_calls.load(), 1);
  EXPECT_EQ(new_calls.load(), 1);
}

TEST(AsyncWriter, DistinctKeysAllRunSideBySide) {
  AsyncWriter writer(4);
  writer.start();
  std::atomic<int> running{0}, peak{0}, done{0};
  for (int i = 0; i < 40; ++i) {
    writer.submit("event/" + std::to_string(i), [&] {
      const int now = ++running;
      for (int seen = peak.load(); now > seen && !peak.compare_exchange_weak(seen, now);) {
      }
      std::this_thread::sleep_for(2ms);
      --running;
      ++done;
    });
  }
  EXPECT_TRUE(eventually([&] { return done.load() == 40; }));
  EXPECT_LE(peak.load(), 4);
  EXPECT_GE(peak.load(), 2);
}

TEST(AsyncWriter, StopDropsWhatIsPendingAndReturns) {
  std::atomic<int> calls{0};
  {
    AsyncWriter writer(1);
    writer.submit("status/a", [&] { ++calls; });  // not started: stays pending
    EXPECT_EQ(writer.pending(), 1u);
    writer.stop();
  }
  EXPECT_EQ(calls.load(), 0);
}

}  // namespace
}  // namespace plano::op
