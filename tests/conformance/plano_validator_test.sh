#!/usr/bin/env bash
# Conformance: every gateway of every example, rendered by plano-operator, passes Plano's own
# validator with no warning. Fails (never skips) when the validator cannot run.
set -euo pipefail
binary=$1
root=$(cd "$(dirname "$0")/../.." && pwd)
python=$root/.cache/venv/bin/python
if ! "$python" -c "import planoai" 2>/dev/null; then
  echo "FAIL: Plano's validator is not installed at $python; run scripts/setup.sh" >&2
  exit 1
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
checked=0 failed=0
for example in "$root"/examples/*.yaml "$root"/tests/conformance/extra/*.yaml; do
  [ -e "$example" ] || continue
  # Each gateway in the file, as namespace/name.
  gateways=$("$python" - "$example" <<'PY'
import sys, yaml
for d in yaml.safe_load_all(open(sys.argv[1])):
    if d and d.get("kind") == "PlanoGateway":
        m = d["metadata"]; print(f'{m.get("namespace", "default")}/{m["name"]}')
PY
)
  for gw in $gateways; do
    out=$work/$(basename "$example" .yaml).${gw//\//.}.yaml
    "$binary" render -f "$example" --gateway "$gw" > "$out"
    checked=$((checked + 1))
    if ! (cd "$work" && "$python" "$root/tests/conformance/plano_validate.py" "$out"); then
      failed=$((failed + 1))
    fi
  done
done
# The harness itself must be able to fail: configs Plano rejects or warns about must be caught.
missed=0
for bad in "$root"/tests/conformance/must-reject/*.yaml; do
  if (cd "$work" && "$python" "$root/tests/conformance/plano_validate.py" "$bad" >/dev/null); then
    echo "FAIL: $bad passed Plano's validator, but must not" >&2
    missed=$((missed + 1))
  fi
done
echo "conformance: $checked config(s) checked, $failed rejected; $missed must-reject config(s) slipped through"
[ "$checked" -gt 0 ] && [ "$failed" -eq 0 ] && [ "$missed" -eq 0 ]
