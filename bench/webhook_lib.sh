# Shared by the webhook benchmarks (sourced, not run): the binary argument, a scratch directory
# removed on exit, a control plane with the CRDs, a CA and a serving certificate for 127.0.0.1, and
# the webhook binary started on loopback ports. Expects ROOT (the checkout). Sets BIN, WORK, CP and,
# once start_webhook has run, WEBHOOK_PID, PORT (HTTPS /validate) and PROBE (/metrics, /readyz).

WEBHOOK_PID=
log() { printf '[%s] %s\n' "$(basename "$0" .sh)" "$*" >&2; }
k() { kubectl --kubeconfig "$CP/kubeconfig" "$@"; }

# binary_argument PATH: BIN, made absolute; without an executable PATH, the calling script's
# header comment as usage, and exit 2.
binary_argument() {
  [[ -n ${1:-} && -x $1 ]] || { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2; }
  BIN=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
}

require_tools() {
  local tool
  for tool; do
    command -v "$tool" >/dev/null || { log "$tool is missing (scripts/setup.sh installs it)"; exit 2; }
  done
}

# make_workdir NAME: WORK and CP, both removed (with the webhook and control plane stopped) on exit.
make_workdir() {
  WORK=$(mktemp -d "/tmp/plano-$1-XXXXXX")
  CP=$WORK/cp
  trap cleanup EXIT
}

# Stops the webhook started last, if it runs.
stop_webhook() {
  if [[ -n $WEBHOOK_PID ]]; then
    kill -TERM "$WEBHOOK_PID" 2>/dev/null || true
    wait "$WEBHOOK_PID" 2>/dev/null || true
    WEBHOOK_PID=
  fi
}

# Stops the webhook and the control plane; the caller's EXIT trap.
cleanup() {
  stop_webhook
  "$ROOT/scripts/controlplane.sh" down "$CP" >/dev/null 2>&1 || true
  rm -rf "$WORK"
}

start_control_plane() {
  log "control plane in $CP"
  # Bare (no controllers): the figures are the webhook's alone, comparable with earlier runs.
  PLANO_CP_BARE=1 "$ROOT/scripts/controlplane.sh" up "$CP" >/dev/null
  k apply -f "$ROOT/crds/" >/dev/null
  k wait --for condition=established --timeout=60s crd --all >/dev/null
  k create namespace platform >/dev/null
  k create namespace bench-tenant >/dev/null
}

# $WORK/ca.crt, and tls.crt/tls.key for 127.0.0.1 signed by it.
make_certificates() {
  local ec=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes)
  openssl req -x509 "${ec[@]}" -keyout "$WORK/ca.key" -out "$WORK/ca.crt" -days 1 -subj /CN=bench-ca \
    -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign 2>/dev/null
  openssl req -new "${ec[@]}" -keyout "$WORK/tls.key" -out "$WORK/tls.csr" -subj /CN=127.0.0.1 2>/dev/null
  printf '[ext]\nsubjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' >"$WORK/ext"
  openssl x509 -req -in "$WORK/tls.csr" -CA "$WORK/ca.crt" -CAkey "$WORK/ca.key" -set_serial 1 -days 1 \
    -extfile "$WORK/ext" -extensions ext -out "$WORK/tls.crt" 2>/dev/null
}

# The object in manifest $1 as the API server hands it to admission (server-side dry run: uid,
# creationTimestamp, managedFields filled in), wrapped as an admission.k8s.io/v1 CREATE review, on stdout.
review_of() {
  k create --dry-run=server --show-managed-fields -o json -f "$1" >"$WORK/review-object.json"
  python3 - "$WORK/review-object.json" <<'PY'
import json, sys
obj = json.load(open(sys.argv[1]))
gvk = {"group": "plano-operator.io", "version": "v1alpha1", "kind": "ModelProvider"}
gvr = {"group": "plano-operator.io", "version": "v1alpha1", "resource": "modelproviders"}
print(json.dumps({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {
    "uid": "0f0e6a4c-6d1b-4a59-9d8c-5b0d2c1e7a31", "kind": gvk, "resource": gvr, "requestKind": gvk,
    "requestResource": gvr, "name": obj["metadata"]["name"], "namespace": obj["metadata"]["namespace"],
    "operation": "CREATE", "userInfo": {"username": "tenant-ci", "groups": ["system:authenticated"]},
    "object": obj, "oldObject": None, "dryRun": False,
    "options": {"apiVersion": "meta.k8s.io/v1", "kind": "CreateOptions", "fieldManager": "kubectl-client-side-apply"}}},
    separators=(",", ":")))
PY
}

# start_webhook BIN [FLAG...]: runs `BIN webhook` on loopback ports with the certificate above and
# waits until it is ready.
start_webhook() {
  local bin=$1 line i
  shift
  ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
  "$bin" webhook --kubeconfig "$CP/kubeconfig" --listen-address 127.0.0.1:0 --probe-address 127.0.0.1:0 \
    --tls-cert-file "$WORK/tls.crt" --tls-key-file "$WORK/tls.key" "$@" >"$WORK/webhook.log" 2>&1 &
  WEBHOOK_PID=$!
  PORT= PROBE=
  for ((i = 0; i < 200; i++)); do
    line=$(grep -o 'admission on https://127.0.0.1:[0-9]*/validate, probes and metrics on 127.0.0.1:[0-9]*' "$WORK/webhook.log" || true)
    if [[ -n $line ]]; then
      PORT=$(sed 's|.*https://127.0.0.1:\([0-9]*\)/.*|\1|' <<<"$line")
      PROBE=${line##*:}
      break
    fi
    kill -0 "$WEBHOOK_PID" 2>/dev/null || { cat "$WORK/webhook.log" >&2; exit 1; }
    sleep 0.05
  done
  [[ -n $PORT ]] || { log "the webhook did not start"; cat "$WORK/webhook.log" >&2; exit 1; }
  for ((i = 0; i < 300; i++)); do
    [[ $(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PROBE/readyz") == 200 ]] && return
    sleep 0.1
  done
  log "the webhook did not become ready"
  exit 1
}
