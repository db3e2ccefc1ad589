#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz, clang-14, ASan+UBSan) in build-fuzz and runs each for
# SECONDS, starting from its committed seeds.
#   scripts/fuzz.sh SECONDS [TARGET...]    (default: every target)
# New inputs go to build-fuzz/corpus/TARGET, so the committed seeds stay small; a crash, leak or
# timeout stops the run, exits non-zero and leaves its input in build-fuzz/artifacts/TARGET/.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${1:?usage: scripts/fuzz.sh SECONDS [TARGET...]}"
shift
targets=("$@")
[[ ${#targets[@]} -gt 0 ]] || targets=(admission_review offline_manifests kubeconfig)

cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER=clang++-14 \
  -DPLANO_FUZZ=ON -DPLANO_BUILD_TESTS=OFF -DPLANO_WERROR="${PLANO_WERROR:-OFF}" >/dev/null
ninja -C build-fuzz "${targets[@]/%/_fuzz}"

for target in "${targets[@]}"; do
  work="build-fuzz/corpus/$target" artifacts="build-fuzz/artifacts/$target/" log="build-fuzz/logs/$target.log"
  mkdir -p "$work" "$artifacts" build-fuzz/logs
  echo "== fuzz $target for ${seconds}s (log: $log)"
  # -timeout: one input taking longer is a finding (the limits promise bounded time);
  # -rss_limit_mb: so is one needing more memory than a small container has.
  if ! ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
      "build-fuzz/tests/fuzz/${target}_fuzz" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=1024 \
      -artifact_prefix="$artifacts" -print_final_stats=1 "$work" "tests/fuzz/corpus/$target" >"$log" 2>&1; then
    tail -n 60 "$log" >&2
    echo "fuzz: $target found a problem; the input is in $artifacts" >&2
    exit 1
  fi
  grep -E '^(stat::(number_of_executed_units|peak_rss_mb)|Done [0-9]+ runs)' "$log"
done
