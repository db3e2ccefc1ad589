#!/usr/bin/env bash
# What pipelines conclude about live PlanoGateways and ModelProviders, judged by their own code:
# kstatus's status.Compute (sigs.k8s.io/cli-utils: Flux, kpt, kubectl-based waits) and Argo CD's
# Lua health check (docs/argocd-health.lua in gopher-lua, as Argo CD runs it), both in the kstatus
# tool scripts/build-tools.sh builds. The operator binary reconciles on a cluster whose controllers
# run (kube-controller-manager, kube-scheduler, kwok's fake node), so pods really roll and become
# Ready. Each state of the issue "Pipelines see the truth" must be judged as:
#   working gateway, working provider           Current      Healthy
#   refused gateway, refused provider,
#     a provider of the refused gateway         Failed       Degraded
#   gateway whose pods cannot be scheduled,
#     a provider waiting for them,
#     provider whose Secret does not exist yet  InProgress   Progressing
# each broken one with a message that names the cause; `kubectl wait --for=condition=Ready` passes
# for the working ones only; and the missing Secret, once created, turns its provider Current.
#
# Usage: health_test.sh PATH-TO-plano-operator
set -euo pipefail
# The chart tests' helpers: scratch directory, cluster, eventually, fail.
# shellcheck source=tests/chart/lib.sh
source "$(dirname "$0")/../chart/lib.sh"

BINARY=${1:?usage: health_test.sh PATH-TO-plano-operator}
[[ -x $BINARY ]] || fail "no plano-operator binary at $BINARY"
command -v python3 >/dev/null || fail "python3 is needed"
cli_utils_version=$(sed -n 's/^CLI_UTILS_VERSION=//p' "$ROOT/scripts/build-tools.sh")
KSTATUS=${PLANO_KSTATUS:-${PLANO_CACHE_DIR:-$ROOT/.cache}/tools/kstatus-$cli_utils_version}
[[ -x $KSTATUS ]] || fail "kstatus not found at $KSTATUS; run scripts/build-tools.sh kstatus"
start_cluster

k apply --server-side -f "$ROOT/crds/" >/dev/null || fail "kubectl apply -f crds/"
k wait --for=condition=Established --timeout=60s crd/planogateways.plano-operator.io crd/modelproviders.plano-operator.io >/dev/null
k create namespace health >/dev/null
k create namespace elsewhere >/dev/null

gateway() { # NAME PORT [DEPLOYMENT-YAML]
  printf -- '---\napiVersion: plano-operator.io/v1alpha1\nkind: PlanoGateway\nmetadata: {name: %s, namespace: health}\n' "$1"
  printf 'spec:\n  configVersion: v0.4.0\n  listeners: [{name: models, type: model, port: %s}]\n' "$2"
  printf '  allowedProviders: {namespaces: {from: Same}}\n  deployment: {replicas: 1%s}\n' "${3:-}"
}
provider() { # NAMESPACE NAME GATEWAY MODEL AUTH-YAML
  printf -- '---\napiVersion: plano-operator.io/v1alpha1\nkind: ModelProvider\nmetadata: {name: %s, namespace: %s}\n' "$2" "$1"
  printf 'spec:\n  gatewayRef: {name: %s, namespace: health}\n  model: %s\n  %s\n' "$3" "$4" "$5"
}
{
  gateway working 12000
  # The CRD admits 64 pod annotations of 4096 bytes each; the operator refuses more than Kubernetes
  # lets a pod carry in all (no webhook runs here to refuse it first).
  gateway refused 12000 ", podAnnotations: {$(python3 -c 'print(", ".join("a%d: %s" % (i, "x" * 4096) for i in range(64)))')}"
  # No node carries this label: the pods stay Pending, the rollout never finishes.
  gateway rolling 12000 ', nodeSelector: {plano-operator.io/no-such-node: "true"}'
  provider health served working openai/gpt-4o 'passthroughAuth: true'
  provider health keyless working anthropic/claude-sonnet-4-5 'accessKeySecretRef: {name: not-yet, key: api-key}'
  # The working gateway admits providers of its own namespace only.
  provider elsewhere outsider working mistral/mistral-large 'passthroughAuth: true'
  provider health stranded refused openai/gpt-4o-mini 'passthroughAuth: true'
  provider health waiting rolling openai/gpt-4o 'passthroughAuth: true'
} > "$WORK/objects.yaml"
k apply --server-side -f "$WORK/objects.yaml" >/dev/null || fail "kubectl apply the objects"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
"$BINARY" operator --kubeconfig "$KUBECONFIG" --leader-elect=false --probe-address="127.0.0.1:$(free_port)" \
  > "$WORK/operator.log" 2>&1 &
