// Which referenced Secrets were not there when last asked for, so that a reconcile does not wait
// on asking again: a tenant whose many providers name Secrets that do not exist would otherwise
// cost every reconcile of the shared gateway one API call per missing Secret (500 of them took
// 300 ms of each reconcile of a flooded gateway).
#pragma once

#include <chrono>
#include <functional>
#include <mutex>
#include <random>
#include <string>
#include <unordered_map>

namespace plano::op {

class MissingSecrets {
 public:
  using Clock = std::chrono::steady_clock;

  // A Secret found missing is taken as missing, without asking, for a time drawn between half of
  // `recheck` and all of it: drawn, so that Secrets found missing together are asked for again
  // over that span rather than in one reconcile.
  explicit MissingSecrets(std::chrono::milliseconds recheck, std::uint64_t seed = std::random_device{}())
      : recheck_(recheck), random_(seed) {}

  enum class Known {
    No,          // never found missing: ask now
    Missing,     // found missing recently: take it as missing
    RecheckDue,  // found missing a while ago: take it as missing, and ask again (marked asked)
  };
  // What is known of `key` ("namespace/name") at `now`. RecheckDue is answered once per recheck:
  // the Secret counts as found missing again at `now`, so later callers see Missing meanwhile.
  Known check(const std::string& key, Clock::time_point now) {
    std::lock_guard lock(mu_);
    const auto it = until_.find(key);
    if (it == until_.end()) return Known::No;
    if (now < it->second) return Known::Missing;
    it->second = now + spread_locked();
    return Known::RecheckDue;
  }

  void found_missing(const std::string& key, Clock::time_point now) {
    std::lock_guard lock(mu_);
    until_[key] = now + spread_locked();
  }

  void found(const std::string& key) {
    std::lock_guard lock(mu_);
    until_.erase(key);
  }

  // Forgets the Secrets for which `still_wanted` is false (no provider references them any more).
  void keep_only(const std::function<bool(const std::string& key)>& still_wanted) {
    std::lock_guard lock(mu_);
    std::erase_if(until_, [&](const auto& entry) { return !still_wanted(entry.first); });
  }

  std::size_t size() const {
    std::lock_guard lock(mu_);
    return until_.size();
  }

 private:
  std::chrono::milliseconds spread_locked() {
    return std::chrono::milliseconds(std::uniform_int_distribution<long long>(recheck_.count() / 2, recheck_.count())(random_));
  }

  const std::chrono::milliseconds recheck_;
  mutable std::mutex mu_;
  std::mt19937_64 random_;
  std::unordered_map<std::string, Clock::time_point> until_;
};

}  // namespace plano::op
