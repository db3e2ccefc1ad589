#!/usr/bin/env bash
# What the operator and the webhook tell monitoring, from the real binary on a real API server:
#  - /metrics of both, after real work (the examples reconciled; reviews allowed and denied), passes
#    `promtool check metrics` (Prometheus' own parser and linter: counters end in _total, no
#    gauge that only grows, help text, units), and has the process_* metrics;
#  - their JSON log lines about one object carry it as keys: a reconcile's namespace, name, kind,
#    gateway and reconcileID; an admission denial's kind, namespace, name, gateway and uid.
#
# Usage: observability_test.sh PATH-TO-plano-operator
set -euo pipefail
# The chart tests' helpers: scratch directory, control plane, eventually, fail.
# shellcheck source=tests/chart/lib.sh
source "$(dirname "$0")/../chart/lib.sh"

BINARY=${1:?usage: observability_test.sh PATH-TO-plano-operator}
[[ -x $BINARY ]] || fail "no plano-operator binary at $BINARY"
for tool in python3 openssl curl; do
  command -v "$tool" >/dev/null || fail "$tool is needed"
done
prometheus_version=$(sed -n 's/^PROMETHEUS_VERSION=//p' "$ROOT/scripts/build-tools.sh")
PROMTOOL=${PLANO_PROMTOOL:-${PLANO_CACHE_DIR:-$ROOT/.cache}/tools/promtool-$prometheus_version}
[[ -x $PROMTOOL ]] || fail "promtool not found at $PROMTOOL; run scripts/build-tools.sh promtool"
start_control_plane

