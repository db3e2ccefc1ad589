// Writes that need not hold up a reconcile: provider statuses and Events. A reconcile hands them
// over and returns, so the next change to the gateway's config is not queued behind a thousand
// status writes. One pending write per key: a newer status for a provider replaces one not yet
// written, and a key is never written by two workers at once, so writes land in order.
#pragma once

#include <cstddef>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "operator/work_queue.h"

namespace plano::op {

class AsyncWriter {
 public:
  // One API call. Throwing means "retry later" (with per-key backoff), unless a newer write for the
  // same key has arrived meanwhile; a write that should not be retried catches its own errors.
  using Write = std::function<void()>;

  explicit AsyncWriter(std::size_t workers);
  ~AsyncWriter();
  AsyncWriter(const AsyncWriter&) = delete;
  AsyncWriter& operator=(const AsyncWriter&) = delete;

  void start();
  // Pending writes are dropped: they describe state the next reconcile (of this process or of the
  // next leader) computes again.
  void stop();
  void submit(const std::string& key, Write write);
  std::size_t pending() const;

 private:
  void work();

  const std::size_t workers_;
  WorkQueue queue_;
  mutable std::mutex mu_;
  std::map<std::string, Write> pending_;
  std::vector<std::thread> threads_;
};

}  // namespace plano::op
