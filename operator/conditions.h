// metav1.Condition bookkeeping, as Kubernetes API conventions describe it.
#pragma once

#include <chrono>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "core/api/types.h"

namespace plano::op {

// Sets `c` in `conditions` by type. lastTransitionTime moves only when the status changes, so a
// steady state produces identical status and therefore no write.
void set_condition(std::vector<api::Condition>& conditions, api::Condition c, const api::SharedText& now);

// Where an object stands, for the three conditions pipelines read: Ready, the summary (`kubectl wait
// --for=condition=Ready`, Argo CD), and kstatus's abnormal-true Reconciling and Stalled (Flux, kpt,
// cli-utils: Reconciling=True is InProgress, Stalled=True is Failed).
struct Progress {
  enum class State {
    Done,     // the current spec is in effect
    Waiting,  // it will be without anyone changing anything (a rollout, a Secret or gateway that is to come)
    Blocked,  // it will not be until someone changes something (a refusal, a bad key)
  };
  State state;
  std::string reason, message;
};

// Sets Ready, Reconciling and Stalled from `p`, all three always present: exactly one is True.
void set_summary(std::vector<api::Condition>& conditions, const Progress& p, std::int64_t generation,
                 const api::SharedText& now);

const api::Condition* find_condition(const std::vector<api::Condition>& conditions, const std::string& type);

nlohmann::json to_json(const std::vector<api::Condition>& conditions);

// RFC 3339 UTC with seconds, as metav1.Time serialises.
std::string now_rfc3339();
std::string to_rfc3339(std::chrono::system_clock::time_point t);

// A metav1.Time or MicroTime ("2026-12-06T11:00:00Z", "2026-12-06T11:00:00.123456Z"), or nullopt.
std::optional<std::chrono::system_clock::time_point> parse_rfc3339(const std::string& s);

}  // namespace plano::op
