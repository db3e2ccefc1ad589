// Jittered exponential backoff, shared by request retries and informer reconnects.
#pragma once

#include <algorithm>
#include <chrono>
#include <random>

namespace plano::kube {

class Backoff {
 public:
  Backoff(std::chrono::milliseconds initial, std::chrono::milliseconds max) : initial_(initial), max_(max) {}

  // The next delay: the current step scaled by a random factor in [0.5, 1.5),
  // capped at max, so many clients failing together do not retry in lockstep.
  std::chrono::milliseconds next() {
    double step = static_cast<double>(std::min(current_, max_).count());
    thread_local std::mt19937_64 rng{std::random_device{}()};
    double factor = std::uniform_real_distribution<double>(0.5, 1.5)(rng);
    auto delay = std::chrono::milliseconds(static_cast<long long>(step * factor));
    current_ = std::min(current_ * 2, max_);
    return std::min(delay, max_);
  }

  void reset() { current_ = initial_; }

 private:
  std::chrono::milliseconds initial_;
  std::chrono::milliseconds max_;
  std::chrono::milliseconds current_ = initial_;
};

// A random duration in [base, base * (1 + fraction)).
inline std::chrono::seconds jittered(std::chrono::seconds base, double fraction) {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  double extra = std::uniform_real_distribution<double>(0.0, fraction)(rng);
  return std::chrono::seconds(static_cast<long long>(static_cast<double>(base.count()) * (1.0 + extra)));
}

}  // namespace plano::kube
