// A map bounded to a number of entries that drops the least recently used one to make room.
#pragma once

#include <cstddef>
#include <list>
#include <string>
#include <unordered_map>
#include <utility>

namespace plano::kube {

template <typename Value>
class LruMap {
 public:
  explicit LruMap(std::size_t capacity) : capacity_(capacity) {}

  // The entry, marked as just used; nullptr when absent.
  Value* find(const std::string& key) {
    auto it = index_.find(key);
    if (it == index_.end()) return nullptr;
    order_.splice(order_.begin(), order_, it->second);
    return &it->second->second;
  }

  // Inserts or replaces, evicting the least recently used entry when full.
  Value& put(const std::string& key, Value value) {
    if (auto* existing = find(key)) return *existing = std::move(value);
    if (index_.size() >= capacity_ && !order_.empty()) {
      index_.erase(order_.back().first);
      order_.pop_back();
    }
    order_.emplace_front(key, std::move(value));
    index_[key] = order_.begin();
    return order_.front().second;
  }

  void erase(const std::string& key) {
    auto it = index_.find(key);
    if (it == index_.end()) return;
    order_.erase(it->second);
    index_.erase(it);
  }

  // Visits every entry (most recently used first) without changing the order; `visit` returns
  // false to erase the entry.
  template <typename Visit>
  void retain(Visit visit) {
    for (auto it = order_.begin(); it != order_.end();) {
      if (visit(it->first, it->second)) {
        ++it;
      } else {
        index_.erase(it->first);
        it = order_.erase(it);
      }
    }
  }

  std::size_t size() const { return index_.size(); }

 private:
  std::size_t capacity_;
  std::list<std::pair<std::string, Value>> order_;
  std::unordered_map<std::string, typename std::list<std::pair<std::string, Value>>::iterator> index_;
};

}  // namespace plano::kube