k apply --server-side -f "$ROOT/crds/" >/dev/null || fail "kubectl apply -f crds/"
k wait --for=condition=Established --timeout=60s crd/planogateways.plano-operator.io crd/modelproviders.plano-operator.io >/dev/null
for ns in platform team-a team-b; do k create namespace "$ns" >/dev/null; done
for f in "$ROOT"/examples/*.yaml; do k apply -f "$f" >/dev/null || fail "kubectl apply -f $f"; done

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
op_probe=$(free_port) wh_port=$(free_port) wh_probe=$(free_port)
"$BINARY" operator --kubeconfig "$KUBECONFIG" --leader-elect=false --probe-address="127.0.0.1:$op_probe" \
  --log-format=json --log-level=debug > "$WORK/operator.log" 2>&1 &
CHILD_PIDS+=($!)
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 -subj /CN=webhook -addext subjectAltName=DNS:webhook \
  -keyout "$WORK/tls.key" -out "$WORK/tls.crt" 2>/dev/null
"$BINARY" webhook --kubeconfig "$KUBECONFIG" --listen-address="127.0.0.1:$wh_port" --probe-address="127.0.0.1:$wh_probe" \
  --tls-cert-file="$WORK/tls.crt" --tls-key-file="$WORK/tls.key" --log-format=json --log-level=debug > "$WORK/webhook.log" 2>&1 &
CHILD_PIDS+=($!)

programmed() {
  [[ $(k -n platform get planogateway llm-gateway -o jsonpath='{.status.conditions[?(@.type=="Programmed")].status}') == True ]]
}
eventually 60 programmed || { tail -n 30 "$WORK/operator.log" >&2; fail "platform/llm-gateway never became Programmed"; }
ready() { [[ $(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$wh_probe/readyz") == 200 ]]; }
eventually 30 ready || { tail -n 30 "$WORK/webhook.log" >&2; fail "the webhook never became ready"; }

# review OPERATION UID OBJECT-JSON: one AdmissionReview straight to the webhook.
review() {
  curl -sS --fail --cacert "$WORK/tls.crt" --resolve "webhook:$wh_port:127.0.0.1" -H 'Content-Type: application/json' \
    --data "{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\",\"request\":{\"uid\":\"$2\",
      \"kind\":{\"group\":\"plano-operator.io\",\"version\":\"v1alpha1\",\"kind\":\"ModelProvider\"},
      \"operation\":\"$1\",\"namespace\":\"team-a\",\"name\":\"probe\",\"object\":$3}}" "https://webhook:$wh_port/validate"
}
provider='{"apiVersion":"plano-operator.io/v1alpha1","kind":"ModelProvider","metadata":{"name":"probe","namespace":"team-a"},
  "spec":{"gatewayRef":{"name":"llm-gateway","namespace":"platform"},"model":"openai/gpt-4o-mini","passthroughAuth":true'
review CREATE allowed-1 "$provider}}" | grep -q '"allowed":true' || fail "the webhook did not allow a valid provider"
review CREATE denied-1 "$provider,\"accessKeySecretRef\":{\"name\":\"k\",\"key\":\"k\"}}}" | grep -q '"allowed":false' ||
  fail "the webhook did not deny a provider with both passthroughAuth and a key"

# --- /metrics ----------------------------------------------------------------------
check_metrics() { # NAME PORT REQUIRED-FAMILY...
  local name=$1 port=$2 text problems
  shift 2
  text=$(curl -sS --fail "http://127.0.0.1:$port/metrics") || fail "$name: GET /metrics"
  printf '%s\n' "$text" > "$WORK/$name.metrics"
  if ! problems=$("$PROMTOOL" check metrics < "$WORK/$name.metrics" 2>&1); then
    printf '%s\n' "$problems" >&2
    fail "$name: promtool check metrics found problems (above)"
  fi
  local family
  for family in "$@"; do
    grep -qx "# TYPE $family" "$WORK/$name.metrics" || fail "$name: no '# TYPE $family' in /metrics"
  done
  for family in process_cpu_seconds_total process_resident_memory_bytes process_virtual_memory_bytes \
    process_start_time_seconds process_open_fds process_max_fds; do
    grep -q "^$family [0-9]" "$WORK/$name.metrics" || fail "$name: no $family sample"
  done
  log "ok: $name /metrics passes promtool check metrics ($(grep -c '^# TYPE' "$WORK/$name.metrics") families)"
}
check_metrics operator "$op_probe" "plano_operator_watch_restarts_total counter" "plano_operator_reconcile_total counter" \
  "process_cpu_seconds_total counter"
if grep -q '^plano_operator_watch_restarts ' "$WORK/operator.metrics"; then fail "the old gauge plano_operator_watch_restarts is still exposed"; fi
check_metrics webhook "$wh_probe" "plano_webhook_admission_requests_total counter" "process_cpu_seconds_total counter"

# --- structured logs -----------------------------------------------------------------
python3 - "$WORK/operator.log" "$WORK/webhook.log" <<'PY' || fail "structured log fields (above)"
import json, sys

def lines(path):
    out = []
    for raw in open(path):
        try:
            out.append(json.loads(raw))
        except ValueError:
            sys.exit(f"{path}: a line that is not JSON: {raw!r}")
    return out

problems = []
operator = lines(sys.argv[1])
applied = [l for l in operator if l["msg"].startswith("applied ") and l.get("gateway") == "platform/llm-gateway"]
if not applied:
    problems.append("operator: no 'applied ...' line with gateway platform/llm-gateway")
for l in applied:
    want = {"kind": "PlanoGateway", "namespace": "platform", "name": "llm-gateway", "gateway": "platform/llm-gateway"}
    if any(l.get(k) != v for k, v in want.items()) or len(l.get("reconcileID", "")) != 16:
        problems.append(f"operator: reconcile fields wrong: {l}")
ids = {l["reconcileID"] for l in operator if "reconcileID" in l}
if len(ids) < 2:
    problems.append(f"operator: expected several reconciles with distinct reconcileIDs, got {ids}")

webhook = lines(sys.argv[2])
denied = [l for l in webhook if l["msg"].startswith("admission denied")]
want = {"kind": "ModelProvider", "namespace": "team-a", "name": "probe", "gateway": "platform/llm-gateway",
        "operation": "CREATE", "uid": "denied-1", "level": "info"}
if len(denied) != 1 or any(denied[0].get(k) != v for k, v in want.items()):
    problems.append(f"webhook: one denial line with {want} expected, got {denied}")
allowed = [l for l in webhook if l.get("uid") == "allowed-1"]
if len(allowed) != 1 or allowed[0].get("level") != "debug":
    problems.append(f"webhook: one debug line for the allowed review expected, got {allowed}")
if problems:
    print("\n".join("  - " + p for p in problems))
    sys.exit(1)
print(f"checked {len(applied)} reconcile lines ({len(ids)} reconciles) and {len(denied) + len(allowed)} admission lines")
PY
log "ok: reconcile and admission log lines carry their object as JSON keys"
