// Leader election on a coordination.k8s.io/v1 Lease, as client-go's leaderelection does it: the
// holder renews the lease; others take it over once it has not been renewed for its duration.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include "core/kube/client.h"

namespace plano::op {

struct LeaderElectionOptions {
  std::string leaseNamespace;
  std::string leaseName = "plano-operator";
  std::string identity;                          // unique per process, e.g. pod name + random suffix
  std::chrono::seconds leaseDuration{15};
  std::chrono::seconds renewDeadline{10};        // give up leading if renewals fail this long
  std::chrono::seconds retryPeriod{2};
};

class LeaderElector {
 public:
  LeaderElector(kube::ApiClient& client, LeaderElectionOptions options);
  ~LeaderElector();

  // Runs until stop(): `on_started` once the lease is ours, `on_stopped` if we lose it (the
  // process should exit then, as controller-runtime does, rather than lead half-way).
  void run(std::function<void()> on_started, std::function<void()> on_stopped);
  // Stops campaigning and, when leading, releases the lease so another replica takes over at once.
  void stop();
  bool is_leader() const { return leader_.load(); }

 private:
  bool try_acquire_or_renew();
  void release();
  bool sleep(std::chrono::milliseconds d);

  kube::ApiClient& client_;
  LeaderElectionOptions options_;
  std::atomic<bool> leader_{false};
  std::atomic<bool> stopping_{false};
  std::mutex mu_;
  std::condition_variable cv_;
};

// RFC 3339 with microseconds, as metav1.MicroTime serialises.
std::string micro_time_now();

}  // namespace plano::op
