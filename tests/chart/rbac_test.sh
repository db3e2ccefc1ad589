#!/usr/bin/env bash
# The chart's RBAC is enough, and no more than needed: the real plano-operator
# binary runs as the chart's ServiceAccounts (tokens from the TokenRequest
# API) with the exact arguments of the chart's Deployments, against a real
# API server with RBAC on.
#  - operator: the examples converge (every gateway and provider
#    Programmed=True at its generation), with the side effects that only log a
#    warning when forbidden (Events, the label on referenced Secrets) checked
#    explicitly, the Lease held, the self-managed webhook certificate written,
#    and no "forbidden" in its log. OwnerReferencesPermissionEnforcement is on,
#    as in some distributions, so blockOwnerDeletion is checked too.
#  - webhook: becomes ready (its caches synced with only its rights).
#  - both: a handful of things outside their rules are refused.
#  - people: the chart's roles for the built-in admin/edit/view let a namespace
#    editor write ModelProviders there and nothing else of ours.
# With --watch-namespace platform, the chart binds the namespaced rights in
# `platform` only (RoleBindings): what lives there converges, the providers in
# team-a and team-b are left alone, and the operator cannot read team-a's
# Secrets. The release namespace is another one, so the Lease and certificate
# Roles are exercised on their own.
#
# Usage: rbac_test.sh [--watch-namespace NS] [PATH-TO-plano-operator]
#        (default binary: $PLANO_BINARY, then build/plano-operator)
set -euo pipefail
# shellcheck source=tests/chart/lib.sh
source "$(dirname "$0")/lib.sh"

WATCH=""
if [[ ${1:-} == --watch-namespace ]]; then
  WATCH=${2:?--watch-namespace needs a namespace}
  shift 2
fi
BINARY=${1:-${PLANO_BINARY:-$ROOT/build/plano-operator}}
[[ -x $BINARY ]] || fail "no plano-operator binary at $BINARY; build it first (make build, or cmake --build build --target plano-operator)"
command -v python3 >/dev/null || fail "python3 is needed to pick free ports"
command -v openssl >/dev/null || fail "openssl is needed for the webhook's test certificate"
command -v curl >/dev/null || fail "curl is needed to probe /readyz"
need_helm
start_control_plane --enable-admission-plugins=OwnerReferencesPermissionEnforcement

NS=plano-operator
RELEASE=plano-operator
OPERATOR_SA=$RELEASE-operator
WEBHOOK_SA=$RELEASE-webhook
SKIP_LABEL=plano-chart-test/skip-webhook

# --- install the chart ---------------------------------------------------------
# Default values (but watchNamespace), except that the webhook skips namespaces
# labelled $SKIP_LABEL: no webhook pod can run on a control plane without
# nodes, and the examples are applied into such namespaces.
for ns in "$NS" platform team-a team-b; do
  k create namespace "$ns" --save-config >/dev/null
done
for ns in platform team-a team-b; do
  k label namespace "$ns" "$SKIP_LABEL=true" >/dev/null
done
"$HELM" install "$RELEASE" "$CHART" --namespace "$NS" --set watchNamespace="$WATCH" \
  --set-json "webhook.namespaceSelector={\"matchExpressions\":[{\"key\":\"$SKIP_LABEL\",\"operator\":\"DoesNotExist\"}]}" \
  >/dev/null || fail "helm install"
k wait --for=condition=Established --timeout=60s crd/planogateways.plano-operator.io crd/modelproviders.plano-operator.io >/dev/null

# --- identities ------------------------------------------------------------------
ca_data=$(k config view --raw --minify -o jsonpath='{.clusters[0].cluster.certificate-authority-data}')
# kubeconfig_for SA: a kubeconfig that authenticates with a fresh token for SA.
kubeconfig_for() {
  local sa=$1 token file=$WORK/$1.kubeconfig
  token=$(k create token "$sa" --namespace "$NS" --duration=1h) || fail "TokenRequest for $sa"
  cat > "$file" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: test
  cluster: {server: "$PLANO_APISERVER_URL", certificate-authority-data: "$ca_data"}
users:
- name: $sa
  user: {token: "$token"}
contexts:
- name: $sa
  context: {cluster: test, user: $sa, namespace: $NS}
current-context: $sa
EOF
  echo "$file"
}
OPERATOR_KUBECONFIG=$(kubeconfig_for "$OPERATOR_SA")
WEBHOOK_KUBECONFIG=$(kubeconfig_for "$WEBHOOK_SA")

