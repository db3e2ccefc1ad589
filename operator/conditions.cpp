#include "operator/conditions.h"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <ctime>

namespace plano::op {

void set_condition(std::vector<api::Condition>& conditions, api::Condition c, const api::SharedText& now) {
  auto it = std::find_if(conditions.begin(), conditions.end(), [&](const api::Condition& x) { return x.type == c.type; });
  if (it == conditions.end()) {
    c.lastTransitionTime = now;
    conditions.push_back(std::move(c));
    return;
  }
  c.lastTransitionTime = it->status == c.status && !it->lastTransitionTime.empty() ? it->lastTransitionTime : now;
  *it = std::move(c);
}

void set_summary(std::vector<api::Condition>& conditions, const Progress& p, std::int64_t generation,
                 const api::SharedText& now) {
  using State = Progress::State;
  auto set = [&](const char* type, bool holds, const std::string& reason, const std::string& message) {
    set_condition(conditions, api::Condition{type, holds ? "True" : "False", generation, "", reason, message}, now);
  };
  set("Ready", p.state == State::Done, p.reason, p.message);
  if (p.state == State::Waiting) set("Reconciling", true, p.reason, p.message);
  else set("Reconciling", false, p.state == State::Blocked ? "Stalled" : "Reconciled", p.state == State::Blocked ? "see Stalled" : "");
  if (p.state == State::Blocked) set("Stalled", true, p.reason, p.message);
  else set("Stalled", false, p.state == State::Waiting ? "Reconciling" : "Reconciled", p.state == State::Waiting ? "see Reconciling" : "");
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

std::string now_rfc3339() { return to_rfc3339(std::chrono::system_clock::now()); }

std::string to_rfc3339(std::chrono::system_clock::time_point when) {
  std::time_t t = std::chrono::system_clock::to_time_t(when);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::optional<std::chrono::system_clock::time_point> parse_rfc3339(const std::string& s) {
  std::tm tm{};
  if (s.size() < 19 || !strptime(s.c_str(), "%Y-%m-%dT%H:%M:%S", &tm)) return std::nullopt;
  auto t = std::chrono::system_clock::from_time_t(timegm(&tm));
  if (s.size() > 20 && s[19] == '.') {
    std::size_t end = 20;
    while (end < s.size() && std::isdigit(static_cast<unsigned char>(s[end]))) ++end;
    auto frac = s.substr(20, std::min<std::size_t>(end - 20, 6));
    while (frac.size() < 6) frac += '0';
    t += std::chrono::microseconds(std::stoll(frac));
  }
  return t;
}

}  // namespace plano::op
