#!/usr/bin/env bash
# The CRDs install into a real API server, become Established, and the API server itself (schema,
# CEL rules, strict field validation; no webhook registered) refuses exactly the invalid examples
# that examples/README.md records as caught by the CRD or the API server, and stores the others,
# which need the rest of the cluster to judge (the webhook and the operator catch those).
set -euo pipefail
root=$(cd "$(dirname "$0")/../../.." && pwd)
state=$(mktemp -d)
trap '"$root/scripts/controlplane.sh" down "$state/cp" >/dev/null 2>&1 || true; rm -rf "$state"' EXIT
eval "$(PLANO_CP_BARE=1 "$root/scripts/controlplane.sh" up "$state/cp" 2>/dev/null)"  # the API server alone judges
kubectl apply -f "$root/crds/" >/dev/null
kubectl wait --for condition=established --timeout=60s \
  crd/planogateways.plano-operator.io crd/modelproviders.plano-operator.io >/dev/null
for ns in platform team-a team-b team-c; do kubectl create namespace "$ns" >/dev/null; done

checked=0 wrong=0
while IFS='|' read -r _ file _ caught _; do
  file=$(echo "$file" | tr -d ' `')
  caught=$(echo "$caught" | sed 's/^ *//; s/ *$//')
  [ -f "$root/examples/invalid/$file" ] || continue
  checked=$((checked + 1))
  if out=$(kubectl apply --dry-run=server -f "$root/examples/invalid/$file" 2>&1); then refused=false; else refused=true; fi
  case "$caught" in
    operator) want=false ;;
    *) want=true ;;
  esac
  if [ "$refused" != "$want" ]; then
    wrong=$((wrong + 1))
    echo "FAIL: $file (recorded as caught by: $caught) was $([ "$refused" = true ] && echo refused || echo accepted) by the API server:"
    echo "$out" | sed 's/^/    /'
  else
    echo "ok: $file: $([ "$refused" = true ] && echo "refused: $(echo "$out" | grep -o 'spec[^:]*: [A-Z][a-z]*[^:]*' | head -1)" || echo "stored (needs the cluster to judge)")"
  fi
done < <(sed -n '/^| File | Mistake | Caught by |/,/^$/p' "$root/examples/README.md" | tail -n +3)
echo "cel rules: $checked invalid examples checked, $wrong judged differently from examples/README.md"
[ "$checked" -ge 20 ] && [ "$wrong" -eq 0 ]
