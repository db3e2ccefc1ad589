#!/usr/bin/env bash
# Benchmarks (never tests: no pass/fail, figures only).
#   scripts/bench.sh core [Google Benchmark flags]
#     rules, render and admission decode on one gateway with 100, 1,000 and 10,000 providers, as
#     one table (time per call; p50/p99 of single calls for the per-request paths).
#   scripts/bench.sh flood degrade|refuse [PROVIDERS=2000] [STATE_DIR]
#     issue 13's flood on a bare local control plane: one tenant's 2,000 providers degraded (share raised,
#     past the config size) or refused (default share);
#     another tenant's new provider, key rotation and deletion timed to the ConfigMap and keys
#     Secret (20 tries each), revoked keys watched for, Events counted per provider and reason.
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
  flood)
    cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
    ninja -C build -j2 plano-operator bench_flood >/dev/null
    exec build/bench/bench_flood build/plano-operator "$@"
    ;;
  *)
    echo "usage: scripts/bench.sh core [Google Benchmark flags] | flood degrade|refuse [PROVIDERS] [STATE_DIR]" >&2
    exit 2
    ;;
esac
