#!/usr/bin/env bash
# Benchmark (not a test) of the webhook under hostile clients: a real control plane calling the
# webhook binary through a ValidatingWebhookConfiguration (URL, failurePolicy Fail, timeout 5 s),
# then bench/webhook_abuse.py: 600 slow-header TLS connections and 90 near-limit bodies while a
# normal client sends 200 reviews and kubectl creates with --dry-run=server through the API server;
# the webhook's RSS throughout; then 3,000 reviews of made-up kinds and the size of /metrics.
# Everything on 127.0.0.1; every loop bounded. Exits 1 if a goal is missed.
#
# Usage: bench/webhook_abuse.sh PATH/TO/plano-operator [webhook_abuse.py options, e.g. --loris 600]
# Needs openssl, curl, kubectl, python3 (scripts/setup.sh installs them). Builds nothing.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
source "$ROOT/bench/webhook_lib.sh"
binary_argument "${1:-}"
shift
require_tools openssl curl kubectl python3
make_workdir webhook-abuse
start_control_plane

k apply -f - >/dev/null <<'YAML'
apiVersion: plano-operator.io/v1alpha1
kind: PlanoGateway
metadata: {name: bench-gw, namespace: platform}
spec:
  listeners: [{name: llm, type: model, port: 12000}]
  allowedProviders: {namespaces: {from: All}}
YAML
cat >"$WORK/candidate.yaml" <<'YAML'
apiVersion: plano-operator.io/v1alpha1
kind: ModelProvider
metadata: {name: bench-candidate, namespace: bench-tenant}
spec:
  gatewayRef: {name: bench-gw, namespace: platform}
  model: openai/gpt-4o
  passthroughAuth: true
YAML
review_of "$WORK/candidate.yaml" >"$WORK/review.json"
make_certificates
start_webhook "$BIN"
log "webhook pid $WEBHOOK_PID on https://127.0.0.1:$PORT/validate (probes :$PROBE)"

k apply -f - >/dev/null <<YAML
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingWebhookConfiguration
metadata: {name: plano-bench}
webhooks:
  - name: validate.plano-operator.io
    clientConfig: {url: "https://127.0.0.1:$PORT/validate", caBundle: "$(base64 -w0 "$WORK/ca.crt")"}
    rules:
      - {apiGroups: [plano-operator.io], apiVersions: [v1alpha1], resources: [modelproviders, planogateways], operations: [CREATE, UPDATE]}
    sideEffects: None
    admissionReviewVersions: [v1]
    timeoutSeconds: 5
    failurePolicy: Fail
YAML
# The API server takes the configuration up asynchronously: wait until a dry run reaches the webhook.
CALLED='plano_webhook_admission_requests_total{kind="ModelProvider",operation="CREATE",verdict="allowed"}'
for ((i = 0; i < 100; i++)); do
  k create --dry-run=server -o name -f "$WORK/candidate.yaml" >/dev/null
  curl -s "http://127.0.0.1:$PROBE/metrics" | grep -qF "$CALLED" && break
  sleep 0.2
done
curl -s "http://127.0.0.1:$PROBE/metrics" | grep -qF "$CALLED" || { log "the API server never called the webhook"; exit 1; }
log "the API server calls the webhook; attacking"

echo "webhook under hostile clients ($(nproc) CPUs shared by the webhook, the control plane, the attackers and kubectl)"
python3 "$ROOT/bench/webhook_abuse.py" --port "$PORT" --probe "$PROBE" --pid "$WEBHOOK_PID" --ca "$WORK/ca.crt" \
  --review "$WORK/review.json" --kubeconfig "$CP/kubeconfig" --candidate "$WORK/candidate.yaml" "$@"
