// Runs independent API calls a few at a time: a gateway with a thousand new providers owes a
// thousand status writes (and Secret lookups, and Events), and one at a time they would hold the
// gateway's next reconcile for seconds.
#pragma once

#include <cstddef>
#include <functional>

namespace plano::op {

// Calls fn(i) for every i in [0, count) on up to `parallelism` threads (the caller's included) and
// returns when all are done. If any call throws, the first exception is rethrown after the rest
// have finished.
void for_each_parallel(std::size_t count, std::size_t parallelism, const std::function<void(std::size_t)>& fn);

}  // namespace plano::op
