#!/usr/bin/env bash
# The README's first command (make run): installs what is missing, builds, starts a local control
# plane (or uses $KUBECONFIG's cluster), runs the operator and the webhook, applies examples/ and
# shows what happened. Leaves everything running; scripts/demo.sh stop ends it.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
state=$root/.cache/demo
export PLANO_CACHE_DIR="${PLANO_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/plano-operator}"

if [ -t 1 ]; then bold=$'\033[1m' plain=$'\033[0m'; else bold='' plain=''; fi
step() { printf '\n%s==> %s%s\n' "$bold" "$*" "$plain"; }

stop() {
  for p in operator webhook; do
    if [ -f "$state/$p.pid" ]; then kill "$(cat "$state/$p.pid")" 2>/dev/null || true; rm -f "$state/$p.pid"; fi
  done
  if [ -f "$state/local-control-plane" ]; then
    scripts/controlplane.sh down "$state/controlplane"
  fi
  rm -rf "$state"
  echo "demo stopped"
}
if [ "${1:-}" = stop ]; then stop; exit 0; fi

step "Installing what is missing (Debian packages, Plano's validator)"
scripts/setup.sh

step "Building plano-operator"
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
ninja -C build plano-operator
bin=$root/build/plano-operator

mkdir -p "$state"
local_cp=false
if [ -n "${KUBECONFIG:-}" ] && kubectl cluster-info >/dev/null 2>&1 && [ ! -f "$state/local-control-plane" ]; then
  step "Using the cluster of \$KUBECONFIG ($KUBECONFIG)"
else
  step "Starting a local cluster (etcd, kube-apiserver, controller manager, scheduler, kwok's fake node; the first time builds them from Go modules)"
  eval "$(scripts/controlplane.sh up "$state/controlplane")"
  touch "$state/local-control-plane"
  local_cp=true
fi
k() { kubectl "$@"; }

step "Installing the CRDs"
k apply -f crds/ >/dev/null
k wait --for condition=established --timeout=60s crd/planogateways.plano-operator.io crd/modelproviders.plano-operator.io >/dev/null
echo "PlanoGateway and ModelProvider are served"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_http() {  # url, what
  for _ in $(seq 1 100); do curl -skf "$1" >/dev/null 2>&1 && return 0; sleep 0.1; done
  echo "$2 did not become ready; see $state/*.log" >&2; exit 1
}

if $local_cp; then
  step "Starting the webhook on 127.0.0.1 and registering it with the API server"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 -subj "/CN=plano-operator-demo-webhook" \
    -addext "subjectAltName=IP:127.0.0.1" -keyout "$state/tls.key" -out "$state/tls.crt" 2>/dev/null
  webhook_port=$(free_port) webhook_probe=$(free_port)
  nohup "$bin" webhook --listen-address "127.0.0.1:$webhook_port" --probe-address "127.0.0.1:$webhook_probe" \
    --tls-cert-file "$state/tls.crt" --tls-key-file "$state/tls.key" >"$state/webhook.log" 2>&1 &
  echo $! >"$state/webhook.pid"
  wait_http "http://127.0.0.1:$webhook_probe/readyz" webhook
  ca=$(base64 -w0 <"$state/tls.crt")
  k apply -f - >/dev/null <<YAML
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingWebhookConfiguration
metadata: {name: plano-operator-demo}
webhooks:
  - name: validate.plano-operator.io
    clientConfig: {url: "https://127.0.0.1:$webhook_port/validate", caBundle: "$ca"}
    rules:
      - apiGroups: [plano-operator.io]
        apiVersions: [v1alpha1]
        operations: [CREATE, UPDATE]
        resources: [planogateways, modelproviders]
    sideEffects: None
    admissionReviewVersions: [v1]
    timeoutSeconds: 5
    failurePolicy: Fail
YAML
  echo "webhook serving https://127.0.0.1:$webhook_port/validate (log: $state/webhook.log)"
else
  echo "(the webhook is not registered: a remote API server cannot call a webhook on this machine; install the chart for that)"
fi

step "Starting the operator"
operator_probe=$(free_port)
nohup "$bin" operator --leader-elect=false --probe-address "127.0.0.1:$operator_probe" >"$state/operator.log" 2>&1 &
echo $! >"$state/operator.pid"
wait_http "http://127.0.0.1:$operator_probe/readyz" operator
echo "operator ready (metrics: http://127.0.0.1:$operator_probe/metrics, log: $state/operator.log)"

step "Applying examples/"
for ns in platform team-a team-b; do k get ns "$ns" >/dev/null 2>&1 || k create ns "$ns" >/dev/null; done
k apply -f examples/ --recursive=false 2>&1 | grep -v "last-applied-configuration\|^Warning" || true
for gw in $(k get pgw -n platform -o name); do
  k wait -n platform --for=condition=Programmed --timeout=30s "$gw" >/dev/null
done
if $local_cp; then
  # kwok reports the pods Running and Ready (they run nothing), so the Deployments become available.
  for gw in $(k get pgw -n platform -o name); do
    k wait -n platform --for=condition=Ready --timeout=120s "$gw" >/dev/null
  done
fi

step "Gateways and providers"
$local_cp || echo "(READY turns True once Plano's pods are ready in your cluster)"
k get pgw -A
echo
k get mp -A

step "The Plano config of platform/llm-gateway (ConfigMap llm-gateway-plano-config)"
k get configmap -n platform llm-gateway-plano-config -o jsonpath='{.data.plano_config\.yaml}'

step "A tenant tries to add a second default to platform/llm-gateway (server-side dry run)"
tenant_default='apiVersion: plano-operator.io/v1alpha1
kind: ModelProvider
metadata: {name: my-default, namespace: team-b}
spec:
  gatewayRef: {name: llm-gateway, namespace: platform}
  model: openai/gpt-4o-mini
  passthroughAuth: true
  default: true'
echo "$tenant_default" | sed 's/^/  /'
if $local_cp; then
  echo "$tenant_default" | k apply --dry-run=server -f - 2>&1 | sed 's/^/  => /' || true
else
  echo "$tenant_default" | "$bin" validate -f - | sed 's/^/  => /' || true
fi

step "Done; everything keeps running"
if $local_cp; then
  echo "Use it:   export KUBECONFIG=$state/controlplane/kubeconfig; kubectl get pgw,mp -A"
fi
echo "Stop it:  make stop   (or scripts/demo.sh stop)"
