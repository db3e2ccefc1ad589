#!/usr/bin/env bash
# Benchmarks (never tests: no pass/fail, figures only).
#   scripts/bench.sh core [Google Benchmark flags]
#     rules, render and admission decode on one gateway with 100, 1,000 and 10,000 providers, as
#     one table (time per call; p50/p99 of single calls for the per-request paths).
set -euo pipefail
cd "$(dirname "$0")/.."

what=${1:-core}
shift || true
case "$what" in
  core)
    cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
    # Only what is measured: the machine is shared, a full build would skew the figures.
    ninja -C build -j2 bench_core >/dev/null
    exec build/bench/bench_core "$@"
    ;;
  *)
    echo "usage: scripts/bench.sh core [Google Benchmark flags]" >&2
    exit 2
    ;;
esac
