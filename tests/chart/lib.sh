# Shared by the chart tests (sourced, not run). Every missing tool is a
# failure with a message saying how to get it, never a silent skip.
# shellcheck shell=bash

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# CHART and TESTS are for the tests that source this file.
# shellcheck disable=SC2034
CHART=$ROOT/charts/plano-operator
# shellcheck disable=SC2034
TESTS=$ROOT/tests/chart
TEST_NAME=$(basename "${BASH_SOURCE[1]:-$0}" .sh)

log() { printf '[%s] %s\n' "$TEST_NAME" "$*" >&2; }
fail() { printf '[%s] FAIL: %s\n' "$TEST_NAME" "$*" >&2; exit 1; }

# Helm at the version scripts/build-tools.sh pins ($PLANO_HELM overrides).
need_helm() {
  local version
  version=$(sed -n 's/^HELM_VERSION=//p' "$ROOT/scripts/build-tools.sh")
  HELM=${PLANO_HELM:-${PLANO_CACHE_DIR:-$ROOT/.cache}/tools/helm-$version}
  [[ -x $HELM ]] || fail "helm $version not found at $HELM; run scripts/build-tools.sh helm"
  # Keep helm's cache, config and repository files out of the user's home.
  export HELM_CACHE_HOME=$WORK/helm-cache HELM_CONFIG_HOME=$WORK/helm-config HELM_DATA_HOME=$WORK/helm-data
}

need_kubectl() {
  command -v kubectl >/dev/null || fail "kubectl not found on PATH; install a kubectl client (1.30 or later)"
}

# A scratch directory removed at exit, with any control plane started in it.
WORK=$(mktemp -d "${TMPDIR:-/tmp}/plano-chart-$TEST_NAME.XXXXXX")
CP_DIR=""
cleanup() {
  local rc=$?
  if [[ -n $CP_DIR ]]; then
    "$ROOT/scripts/controlplane.sh" down "$CP_DIR" >/dev/null 2>&1 || true
    rm -f "$CP_DIR.lock"
  fi
  local pid
  for pid in "${CHILD_PIDS[@]:-}"; do
    if [[ -n $pid ]]; then kill "$pid" 2>/dev/null || true; fi
  done
  if ((rc != 0)) && [[ -n ${KEEP_ON_FAILURE:-} ]]; then
    log "kept $WORK for inspection"
  else
    rm -rf "$WORK"
  fi
  return "$rc"
}
CHILD_PIDS=()
trap cleanup EXIT

# Starts this test's own control plane (real etcd + kube-apiserver with RBAC,
# no controllers), so tests that install cluster-scoped objects cannot meet.
# Extra kube-apiserver flags may be passed as arguments.
# shellcheck disable=SC2120 # the flags are optional
start_control_plane() { PLANO_CP_BARE=1 start_cluster_processes "$@"; }

# The same with the controllers running (kube-controller-manager,
# kube-scheduler, kwok's fake node): Deployments get pods that become Ready.
start_cluster() { PLANO_CP_BARE="" start_cluster_processes "$@"; }

start_cluster_processes() {
  need_kubectl
  CP_DIR=$WORK/controlplane
  local out
  if ! out=$(PLANO_CP_APISERVER_EXTRA_ARGS="$*" "$ROOT/scripts/controlplane.sh" up "$CP_DIR" 2>"$WORK/controlplane.log"); then
    cat "$WORK/controlplane.log" >&2
    fail "could not start a control plane with scripts/controlplane.sh (kube-apiserver and etcd are built by scripts/build-tools.sh)"
  fi
  eval "$out"
  export KUBECONFIG
  log "control plane at $PLANO_APISERVER_URL"
}

k() { kubectl --request-timeout=30s "$@"; }

# eventually SECONDS CMD...: retry CMD every half second until it succeeds.
eventually() {
  local deadline=$((SECONDS + $1))
  shift
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < deadline)) || return 1
    sleep 0.5
  done
}
