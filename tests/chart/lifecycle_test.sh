#!/usr/bin/env bash
# helm install, upgrade and uninstall on a real API server:
#  - install with default values creates every object, adopting CRDs that
#    were applied by hand beforehand, and the operator and webhook
#    Deployments become Available (their pods are scheduled and admitted: the
#    ServiceAccounts exist, the pod specs are valid; kwok reports them Ready);
#  - upgrade with a chart whose CRD changed (a new printer column) and with
#    changed values updates the CRD in the cluster (CRDs are templates, not
#    crds/, which helm never upgrades) and the objects the values drive, and
#    keeps the caBundle the operator wrote into the webhook configuration;
#  - helm test's pod is admitted and scheduled (kwok runs no container, so it never completes, and
#    a failed test pod stays after uninstall, as docs/install.md says);
#  - uninstall removes everything but the CRDs (the leader-election Lease
#    included: no object of the release is left in its namespace), and the
#    custom resources in them survive; installing again adopts the kept CRDs,
#    and with uninstall.keepLeaseAndWebhookSecret the Lease stays too.
set -euo pipefail
# shellcheck source=tests/chart/lib.sh
source "$(dirname "$0")/lib.sh"
need_helm
start_cluster

NS=plano-operator
RELEASE=plano-operator
GW_CRD=crd/planogateways.plano-operator.io
MP_CRD=crd/modelproviders.plano-operator.io
h() { "$HELM" "$@" --namespace "$NS"; }

k create namespace "$NS" >/dev/null

# --- install over CRDs applied by hand ---------------------------------------
# `kubectl apply -f crds/` first (as the README allows) makes helm refuse to
# take the CRDs over, until they carry the release's ownership metadata: the
# adoption steps docs/install.md gives.
k apply --server-side -f "$ROOT/crds/" >/dev/null || fail "kubectl apply -f crds/"
if h install "$RELEASE" "$CHART" >"$WORK/refused.log" 2>&1; then
  fail "helm install took over hand-applied CRDs without adoption metadata"
fi
grep -q 'invalid ownership metadata' "$WORK/refused.log" || { cat "$WORK/refused.log" >&2; fail "unexpected helm error"; }
for crd in planogateways.plano-operator.io modelproviders.plano-operator.io; do
  k label crd "$crd" app.kubernetes.io/managed-by=Helm --overwrite >/dev/null
  k annotate crd "$crd" meta.helm.sh/release-name="$RELEASE" meta.helm.sh/release-namespace="$NS" --overwrite >/dev/null
done

# --- install -----------------------------------------------------------------
h install "$RELEASE" "$CHART" >/dev/null || fail "helm install with default values (CRDs adopted)"
for object in $GW_CRD $MP_CRD deploy/$RELEASE-operator deploy/$RELEASE-webhook \
  service/$RELEASE-webhook pdb/$RELEASE-webhook sa/$RELEASE-operator sa/$RELEASE-webhook \
  validatingwebhookconfiguration/$RELEASE clusterrole/$RELEASE-operator clusterrole/$RELEASE-webhook \
  role/$RELEASE-operator-leader-election role/$RELEASE-operator-webhook-certificates lease/$RELEASE; do
  k -n "$NS" get "$object" >/dev/null 2>&1 || fail "after install, $object is missing"
done
k wait --for=condition=Established --timeout=60s $GW_CRD $MP_CRD >/dev/null || fail "CRDs not established"
[[ $(k get $GW_CRD -o jsonpath='{.metadata.annotations.helm\.sh/resource-policy}') == keep ]] ||
  fail "the PlanoGateway CRD lacks helm.sh/resource-policy: keep"
if ! k -n "$NS" wait --for=condition=Available --timeout=120s deploy/$RELEASE-operator deploy/$RELEASE-webhook >/dev/null; then
  k -n "$NS" get deploy,rs,pods -o wide >&2
  k -n "$NS" get events --sort-by=.lastTimestamp >&2
  fail "the chart's Deployments did not become Available"
fi
log "ok: install (Deployments Available)"

# What the operator does in selfManaged mode: write caBundle into the live
# webhook configuration. The upgrade below must leave it alone.
ca_bundle=$(printf 'stand-in CA written by the operator' | base64 -w0)
k patch validatingwebhookconfiguration "$RELEASE" --type=json \
  -p "[{\"op\":\"add\",\"path\":\"/webhooks/0/clientConfig/caBundle\",\"value\":\"$ca_bundle\"}]" >/dev/null ||
  fail "cannot set caBundle"

# What the operator's leader election does: take the chart's empty Lease.
k -n "$NS" patch lease "$RELEASE" --type=merge -p '{"spec":{"holderIdentity":"plano-operator-0","leaseDurationSeconds":15}}' >/dev/null ||
  fail "cannot take the Lease"