# container_args DEPLOYMENT: the container's arguments, one per line.
container_args() {
  k -n "$NS" get "deploy/$1" -o jsonpath='{range .spec.template.spec.containers[0].args[*]}{@}{"\n"}{end}'
}

# check_flags SUBCOMMAND ARGS-FILE: the binary knows every flag the chart passes.
check_flags() {
  local help flag missing=()
  help=$("$BINARY" "$1" --help)
  while read -r flag; do
    [[ $flag == --* ]] || continue
    flag=${flag%%=*}
    grep -q -- "  $flag " <<<"$help" || missing+=("$flag")
  done < "$2"
  ((${#missing[@]} == 0)) ||
    fail "the chart passes '$1' flags that $BINARY does not know: ${missing[*]} (rebuild the binary, or fix the chart)"
}

# with_overrides ARGS-FILE NAME=VALUE...: the arguments with some flags' values replaced.
with_overrides() {
  local file=$1 arg name
  shift
  while read -r arg; do
    for o in "$@"; do
      name=${o%%=*}
      [[ $arg == "$name="* ]] && arg=$o
    done
    printf '%s\n' "$arg"
  done < "$file"
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# --- the operator, as its ServiceAccount -----------------------------------------
container_args "$RELEASE-operator" > "$WORK/operator.args"
[[ $(head -n1 "$WORK/operator.args") == operator ]] || fail "the operator Deployment does not run 'operator'"
check_flags operator "$WORK/operator.args"
op_port=$(free_port)
mapfile -t op_args < <(with_overrides "$WORK/operator.args" "--probe-address=127.0.0.1:$op_port")
# The pod's environment (downward API): its namespace and name.
POD_NAMESPACE=$NS POD_NAME=$RELEASE-operator-rbac-test \
  "$BINARY" "${op_args[@]}" --kubeconfig "$OPERATOR_KUBECONFIG" > "$WORK/operator.log" 2>&1 &
CHILD_PIDS+=($!)
log "operator running as system:serviceaccount:$NS:$OPERATOR_SA: ${op_args[*]}"

# --- the examples ------------------------------------------------------------------
for f in "$ROOT"/examples/*.yaml; do
  k apply -f "$f" >/dev/null || fail "kubectl apply -f $f"
done

# programmed KIND NS NAME: Programmed=True computed for the object's current generation.
programmed() {
  local out
  out=$(k -n "$2" get "$1/$3" -o jsonpath='{.metadata.generation} {.status.conditions[?(@.type=="Programmed")].status} {.status.conditions[?(@.type=="Programmed")].observedGeneration}')
  read -r gen status observed <<<"$out"
  [[ $status == True && $observed == "$gen" ]]
}
dump_on_failure() {
  printf -- '--- operator log (last 40 lines)\n' >&2
  tail -n 40 "$WORK/operator.log" >&2 || true
  k get planogateways,modelproviders -A -o wide >&2 || true
}

# objects KIND: namespace/name of every object of KIND, in the watched namespace if any.
objects() {
  local scope=(-A)
  [[ -n $WATCH ]] && scope=(-n "$WATCH")
  k get "$1" "${scope[@]}" -o jsonpath='{range .items[*]}{.metadata.namespace}/{.metadata.name}{"\n"}{end}'
}
gateways=$(objects planogateways)
providers=$(objects modelproviders)
[[ $(wc -l <<<"$gateways") -ge 3 && $(wc -l <<<"$providers") -ge 3 ]] || fail "the examples did not create the expected objects"
[[ -n $WATCH || $(wc -l <<<"$providers") -ge 10 ]] || fail "the examples did not create the expected providers"
for gw in $gateways; do
  eventually 60 programmed planogateway "${gw%/*}" "${gw#*/}" || { dump_on_failure; fail "gateway $gw never became Programmed=True"; }
done
for mp in $providers; do
  eventually 30 programmed modelprovider "${mp%/*}" "${mp#*/}" || { dump_on_failure; fail "provider $mp never became Programmed=True"; }
done
log "ok: $(wc -l <<<"$gateways") gateways and $(wc -l <<<"$providers") providers Programmed=True"

# Side effects whose failure the operator only logs.
for gw in $gateways; do
  ns=${gw%/*} name=${gw#*/}
  for object in configmap/$name-plano-config secret/$name-plano-keys deploy/$name-plano service/$name-plano; do
    [[ $(k -n "$ns" get "$object" -o jsonpath='{.metadata.ownerReferences[0].blockOwnerDeletion}') == true ]] ||
      fail "$ns/$object is missing or lacks its owner reference"
  done
done
referenced=$(k -n team-a get secret openai-credentials -o jsonpath='{.metadata.labels.plano-operator\.io/referenced}')
if [[ -z $WATCH ]]; then
  [[ $referenced == true ]] || fail "the operator could not label the referenced Secret team-a/openai-credentials"
else
  # Outside the watched namespace nothing is touched, not even read.
  [[ -z $referenced ]] || fail "the operator labelled team-a's Secret although it watches $WATCH only"
  [[ -z $(k -n team-a get modelprovider gpt-4o -o jsonpath='{.status}') ]] ||
    fail "the operator wrote the status of team-a/gpt-4o although it watches $WATCH only"
fi
events=$(k get events.events.k8s.io -A -o jsonpath='{range .items[*]}{.reportingController}{"\n"}{end}' | grep -c '^plano-operator.io/operator$' || true)
((events > 0)) || fail "the operator recorded no Events"
[[ $(k -n "$NS" get lease "$RELEASE" -o jsonpath='{.spec.holderIdentity}') == "$RELEASE-operator-rbac-test" ]] ||
  fail "the operator does not hold Lease $NS/$RELEASE"
log "ok: owner references, Secret label, $events Events, Lease"

# Self-managed webhook certificate (the chart's default mode).
has_certificate() {
  [[ -n $(k -n "$NS" get secret "$RELEASE-webhook-tls" -o jsonpath='{.data.tls\.crt}') &&
     -n $(k get validatingwebhookconfiguration "$RELEASE" -o jsonpath='{.webhooks[0].clientConfig.caBundle}') ]]
}
eventually 30 has_certificate || { dump_on_failure; fail "no serving certificate in Secret $NS/$RELEASE-webhook-tls or no caBundle in the webhook configuration"; }
# The Secret, with the CA's key, goes when `helm uninstall` deletes its owner (garbage collection).
owner=$(k -n "$NS" get secret "$RELEASE-webhook-tls" -o jsonpath='{range .metadata.ownerReferences[*]}{.kind}/{.name}/{.uid}{end}')
[[ $owner == "ValidatingWebhookConfiguration/$RELEASE/$(k get validatingwebhookconfiguration "$RELEASE" -o jsonpath='{.metadata.uid}')" ]] ||
  fail "Secret $NS/$RELEASE-webhook-tls is not owned by the webhook configuration (owner references: $owner)"
log "ok: self-managed certificate and caBundle written; the Secret is owned by the webhook configuration"

if grep -in 'forbidden' "$WORK/operator.log" >&2; then
  fail "the operator was refused something (above)"
fi

# --- the webhook, as its ServiceAccount ----------------------------------------
container_args "$RELEASE-webhook" > "$WORK/webhook.args"
[[ $(head -n1 "$WORK/webhook.args") == webhook ]] || fail "the webhook Deployment does not run 'webhook'"
check_flags webhook "$WORK/webhook.args"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 -subj "/CN=$WEBHOOK_SA" \
  -keyout "$WORK/tls.key" -out "$WORK/tls.crt" 2>/dev/null
wh_port=$(free_port) wh_probe=$(free_port)
mapfile -t wh_args < <(with_overrides "$WORK/webhook.args" "--listen-address=127.0.0.1:$wh_port" \
  "--probe-address=127.0.0.1:$wh_probe" "--tls-cert-file=$WORK/tls.crt" "--tls-key-file=$WORK/tls.key")
POD_NAMESPACE=$NS POD_NAME=$RELEASE-webhook-rbac-test \
  "$BINARY" "${wh_args[@]}" --kubeconfig "$WEBHOOK_KUBECONFIG" > "$WORK/webhook.log" 2>&1 &
CHILD_PIDS+=($!)
ready() { [[ $(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$wh_probe/readyz") == 200 ]]; }
eventually 30 ready || { tail -n 30 "$WORK/webhook.log" >&2; fail "the webhook never became ready as $WEBHOOK_SA"; }
if grep -in 'forbidden' "$WORK/webhook.log" >&2; then fail "the webhook was refused something (above)"; fi
log "ok: webhook ready as system:serviceaccount:$NS:$WEBHOOK_SA"

# --- helm test's script, on this host ------------------------------------------
# The chart's test pod (it needs a kubelet to run in a pod) with what the pod would have: the
# webhook's ServiceAccount token and the cluster CA, the API server, and the webhook's address.
mkdir -p "$WORK/test-pod-sa"
k create token "$WEBHOOK_SA" --namespace "$NS" --duration=10m > "$WORK/test-pod-sa/token" || fail "TokenRequest for $WEBHOOK_SA"
base64 -d <<<"$ca_data" > "$WORK/test-pod-sa/ca.crt"
"$HELM" get hooks "$RELEASE" --namespace "$NS" > "$WORK/hooks.yaml" || fail "helm get hooks"
test_script=$(k create --dry-run=client -f "$WORK/hooks.yaml" -o jsonpath='{.spec.containers[0].args[0]}') ||
  fail "the release has no helm test pod"
[[ -n $test_script ]] || fail "the helm test pod has no script"
if ! API_URL=$PLANO_APISERVER_URL SA_DIR=$WORK/test-pod-sa WEBHOOK_URL="https://127.0.0.1:$wh_port/validate" NAMESPACE=$NS \
  sh -ec "$test_script" > "$WORK/helm-test.log" 2>&1; then
  cat "$WORK/helm-test.log" >&2
  fail "the helm test pod's script fails against a working installation"
fi
grep -c '^ok: ' "$WORK/helm-test.log" | grep -qx 3 || { cat "$WORK/helm-test.log" >&2; fail "the helm test script did not check both CRDs and the webhook"; }
# And it fails when the webhook does not answer.
if API_URL=$PLANO_APISERVER_URL SA_DIR=$WORK/test-pod-sa WEBHOOK_URL="https://127.0.0.1:$(free_port)/validate" NAMESPACE=$NS \
  sh -ec "$test_script" > "$WORK/helm-test-down.log" 2>&1; then
  fail "the helm test pod's script passes although nothing serves the webhook address"
fi
grep -q 'FAIL: the webhook at' "$WORK/helm-test-down.log" || { cat "$WORK/helm-test-down.log" >&2; fail "unexpected failure of the helm test script"; }
log "ok: helm test's script passes against this installation and fails without a webhook"

# --- and nothing more ------------------------------------------------------------
# refused KUBECONFIG DESCRIPTION KUBECTL-ARGS...: the request itself is answered 403.
refused() {
  local kc=$1 what=$2 out
  shift 2
  if out=$(kubectl --kubeconfig "$kc" "$@" 2>&1); then fail "allowed, but must be refused: $what"; fi
  grep -q 'Forbidden\|forbidden' <<<"$out" || fail "$what failed for another reason: $out"
}
refused "$OPERATOR_KUBECONFIG" "operator lists pods" get pods -A
refused "$OPERATOR_KUBECONFIG" "operator reads a ConfigMap directly" -n platform get configmap litellm-gateway-plano-config
refused "$OPERATOR_KUBECONFIG" "operator deletes a Deployment" -n platform delete deploy litellm-gateway-plano
refused "$OPERATOR_KUBECONFIG" "operator edits a gateway's spec" -n platform patch planogateway litellm-gateway --type=merge -p '{"spec":{"deployment":{"replicas":5}}}'
refused "$OPERATOR_KUBECONFIG" "operator creates a ClusterRoleBinding" create clusterrolebinding escalate --clusterrole=cluster-admin --serviceaccount="$NS:$OPERATOR_SA"
refused "$OPERATOR_KUBECONFIG" "operator takes another Lease" -n "$NS" get lease other-lease
refused "$OPERATOR_KUBECONFIG" "operator deletes a Secret other than the webhook's" -n "$NS" delete secret other-secret
refused "$OPERATOR_KUBECONFIG" "operator lists webhook configurations by any name" get validatingwebhookconfigurations
refused "$OPERATOR_KUBECONFIG" "operator patches another webhook configuration" patch validatingwebhookconfiguration other --type=merge -p '{"metadata":{"labels":{"x":"y"}}}'
refused "$WEBHOOK_KUBECONFIG" "webhook reads Secrets" -n team-a get secret openai-credentials
refused "$WEBHOOK_KUBECONFIG" "webhook writes a gateway" -n platform delete planogateway litellm-gateway
refused "$WEBHOOK_KUBECONFIG" "webhook lists ConfigMaps" get configmaps -A
count=12

# --- people: what aggregation into the built-in roles gives a namespace editor -----
# No controller manager runs here to aggregate, so alice gets the chart's two roles in team-a
# directly: exactly what the labels below add to `edit` there.
for role in edit view; do
  [[ $(k get clusterrole "$RELEASE-$role" -o jsonpath='{.metadata.labels.rbac\.authorization\.k8s\.io/aggregate-to-edit}') == true ]] ||
    fail "ClusterRole $RELEASE-$role is missing or not aggregated into edit"
  k -n team-a create rolebinding "alice-$role" --clusterrole="$RELEASE-$role" --user=alice >/dev/null
done
[[ $(k get clusterrole "$RELEASE-view" -o jsonpath='{.metadata.labels.rbac\.authorization\.k8s\.io/aggregate-to-view}') == true ]] ||
  fail "ClusterRole $RELEASE-view is not aggregated into view"
k --as alice -n team-a get modelproviders,planogateways >/dev/null || fail "alice cannot read team-a's providers and gateways"
k --as alice -n team-a apply -f - >/dev/null <<EOF || fail "alice cannot create a ModelProvider in team-a"
apiVersion: plano-operator.io/v1alpha1
kind: ModelProvider
metadata: {name: alice-provider, namespace: team-a}
spec: {gatewayRef: {name: none}, model: openai/gpt-4o-mini, passthroughAuth: true}
EOF
k --as alice -n team-a delete modelprovider alice-provider >/dev/null || fail "alice cannot delete her ModelProvider"
refused "$KUBECONFIG" "a namespace editor creates a PlanoGateway" --as alice -n team-a create -f - <<EOF
apiVersion: plano-operator.io/v1alpha1
kind: PlanoGateway
metadata: {name: alices-gateway, namespace: team-a}
spec: {listeners: [{name: llm, type: model, port: 12000}]}
EOF
refused "$KUBECONFIG" "a namespace editor writes a provider's status" --as alice -n team-a patch modelprovider gpt-4o \
  --subresource=status --type=merge -p '{"status":{"conditions":[]}}'
refused "$KUBECONFIG" "a namespace editor reads another namespace's providers" --as alice -n team-b get modelproviders
log "ok: a team-a editor writes team-a's ModelProviders only, and no PlanoGateway or status"
count=$((count + 3))
if [[ -n $WATCH ]]; then
  refused "$OPERATOR_KUBECONFIG" "operator reads a Secret outside $WATCH" -n team-a get secret openai-credentials
  refused "$OPERATOR_KUBECONFIG" "operator lists Secrets cluster-wide" get secrets -A
  refused "$OPERATOR_KUBECONFIG" "operator lists gateways cluster-wide" get planogateways -A
  refused "$WEBHOOK_KUBECONFIG" "webhook lists providers outside $WATCH" -n team-a get modelproviders
  count=$((count + 4))
fi
log "ok: $count requests outside the rules refused"
