#!/usr/bin/env bash
# helm lint, plain and --strict (warnings are failures), with the default
# values and with every values file the other chart tests use.
set -euo pipefail
# shellcheck source=tests/chart/lib.sh
source "$(dirname "$0")/lib.sh"
need_helm

for values in "" "$TESTS"/values-*.yaml; do
  args=()
  [[ -n $values ]] && args=(-f "$values")
  for strict in "" --strict; do
    what=defaults
    [[ -n $values ]] && what=$(basename "$values")
    [[ -n $strict ]] && what+=" $strict"
    if ! out=$("$HELM" lint "$CHART" ${strict:+"$strict"} "${args[@]}" 2>&1); then
      printf '%s\n' "$out" >&2
      fail "helm lint $what"
    fi
    # lint reports problems as [WARNING]/[ERROR]; [INFO] (no icon) is advice.
    if grep -E '^\[(WARNING|ERROR)\]' <<<"$out" >&2; then
      fail "helm lint $what reported problems"
    fi
    log "ok: helm lint $what"
  done
done
