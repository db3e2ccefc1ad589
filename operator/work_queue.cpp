#include "operator/work_queue.h"

#include <algorithm>
#include <deque>

namespace plano::op {

WorkQueue::WorkQueue(Options options)
    : options_(options), tokens_(static_cast<double>(options.burst)), last_refill_(Clock::now()) {}

void WorkQueue::make_ready_locked(const std::string& key) {
  if (processing_.count(key)) {
    dirty_while_processing_.insert(key);
    return;
  }
  if (!queued_.insert(key).second) return;
  ready_.push_back(key);
  cv_.notify_one();
}

void WorkQueue::add(const std::string& key) {
  std::lock_guard lock(mu_);
  if (shutting_down_) return;
  make_ready_locked(key);
}

void WorkQueue::add_after(const std::string& key, std::chrono::milliseconds delay) {
  std::lock_guard lock(mu_);
  if (shutting_down_) return;
  if (delay.count() <= 0) return make_ready_locked(key);
  delayed_.emplace(Clock::now() + delay, key);
  cv_.notify_one();
}

std::chrono::milliseconds WorkQueue::backoff_locked(const std::string& key) {
  const int n = failures_[key]++;
  std::chrono::milliseconds per_key = options_.baseDelay * (1LL << std::min(n, 30));
  per_key = std::min<std::chrono::milliseconds>(per_key, options_.maxDelay);
  // Token bucket: every retry spends a token; an empty bucket means waiting for the next one.
  auto now = Clock::now();
  tokens_ = std::min<double>(static_cast<double>(options_.burst),
                             tokens_ + std::chrono::duration<double>(now - last_refill_).count() * options_.ratePerSecond);
  last_refill_ = now;
  tokens_ -= 1;
  std::chrono::milliseconds overall{0};
  if (tokens_ < 0) overall = std::chrono::milliseconds(static_cast<long long>(-tokens_ / options_.ratePerSecond * 1000));
  return std::max<std::chrono::milliseconds>(per_key, overall);
}

void WorkQueue::add_rate_limited(const std::string& key) {
  std::chrono::milliseconds delay;
  {
    std::lock_guard lock(mu_);
    delay = backoff_locked(key);
  }
  add_after(key, delay);
}

void WorkQueue::forget(const std::string& key) {
  std::lock_guard lock(mu_);
  failures_.erase(key);
}

std::optional<std::string> WorkQueue::get() {
  std::unique_lock lock(mu_);
  for (;;) {
    auto now = Clock::now();
    while (!delayed_.empty() && delayed_.begin()->first <= now) {
      auto key = delayed_.begin()->second;
      delayed_.erase(delayed_.begin());
      make_ready_locked(key);
    }
    if (!ready_.empty()) {
      auto key = ready_.front();
      ready_.pop_front();
      queued_.erase(key);
      processing_.insert(key);
      return key;
    }
    if (shutting_down_) return std::nullopt;
    if (delayed_.empty()) {
      cv_.wait(lock);
    } else {
      // A copy: wait_until reads its deadline again after waking, and another worker may have
      // erased that entry meanwhile (ASan caught the read of the freed node).
      const auto until = delayed_.begin()->first;
      cv_.wait_until(lock, until);
    }
  }
}

void WorkQueue::done(const std::string& key) {
  std::lock_guard lock(mu_);
  processing_.erase(key);
  if (dirty_while_processing_.erase(key) && !shutting_down_) make_ready_locked(key);
}

void WorkQueue::shut_down() {
  std::lock_guard lock(mu_);
  shutting_down_ = true;
  cv_.notify_all();
}

std::size_t WorkQueue::depth() const {
  std::lock_guard lock(mu_);
  return ready_.size();
}

int WorkQueue::retries(const std::string& key) const {
  std::lock_guard lock(mu_);
  auto it = failures_.find(key);
  return it == failures_.end() ? 0 : it->second;
}

}  // namespace plano::op
