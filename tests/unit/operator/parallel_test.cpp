#include "operator/parallel.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <stdexcept>
#include <thread>
#include <vector>

namespace plano::op {
namespace {

TEST(ForEachParallel, CallsEveryIndexExactlyOnce) {
  std::vector<std::atomic<int>> calls(1000);
  for_each_parallel(calls.size(), 8, [&](std::size_t i) { ++calls[i]; });
  for (std::size_t i = 0; i < calls.size(); ++i) EXPECT_EQ(calls[i].load(), 1) << i;
}

TEST(ForEachParallel, NeverRunsMoreThanTheParallelismAtOnce) {
  std::atomic<int> running{0}, peak{0};
  for_each_parallel(64, 3, [&](std::size_t) {
    const int now = ++running;
    for (int seen = peak.load(); now > seen && !peak.compare_exchange_weak(seen, now);) {
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
    --running;
  });
  EXPECT_LE(peak.load(), 3);
  EXPECT_GE(peak.load(), 2);  // it does run side by side
}

TEST(ForEachParallel, RethrowsTheFirstFailureAfterTheRestHaveRun) {
  std::atomic<int> done{0};
  EXPECT_THROW(for_each_parallel(50, 4,
                                 [&](std::size_t i) {
                                   if (i == 7) throw std::runtime_error("boom");
                                   ++done;
                                 }),
               std::runtime_error);
  EXPECT_EQ(done.load(), 49);
}

TEST(ForEachParallel, NothingToDoReturnsAtOnce) {
  bool called = false;
  for_each_parallel(0, 8, [&](std::size_t) { called = true; });
  EXPECT_FALSE(called);
}

}  // namespace
}  // namespace plano::op
