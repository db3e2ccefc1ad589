#include "core/api/shared_text.h"

#include <algorithm>
#include <mutex>
#include <ostream>
#include <nlohmann/json.hpp>
#include <unordered_map>

namespace plano::api {
namespace {

// Values interned and maybe still held. Entries whose values are gone are swept once the table has
// doubled since the last sweep, so it stays within twice what is held (times move on every second).
// Keys are copies: a view of the value would dangle once the value goes.
class InternTable {
 public:
  std::shared_ptr<const std::string> intern(std::string_view text) {
    std::lock_guard lock(mu_);
    auto it = entries_.find(text);
    if (it != entries_.end()) {
      if (auto held = it->second.lock()) return held;
    } else {
      if (entries_.size() >= 2 * swept_size_) sweep();
      it = entries_.emplace(std::string(text), std::weak_ptr<const std::string>()).first;
    }
    auto held = std::make_shared<const std::string>(text);
    it->second = held;
    return held;
  }

 private:
  struct Hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };

  void sweep() {
    std::erase_if(entries_, [](const auto& entry) { return entry.second.expired(); });
    swept_size_ = std::max<std::size_t>(entries_.size(), kFirstSweepAt);
  }

  static constexpr std::size_t kFirstSweepAt = 1024;
  std::mutex mu_;
  std::unordered_map<std::string, std::weak_ptr<const std::string>, Hash, std::equal_to<>> entries_;
  std::size_t swept_size_ = kFirstSweepAt;
};

InternTable& intern_table() {
  static auto* table = new InternTable;  // never destroyed: values may outlive static destruction
  return *table;
}

const std::string& empty_text() {
  static const std::string empty;
  return empty;
}

}  // namespace

SharedText::SharedText(std::string text)
    : text_(text.empty() ? nullptr : std::make_shared<const std::string>(std::move(text))) {}

SharedText SharedText::interned(std::string_view text) {
  if (text.empty()) return {};
  return SharedText(intern_table().intern(text));
}

const std::string& SharedText::str() const { return text_ ? *text_ : empty_text(); }

std::string operator+(const std::string& a, const SharedText& b) { return a + b.str(); }
std::string operator+(const char* a, const SharedText& b) { return a + b.str(); }

void to_json(nlohmann::json& j, const SharedText& t) { j = t.str(); }

std::ostream& operator<<(std::ostream& out, const SharedText& t) { return out << t.str(); }

}  // namespace plano::api
