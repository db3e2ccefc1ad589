// Statuses this process wrote, read in place of the cached ones until the informer delivers the
// version each write produced: a reconcile then judges transitions (and so Events such as
// ConfigRolledOut) against what it last decided, not against a copy from before its own write.
// Keyed by the version written, not the version read: another writer's change that the informer
// delivers first (an annotation patched between the read and the write) is still older than ours.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace plano::op {

class WrittenStatuses {
 public:
  using Clock = std::chrono::steady_clock;
  // An entry is dropped after `lifetime` whatever happened (a relist may skip the version
  // written), so a lost delivery can never hide a newer status for long.
  explicit WrittenStatuses(Clock::duration lifetime = std::chrono::seconds(30), std::function<Clock::time_point()> now = Clock::now);

  // A status as JSON text, shared with the queued write that sends it: a creation storm queues a
  // write for most providers, and as json trees, held twice, they were half the operator's peak heap.
  using StatusText = std::shared_ptr<const std::string>;
  static StatusText text_of(const nlohmann::json& status);

  // Before the write of `status` onto the object `key`; returns the write's serial.
  std::uint64_t writing(const std::string& key, StatusText status);
  // The API server accepted write `serial` as `resource_version`.
  void written(const std::string& key, std::uint64_t serial, const std::string& resource_version);
  // Write `serial` failed for good (the object is gone).
  void failed(const std::string& key, std::uint64_t serial);
  // The informer delivered `resource_version` of the object.
  void delivered(const std::string& key, const std::string& resource_version);
  // The status to read instead of the cached one (at `cached_version`), if a write is not delivered yet.
  std::optional<nlohmann::json> pending(const std::string& key, const std::string& cached_version) const;
  // Forgets the objects for which `keep` is false (gone from the caches).
  void keep_only(const std::function<bool(const std::string& key)>& keep);
  std::size_t size() const;

 private:
  struct Entry {
    StatusText status;
    std::uint64_t serial = 0;
    std::string writtenAs;                  // empty while the write is in flight
    std::vector<std::string> seenInFlight;  // versions delivered meanwhile: ours may be among them
    Clock::time_point at;
  };
  bool expired(const Entry& e) const { return now_() - e.at > lifetime_; }

  const Clock::duration lifetime_;
  const std::function<Clock::time_point()> now_;
  mutable std::mutex mu_;
  std::map<std::string, Entry> entries_;
  std::uint64_t serial_ = 0;
};

}  // namespace plano::op
