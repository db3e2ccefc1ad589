#!/usr/bin/env bash
# Runs every test: unit, conformance (Plano's validator), integration (real kube-apiserver), e2e and
# chart tests; then every test that runs this project's code again under AddressSanitizer +
# UndefinedBehaviorSanitizer; the unit and integration (informer, watch, controller) tests under
# ThreadSanitizer; and each fuzz target for a short while. Each stage prints how long it took.
set -euo pipefail
cd "$(dirname "$0")/.."

# Built tools live outside the checkout, so every clone on this machine (CI's included) shares them.
export PLANO_CACHE_DIR="${PLANO_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/plano-operator}"
# The same for compiled objects: ccache, keyed on paths relative to the checkout.
export CCACHE_DIR="$PLANO_CACHE_DIR/ccache" CCACHE_BASEDIR="$PWD" CCACHE_NOHASHDIR=1 CCACHE_MAXSIZE=8G
scripts/setup.sh
scripts/build-tools.sh >/dev/null

jobs=$(nproc)
# stage NAME: ends the running stage, saying how long it took, and starts NAME.
stage_name="" stage_start=$SECONDS
stage() {
  [[ -z $stage_name ]] || echo "-- $stage_name: $((SECONDS - stage_start)) s"
  stage_name="$*" stage_start=$SECONDS
  [[ $# -eq 0 ]] || echo "== $stage_name"
}

stage "build (RelWithDebInfo)"
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPLANO_WERROR=ON >/dev/null
ninja -C build
stage "tests"
ctest --test-dir build --output-on-failure -j "$jobs"

stage "build (ASan+UBSan)"
cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DPLANO_SANITIZE=ON -DPLANO_WERROR=ON >/dev/null
ninja -C build-asan
stage "tests under ASan+UBSan (all but those running only helm and kubectl)"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 LSAN_OPTIONS=suppressions=$PWD/tests/sanitizers/lsan.supp \
  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --test-dir build-asan --output-on-failure -j "$jobs" -LE tools-only --no-tests=error

stage "build (TSan, against cpprestsdk built with TSan)"
eval "$(scripts/build-tools.sh cpprest-tsan)"
cmake -S . -B build-tsan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DPLANO_SANITIZE_THREAD=ON -DPLANO_WERROR=ON \
  -Dcpprestsdk_DIR="$CPPREST_TSAN/lib/cmake/cpprestsdk" >/dev/null
ninja -C build-tsan unit_tests http_tests kube_integration_tests operator_integration_tests
stage "unit, informer, watch and controller tests under TSan"
# Auth.TooManyRequests... is left out: it needs a client fast enough to make the API server
# throttle it, which TSan's slowdown prevents; it runs in the two stages above.
TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1:suppressions=$PWD/tests/sanitizers/tsan.supp \
  ctest --test-dir build-tsan --output-on-failure -j "$jobs" --no-tests=error -L 'unit|integration' -LE tools-only \
  -E '^Auth\.TooManyRequestsIsTypedAndRetriedAfterRetryAfter$'

stage "fuzz (30 s a target)"
PLANO_WERROR=ON scripts/fuzz.sh 30
stage