# The Deployments' pods run here (controllers and kwok); the test pod must not.
[[ -z $(k -n "$NS" get pods -l app.kubernetes.io/component=test -o name) ]] ||
  fail "helm install created the test pod (it is a hook for helm test only)"

# --- helm test -------------------------------------------------------------------
# kwok runs no container: its stages make every pod Running and Ready, and complete only pods a Job
# owns, so helm test's pod never runs its script (chart.rbac runs that script on this host against
# a working installation) and never Succeeds. What is checked here is the rest: the pod helm test
# creates passes admission and is scheduled, and `helm test` waits for its verdict (times out here).
if h test "$RELEASE" --timeout 15s >"$WORK/helm-test.log" 2>&1; then
  fail "helm test passed on kwok, where no container runs: $(cat "$WORK/helm-test.log")"
fi
grep -q 'timed out waiting for the condition' "$WORK/helm-test.log" || { cat "$WORK/helm-test.log" >&2; fail "helm test failed otherwise than by waiting"; }
test_pod=$(k -n "$NS" get pod "$RELEASE-test" -o jsonpath='{.spec.nodeName} {.status.phase}') || fail "helm test created no pod $RELEASE-test"
[[ $test_pod == "plano-node-0 Running" ]] || fail "helm test's pod was not admitted and scheduled: $test_pod"
log "ok: helm test's pod is admitted and scheduled (on kwok it never completes: no container runs)"

# --- upgrade -----------------------------------------------------------------
# A copy of the chart whose PlanoGateway CRD has one more printer column.
cp -R "$CHART" "$WORK/chart"
crd=$WORK/chart/files/crds/plano-operator.io_planogateways.yaml
grep -q '^      additionalPrinterColumns:$' "$crd" || fail "test setup: cannot find additionalPrinterColumns in $crd"
sed -i 's/^      additionalPrinterColumns:$/&\n        - {name: UpgradeTest, type: string, priority: 1, description: A column only the upgraded chart has., jsonPath: .status.configHash}/' "$crd"
grep -q 'name: UpgradeTest' "$crd" || fail "test setup: could not add the printer column"

# Changed values: debug logs, and the webhook no longer reviews objects in
# namespaces labelled plano-chart-test/skip-webhook (so the custom resources
# below can be created although no webhook pod can run here).
h upgrade "$RELEASE" "$WORK/chart" --set logging.level=debug \
  --set-json 'webhook.namespaceSelector={"matchExpressions":[{"key":"plano-chart-test/skip-webhook","operator":"DoesNotExist"}]}' \
  >/dev/null || fail "helm upgrade with a changed CRD and changed values"
columns=$(k get $GW_CRD -o jsonpath='{.spec.versions[0].additionalPrinterColumns[*].name}')
[[ " $columns " == *" UpgradeTest "* ]] || fail "helm upgrade did not update the CRD (printer columns: $columns)"
k -n "$NS" get deploy/$RELEASE-operator -o jsonpath='{.spec.template.spec.containers[0].args}' | grep -q -- '--log-level=debug' ||
  fail "helm upgrade did not change the operator's --log-level"
[[ $(k get validatingwebhookconfiguration/$RELEASE -o jsonpath='{.webhooks[0].namespaceSelector.matchExpressions[0].key}') == plano-chart-test/skip-webhook ]] ||
  fail "helm upgrade did not change the webhook's namespaceSelector"
[[ $(k get validatingwebhookconfiguration/$RELEASE -o jsonpath='{.webhooks[0].clientConfig.caBundle}') == "$ca_bundle" ]] ||
  fail "helm upgrade erased or changed the caBundle the operator wrote"
[[ $(k -n "$NS" get lease "$RELEASE" -o jsonpath='{.spec.holderIdentity}') == plano-operator-0 ]] ||
  fail "helm upgrade erased the Lease's holder"
[[ $(h history "$RELEASE" -o json | grep -o '"revision":[0-9]*' | wc -l) -eq 2 ]] || fail "expected two revisions"
log "ok: upgrade (new CRD printer column, changed args and webhook selector, caBundle and Lease holder kept)"

# Custom resources, which must outlive the release.
k create namespace tenants >/dev/null
k label namespace tenants plano-chart-test/skip-webhook=true >/dev/null
k apply -f - >/dev/null <<'EOF' || fail "cannot create custom resources"
apiVersion: plano-operator.io/v1alpha1
kind: PlanoGateway
metadata: {name: gw, namespace: tenants}
spec:
  listeners: [{name: llm, type: model, port: 12000}]
---
apiVersion: plano-operator.io/v1alpha1
kind: ModelProvider
metadata: {name: gpt-4o, namespace: tenants}
spec:
  gatewayRef: {name: gw}
  model: openai/gpt-4o
  passthroughAuth: true
  default: true
