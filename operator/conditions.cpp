#include "operator/conditions.h"

#include <algorithm>
#include <chrono>
#include <ctime>

namespace plano::op {

void set_condition(std::vector<api::Condition>& conditions, api::Condition c, const std::string& now) {
  auto it = std::find_if(conditions.begin(), conditions.end(), [&](const api::Condition& x) { return x.type == c.type; });
  if (it == conditions.end()) {
    c.lastTransitionTime = now;
    conditions.push_back(std::move(c));
    return;
  }
  c.lastTransitionTime = it->status == c.status && !it->lastTransitionTime.empty() ? it->lastTransitionTime : now;
  *it = std::move(c);
}

const api::Condition* find_condition(const std::vector<api::Condition>& conditions, const std::string& type) {
  auto it = std::find_if(conditions.begin(), conditions.end(), [&](const api::Condition& x) { return x.type == type; });
  return it == conditions.end() ? nullptr : &*it;
}

nlohmann::json to_json(const std::vector<api::Condition>& conditions) {
  auto out = nlohmann::json::array();
  for (const auto& c : conditions) {
    out.push_back({{"type", c.type},
                   {"status", c.status},
                   {"observedGeneration", c.observedGeneration},
                   {"lastTransitionTime", c.lastTransitionTime},
                   {"reason", c.reason},
                   {"message", c.message}});
  }
  return out;
}

std::string now_rfc3339() {
  std::time_t t = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

}  // namespace plano::op
