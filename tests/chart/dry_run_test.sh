#!/usr/bin/env bash
# A real kube-apiserver accepts everything the chart renders: with defaults,
# with every option set (values-all-options.yaml), in each certificate mode,
# and deploy/install.yaml; both as a client-side and as a server-side apply,
# with strict field validation, so an unknown or misplaced field fails. The
# namespaces warn on the restricted Pod Security Standard, and any such warning
# about the pod templates fails the test.
set -euo pipefail
# shellcheck source=tests/chart/lib.sh
source "$(dirname "$0")/lib.sh"
need_helm
start_control_plane

# The ServiceMonitor and cert-manager kinds need their CRDs to be known; the
# stand-ins accept any spec and exist for this dry run only.
k apply -f "$TESTS/stand-in-crds.yaml" >/dev/null
k wait --for=condition=Established --timeout=60s \
  crd/servicemonitors.monitoring.coreos.com crd/issuers.cert-manager.io crd/certificates.cert-manager.io >/dev/null

# Namespaces the manifests point into must exist even for a dry run.
for ns in plano-operator plano-system plano-tenants; do
  k create namespace "$ns" >/dev/null
  k label namespace "$ns" pod-security.kubernetes.io/warn=restricted pod-security.kubernetes.io/warn-version=latest >/dev/null
done

dry_run() { # WHAT FILE
  local what=$1 file=$2 out
  [[ $(grep -c '^kind:' "$file") -gt 5 ]] || fail "$what: suspiciously little was rendered"
  if ! out=$(k apply --dry-run=server --validate=strict -f "$file" 2>&1); then
    printf '%s\n' "$out" >&2
    fail "$what: client-side apply --dry-run=server refused"
  fi
  if ! out=$(k apply --server-side --field-manager=chart-test --dry-run=server --validate=strict -f "$file" 2>&1); then
    printf '%s\n' "$out" >&2
    fail "$what: server-side apply --dry-run=server refused"
  fi
  if grep -i 'PodSecurity' <<<"$out" >&2; then
    fail "$what: a pod template breaks the restricted Pod Security Standard"
  fi
  log "ok: $what ($(grep -c '^kind:' "$file") objects)"
}

render() { # OUT HELM-ARGS...
  local out=$1
  shift
  "$HELM" template plano-operator "$CHART" "$@" > "$out" || fail "helm template $* failed"
}

render "$WORK/defaults.yaml" --namespace plano-operator
dry_run "defaults" "$WORK/defaults.yaml"

render "$WORK/all.yaml" --namespace plano-system -f "$TESTS/values-all-options.yaml"
for kind in ServiceMonitor Issuer Certificate NetworkPolicy PodDisruptionBudget RoleBinding; do
  grep -q "^kind: $kind\$" "$WORK/all.yaml" || fail "values-all-options.yaml did not render a $kind"
done
dry_run "every option set (certManager mode)" "$WORK/all.yaml"

for values in values-existing-secret.yaml values-cluster-issuer.yaml; do
  render "$WORK/$values" --namespace plano-system -f "$TESTS/$values"
  dry_run "$values" "$WORK/$values"
done

dry_run "deploy/install.yaml" "$ROOT/deploy/install.yaml"