EOF

# `kubectl get -o wide` adds the priority-1 printer columns; the default view stays narrow.
header() { k -n tenants get "$@" | head -n1 | tr -s ' '; }
[[ $(header planogateway gw -o wide) == *" IMAGE REPLICAS CONFIGHASH"* ]] || fail "gateway -o wide columns: $(header planogateway gw -o wide)"
[[ $(header modelprovider gpt-4o -o wide) == *" BASEURL PASSTHROUGH KEYSECRET"* ]] || fail "provider -o wide columns: $(header modelprovider gpt-4o -o wide)"
[[ $(header planogateway gw) != *IMAGE* && $(header modelprovider gpt-4o) != *BASEURL* ]] || fail "the wide columns show without -o wide"
log "ok: kubectl get -o wide shows image, replicas and config hash of gateways; base URL and auth of providers"

# --- uninstall ---------------------------------------------------------------
out=$(h uninstall "$RELEASE" 2>&1) || { printf '%s\n' "$out" >&2; fail "helm uninstall"; }
grep -q 'kept due to the resource policy' <<<"$out" || fail "helm did not report keeping the CRDs: $out"
for object in $GW_CRD $MP_CRD; do
  k get "$object" >/dev/null 2>&1 || fail "$object was deleted by helm uninstall"
done
k -n tenants get planogateway/gw modelprovider/gpt-4o >/dev/null 2>&1 || fail "custom resources did not survive uninstall"
# A helm test pod that did not succeed stays for its logs, and Helm never deletes hook objects on
# uninstall: docs/install.md says so, and to delete it.
k -n "$NS" get pod "$RELEASE-test" >/dev/null 2>&1 || fail "the failed helm test pod is gone, docs/install.md says it stays"
k -n "$NS" delete pod "$RELEASE-test" --wait=false >/dev/null
# What kwok does for a kubelet: a deleted pod goes once its (fake) containers have stopped.
eventually 60 bash -c "! kubectl -n $NS get pod $RELEASE-test" || fail "the helm test pod was not deleted"
# Exactly what docs/install.md says stays: the CRDs. Nothing in the release namespace (the
# operator's run-time Secret aside, which the garbage collector takes with its owner, the webhook
# configuration), and no cluster-scoped object of the release but the CRDs.
left=()
for resource in $(k api-resources --namespaced --verbs=list -o name); do
  [[ $resource == events || $resource == events.events.k8s.io ]] && continue
  while read -r object; do
    # What Kubernetes' own controllers put in every namespace, when they run.
    [[ -z $object || $object == serviceaccount/default || $object == configmap/kube-root-ca.crt ]] && continue
    left+=("$object")
  done < <(k -n "$NS" get "$resource" -o name 2>/dev/null)
done
((${#left[@]} == 0)) || fail "left in namespace $NS after uninstall: ${left[*]}"
cluster_left=$(for resource in $(k api-resources --namespaced=false --verbs=list -o name); do
  k get "$resource" -l app.kubernetes.io/instance="$RELEASE" -o name 2>/dev/null
done | sort | tr '\n' ' ')
[[ $cluster_left == "customresourcedefinition.apiextensions.k8s.io/modelproviders.plano-operator.io customresourcedefinition.apiextensions.k8s.io/planogateways.plano-operator.io " ]] ||
  fail "cluster-scoped objects of the release left after uninstall, expected only the two CRDs: $cluster_left"
log "ok: uninstall (CRDs and custom resources kept; nothing else of the release, the Lease included)"

# --- install again -------------------------------------------------------------
# The kept CRDs still carry this release's ownership annotations, so the same
# release name in the same namespace adopts them instead of failing.
h install "$RELEASE" "$CHART" --set uninstall.keepLeaseAndWebhookSecret=true >/dev/null || fail "helm install over kept CRDs"
columns=$(k get $GW_CRD -o jsonpath='{.spec.versions[0].additionalPrinterColumns[*].name}')
[[ " $columns " != *" UpgradeTest "* ]] || fail "reinstall did not bring the CRD back to the chart's version"
k -n tenants get planogateway/gw >/dev/null 2>&1 || fail "custom resources lost on reinstall"
out=$(h uninstall "$RELEASE" 2>&1) || { printf '%s\n' "$out" >&2; fail "second helm uninstall"; }
k get $GW_CRD >/dev/null 2>&1 || fail "CRD deleted by the second uninstall"
grep -q "\[Lease\] $RELEASE" <<<"$out" || fail "helm did not report keeping the Lease: $out"
k -n "$NS" get lease "$RELEASE" >/dev/null 2>&1 || fail "uninstall.keepLeaseAndWebhookSecret=true, but the Lease was deleted"
log "ok: install again adopts the kept CRDs; keepLeaseAndWebhookSecret keeps the Lease"
