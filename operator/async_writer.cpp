#include "operator/async_writer.h"

#include <spdlog/spdlog.h>

#include <exception>

namespace plano::op {

AsyncWriter::AsyncWriter(std::size_t workers) : workers_(workers) {}

AsyncWriter::~AsyncWriter() { stop(); }

void AsyncWriter::start() {
  for (std::size_t i = 0; i < workers_; ++i) threads_.emplace_back([this] { work(); });
}

void AsyncWriter::stop() {
  queue_.shut_down();
  for (auto& t : threads_) t.join();
  threads_.clear();
}

void AsyncWriter::submit(const std::string& key, Write write) {
  {
    std::lock_guard lock(mu_);
    pending_[key] = std::move(write);
  }
  queue_.add(key);
}

std::size_t AsyncWriter::pending() const {
  std::lock_guard lock(mu_);
  return pending_.size();
}

void AsyncWriter::work() {
  while (auto key = queue_.get()) {
    Write write;
    {
      std::lock_guard lock(mu_);
      if (auto it = pending_.find(*key); it != pending_.end()) {
        write = std::move(it->second);
        pending_.erase(it);
      }
    }
    if (write) {
      try {
        write();
        queue_.forget(*key);
      } catch (const std::exception& e) {
        std::lock_guard lock(mu_);
        if (pending_.emplace(*key, std::move(write)).second) {  // not superseded: try again later
          spdlog::warn("write {} failed (retry {}): {}", *key, queue_.retries(*key) + 1, e.what());
          queue_.add_rate_limited(*key);
        }
      }
    }
    queue_.done(*key);
  }
}

}  // namespace plano::op
