#include "operator/written_statuses.h"

#include <algorithm>

namespace plano::op {

WrittenStatuses::WrittenStatuses(Clock::duration lifetime, std::function<Clock::time_point()> now)
    : lifetime_(lifetime), now_(std::move(now)) {}

WrittenStatuses::StatusText WrittenStatuses::text_of(const nlohmann::json& status) {
  auto text = status.dump();
  return std::make_shared<const std::string>(text.data(), text.size());  // as long as the text, not as dump() grew it
}

std::uint64_t WrittenStatuses::writing(const std::string& key, StatusText status) {
  std::lock_guard lock(mu_);
  entries_[key] = Entry{std::move(status), ++serial_, {}, {}, now_()};
  return serial_;
}

void WrittenStatuses::written(const std::string& key, std::uint64_t serial, const std::string& resource_version) {
  std::lock_guard lock(mu_);
  auto it = entries_.find(key);
  if (it == entries_.end() || it->second.serial != serial) return;  // a newer write took its place
  auto& seen = it->second.seenInFlight;
  if (std::find(seen.begin(), seen.end(), resource_version) != seen.end()) {
    entries_.erase(it);  // delivered before the answer came back
    return;
  }
  it->second.writtenAs = resource_version;
  seen.clear();
}

void WrittenStatuses::failed(const std::string& key, std::uint64_t serial) {
  std::lock_guard lock(mu_);
  auto it = entries_.find(key);
  if (it != entries_.end() && it->second.serial == serial) entries_.erase(it);
}

void WrittenStatuses::delivered(const std::string& key, const std::string& resource_version) {
  std::lock_guard lock(mu_);
  auto it = entries_.find(key);
  if (it == entries_.end()) return;
  Entry& e = it->second;
  if (expired(e) || e.writtenAs == resource_version) {
    entries_.erase(it);
  } else if (e.writtenAs.empty()) {
    e.seenInFlight.push_back(resource_version);
  }
}

std::optional<nlohmann::json> WrittenStatuses::pending(const std::string& key, const std::string& cached_version) const {
  StatusText status;
  {
    std::lock_guard lock(mu_);
    auto it = entries_.find(key);
    if (it == entries_.end() || expired(it->second) || it->second.writtenAs == cached_version) return std::nullopt;
    status = it->second.status;
  }
  return nlohmann::json::parse(*status);  // our own dump(): it parses
}

void WrittenStatuses::keep_only(const std::function<bool(const std::string& key)>& keep) {
  std::lock_guard lock(mu_);
  std::erase_if(entries_, [&](const auto& entry) { return expired(entry.second) || !keep(entry.first); });
}

std::size_t WrittenStatuses::size() const {
  std::lock_guard lock(mu_);
  return entries_.size();
}

}  // namespace plano::op