CHILD_PIDS+=($!)

# judge KIND NAMESPACE NAME: one JSON line, kstatus's and Argo CD's verdicts on the live object.
judge() { k -n "$2" get "$1" "$3" -o json | "$KSTATUS" --argocd-lua "$ROOT/docs/argocd-health.lua"; }
# check.py LINE KSTATUS ARGOCD [MESSAGE-PART]: whether both verdicts are as expected and (kstatus says
# only "Resource is Ready" of a Ready object) their messages name the cause; prints the verdict.
cat > "$WORK/check.py" <<'PY'
import json, sys
v = json.loads(sys.argv[1])
ks, argo = v["kstatus"], v["argocd"]
if (ks["status"], argo["status"]) != (sys.argv[2], sys.argv[3]):
    sys.exit(f"kstatus {ks['status']} ({ks['message']}), Argo CD {argo['status']} ({argo['message']})")
if len(sys.argv) > 4:
    for tool, said in (("kstatus", ks), ("Argo CD", argo)):
        if sys.argv[4] not in said["message"] and not (tool == "kstatus" and ks["status"] == "Current"):
            sys.exit(f"the {tool} message {said['message']!r} does not name {sys.argv[4]!r}")
print(f"kstatus {ks['status']}, Argo CD {argo['status']}: {argo['message']}")
PY
# verdict KIND NAMESPACE NAME KSTATUS ARGOCD: succeeds when both say so.
verdict() {
  local line
  line=$(judge "$1" "$2" "$3") && python3 "$WORK/check.py" "$line" "$4" "$5" >/dev/null
}
# expect KIND NAMESPACE NAME KSTATUS ARGOCD MESSAGE-PART: both verdicts, and both messages naming the cause.
expect() {
  local out
  if ! eventually 90 verdict "$1" "$2" "$3" "$4" "$5"; then
    k -n "$2" get "$1" "$3" -o jsonpath='{.status}' >&2 || true
    echo >&2
    fail "$1 $2/$3: expected kstatus $4 and Argo CD $5, got $(python3 "$WORK/check.py" "$(judge "$1" "$2" "$3")" "$4" "$5" 2>&1)"
  fi
  out=$(python3 "$WORK/check.py" "$(judge "$1" "$2" "$3")" "$4" "$5" "$6" 2>&1) || fail "$1 $2/$3: $out"
  log "ok: $1 $2/$3: $out"
}

expect planogateway health working Current Healthy "1/1 replicas available"
expect modelprovider health served Current Healthy "in the config of gateway health/working"
expect planogateway health refused Failed Degraded "spec.deployment.podAnnotations"
expect modelprovider elsewhere outsider Failed Degraded "namespace"
expect modelprovider health stranded Failed Degraded "gateway health/refused is not programmed"
expect planogateway health rolling InProgress Progressing "0/1 replicas available"
expect modelprovider health waiting InProgress Progressing "whose pods do not serve it yet"
expect modelprovider health keyless InProgress Progressing "Secret health/not-yet does not exist"

# kubectl wait reads the same Ready: it passes for a working object, times out for a broken one.
k -n health wait --for=condition=Ready --timeout=10s planogateway/working modelprovider/served >/dev/null ||
  fail "kubectl wait --for=condition=Ready fails on working objects"
if k -n health wait --for=condition=Ready --timeout=3s planogateway/refused >/dev/null 2>&1; then
  fail "kubectl wait --for=condition=Ready passes on the refused gateway"
fi
log "ok: kubectl wait --for=condition=Ready passes for working objects only"

# The Secret arrives (another pipeline, another tool): the provider becomes Current without a change of its own.
k -n health create secret generic not-yet --from-literal=api-key=sk-health-test >/dev/null
expect modelprovider health keyless Current Healthy "in the config of gateway health/working"
