#include "core/render/fitting.h"

#include <algorithm>
#include <map>
#include <unordered_set>

namespace plano::render {

FittedRender render_fitting(const api::PlanoGateway& gateway, const std::vector<const api::ModelProvider*>& accepted) {
  FittedRender out{render(gateway, accepted), accepted, {}};
  if (out.rendered.config.size() <= kMaxConfigBytes) return out;

  // Round by round: a provider's round is how many of its namespace's providers precede it.
  std::map<std::string, std::size_t> seen_in_namespace;
  std::vector<std::pair<std::size_t, const api::ModelProvider*>> by_round;
  by_round.reserve(accepted.size());
  for (const auto* mp : accepted) by_round.emplace_back(seen_in_namespace[mp->metadata.namespace_]++, mp);
  std::stable_sort(by_round.begin(), by_round.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  const auto first = [&](std::size_t n) {
    std::vector<const api::ModelProvider*> chosen;
    chosen.reserve(n);
    for (std::size_t i = 0; i < n; ++i) chosen.push_back(by_round[i].second);
    return chosen;
  };
  // Each provider adds to the config, so the size grows with n. The sizes of providers rendered
  // alone, summed, estimate where the limit falls (a set renders a few bytes differently: key
  // numbering, shared preference names); from there, gallop to a bracket and bisect it, so a
  // large gateway is rendered a few times rather than once per halving of its providers.
  const auto base = render(gateway, {}).config.size();
  std::size_t estimate = 0;
  for (std::size_t total = base; estimate < by_round.size(); ++estimate) {
    total += render(gateway, {by_round[estimate].second}).config.size() - base;
    if (total > kMaxConfigBytes) break;
  }
  const auto fits_with = [&](std::size_t n) { return render(gateway, first(n)).config.size() <= kMaxConfigBytes; };
  std::size_t fits = 0, too_many = by_round.size();  // first(fits) fits; first(too_many) does not
  if (fits_with(estimate)) {
    fits = estimate;
    for (std::size_t step = 1; fits + step < too_many; step *= 2) {
      if (!fits_with(fits + step)) {
        too_many = fits + step;
        break;
      }
      fits += step;
    }
  } else {
    too_many = estimate;
    for (std::size_t step = 1; step < too_many; step *= 2) {
      if (fits_with(too_many - step)) {
        fits = too_many - step;
        break;
      }
      too_many -= step;
    }
  }
  while (too_many - fits > 1) {
    const auto mid = fits + (too_many - fits) / 2;
    if (fits_with(mid)) fits = mid;
    else too_many = mid;
  }
  const auto chosen = first(fits);
  const std::unordered_set<const api::ModelProvider*> in(chosen.begin(), chosen.end());
  out.served.clear();
  for (const auto* mp : accepted) (in.count(mp) ? out.served : out.leftOut).push_back(mp);
  out.rendered = render(gateway, out.served);
  return out;
}

}  // namespace plano::render
