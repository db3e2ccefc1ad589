#!/usr/bin/env bash
# Runs every test: unit, conformance (Plano's validator) and integration (real kube-apiserver),
# then the unit and conformance suites again under AddressSanitizer + UndefinedBehaviorSanitizer.
set -euo pipefail
cd "$(dirname "$0")/.."

# Built tools live outside the checkout, so every clone on this machine (CI's included) shares them.
export PLANO_CACHE_DIR="${PLANO_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/plano-operator}"
scripts/setup.sh
scripts/build-tools.sh >/dev/null

jobs=$(nproc)
echo "== build (RelWithDebInfo)"
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
ninja -C build
echo "== tests"
ctest --test-dir build --output-on-failure -j "$jobs"

echo "== build (ASan+UBSan)"
cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DPLANO_SANITIZE=ON >/dev/null
# Only what the unit and conformance suites run; the integration binaries are covered above.
ninja -C build-asan unit_tests http_tests plano-operator
echo "== tests under ASan+UBSan"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --test-dir build-asan --output-on-failure -j "$jobs" -L 'unit|conformance' --no-tests=error
