// A work queue of keys, as controllers use them: a key is queued at most once, is never handed
// to two workers at once, retries back off per key, and an overall token bucket caps the rate.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>

namespace plano::op {

class WorkQueue {
 public:
  using Clock = std::chrono::steady_clock;

  struct Options {
    std::chrono::milliseconds baseDelay{5};
    std::chrono::milliseconds maxDelay{60'000};
    double ratePerSecond = 50;  // overall limit for retries, as client-go's default bucket
    std::size_t burst = 300;
  };

  WorkQueue() : WorkQueue(Options{}) {}
  explicit WorkQueue(Options options);

  // Queues `key` now (a second add before it is taken is a no-op).
  void add(const std::string& key);
  // Queues `key` after `delay`.
  void add_after(const std::string& key, std::chrono::milliseconds delay);
  // Queues `key` after its own exponential backoff and the overall rate limit.
  void add_rate_limited(const std::string& key);
  // Resets `key`'s backoff after a success.
  void forget(const std::string& key);
  // Blocks until a key is ready or the queue shuts down (nullopt).
  std::optional<std::string> get();
  // Marks `key` finished; if it was re-added meanwhile, it is queued again.
  void done(const std::string& key);
  void shut_down();

  std::size_t depth() const;  // ready keys, for metrics
  int retries(const std::string& key) const;

 private:
  void make_ready_locked(const std::string& key);
  std::chrono::milliseconds backoff_locked(const std::string& key);

  Options options_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::set<std::string> queued_;       // in ready_ or waiting to be
  std::set<std::string> processing_;
  std::set<std::string> dirty_while_processing_;
  std::multimap<Clock::time_point, std::string> delayed_;
  std::deque<std::string> ready_;
  std::map<std::string, int> failures_;
  double tokens_;
  Clock::time_point last_refill_;
  bool shutting_down_ = false;
};

}  // namespace plano::op
