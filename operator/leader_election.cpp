#include "operator/leader_election.h"

#include <spdlog/spdlog.h>

#include <ctime>

#include "core/kube/errors.h"
#include "operator/conditions.h"

namespace plano::op {
namespace {

using nlohmann::json;
using Clock = std::chrono::system_clock;

}  // namespace

std::string micro_time_now() {
  auto now = Clock::now();
  auto secs = Clock::to_time_t(now);
  auto micros = std::chrono::duration_cast<std::chrono::microseconds>(now.time_since_epoch()).count() % 1000000;
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[40];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  char out[64];
  std::snprintf(out, sizeof out, "%s.%06lldZ", buf, static_cast<long long>(micros));
  return out;
}

LeaderElector::LeaderElector(kube::ApiClient& client, LeaderElectionOptions options)
    : client_(client), options_(std::move(options)) {}

LeaderElector::~LeaderElector() { stop(); }

bool LeaderElector::sleep(std::chrono::milliseconds d) {
  std::unique_lock lock(mu_);
  return !cv_.wait_for(lock, d, [this] { return stopping_.load(); });
}

bool LeaderElector::try_acquire_or_renew() {
  const auto& res = kube::resources::kLeases;
  const auto now = micro_time_now();
  json lease;
  try {
    lease = client_.get(res, options_.leaseNamespace, options_.leaseName);
  } catch (const kube::ApiError& e) {
    if (!e.is(kube::ErrorReason::NotFound)) throw;
    json fresh = {{"apiVersion", "coordination.k8s.io/v1"},
                  {"kind", "Lease"},
                  {"metadata", {{"name", options_.leaseName}, {"namespace", options_.leaseNamespace}}},
                  {"spec",
                   {{"holderIdentity", options_.identity},
                    {"leaseDurationSeconds", options_.leaseDuration.count()},
                    {"acquireTime", now},
                    {"renewTime", now},
                    {"leaseTransitions", 0}}}};
    try {
      client_.create(res, options_.leaseNamespace, fresh);
      return true;
    } catch (const kube::ApiError& c) {
      if (c.is(kube::ErrorReason::AlreadyExists)) return false;
      throw;
    }
  }
  auto spec = lease.value("spec", json::object());
  const std::string holder = spec.value("holderIdentity", "");
  const bool ours = holder == options_.identity;
  if (!ours && !holder.empty()) {
    auto renewed = parse_rfc3339(spec.value("renewTime", ""));
    auto duration = std::chrono::seconds(spec.value("leaseDurationSeconds", options_.leaseDuration.count()));
    if (renewed && Clock::now() < *renewed + duration) return false;  // someone else holds it
  }
  spec["holderIdentity"] = options_.identity;
  spec["leaseDurationSeconds"] = options_.leaseDuration.count();
  spec["renewTime"] = now;
  if (!ours) {
    spec["acquireTime"] = now;
    spec["leaseTransitions"] = spec.value("leaseTransitions", 0) + (holder.empty() ? 0 : 1);
  }
  lease["spec"] = spec;
  try {
    // resourceVersion in the body makes this a compare-and-swap: two candidates cannot both win.
    client_.update(res, lease);
    return true;
  } catch (const kube::ApiError& e) {
    if (e.is(kube::ErrorReason::Conflict)) return false;
    throw;
  }
}

void LeaderElector::release() {
  try {
    auto lease = client_.get(kube::resources::kLeases, options_.leaseNamespace, options_.leaseName);
    if (lease.value("spec", json::object()).value("holderIdentity", "") != options_.identity) return;
    lease["spec"]["holderIdentity"] = "";
    lease["spec"]["leaseDurationSeconds"] = 1;
    lease["spec"]["renewTime"] = micro_time_now();
    client_.update(kube::resources::kLeases, lease);
    spdlog::info("released lease {}/{}", options_.leaseNamespace, options_.leaseName);
  } catch (const std::exception& e) {
    spdlog::warn("could not release lease {}/{}: {}", options_.leaseNamespace, options_.leaseName, e.what());
  }
}

void LeaderElector::run(std::function<void()> on_started, std::function<void()> on_stopped) {
  spdlog::info("waiting to lead: lease {}/{} as {}", options_.leaseNamespace, options_.leaseName, options_.identity);
  while (!stopping_) {
    bool got = false;
    try {
      got = try_acquire_or_renew();
    } catch (const std::exception& e) {
      spdlog::warn("lease {}/{}: {}", options_.leaseNamespace, options_.leaseName, e.what());
    }
    if (got) break;
    sleep(options_.retryPeriod);
  }
  if (stopping_) return;
  leader_ = true;
  spdlog::info("leading: lease {}/{} held by {}", options_.leaseNamespace, options_.leaseName, options_.identity);
  on_started();
  auto last_renew = std::chrono::steady_clock::now();
  while (sleep(options_.retryPeriod)) {
    bool renewed = false;
    try {
      renewed = try_acquire_or_renew();
    } catch (const std::exception& e) {
      spdlog::warn("renewing lease {}/{}: {}", options_.leaseNamespace, options_.leaseName, e.what());
    }
    if (renewed) {
      last_renew = std::chrono::steady_clock::now();
    } else if (std::chrono::steady_clock::now() - last_renew > options_.renewDeadline) {
      spdlog::error("lost lease {}/{}: not renewed within {}s", options_.leaseNamespace, options_.leaseName,
                    options_.renewDeadline.count());
      leader_ = false;
      on_stopped();
      return;
    }
  }
  release();
  leader_ = false;
}

void LeaderElector::stop() {
  stopping_ = true;
  cv_.notify_all();
}

}  // namespace plano::op
