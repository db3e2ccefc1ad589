#!/usr/bin/env bash
# Build the test tools (kube-apiserver, kube-controller-manager, kube-scheduler,
# etcd, kwok, helm, promtool) from pinned upstream Go modules into
# .cache/tools/<name>-<version>, and on request cpprestsdk built with
# ThreadSanitizer from Debian's source package (cpprest-tsan). Already-built
# tools are skipped, so a warm run is instant.
#
# Usage: scripts/build-tools.sh [kube-apiserver|kube-controller-manager|
#          kube-scheduler|etcd|kwok|helm|promtool|cpprest-tsan ...]
#        (default: all but cpprest-tsan)
# Prints one "NAME=PATH" line per tool at the end.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE_DIR=${PLANO_CACHE_DIR:-$ROOT/.cache}
TOOLS_DIR=$CACHE_DIR/tools
BUILD_DIR=$CACHE_DIR/build   # generated wrapper modules (never committed)

# Pins. The k8s staging modules are published as v0.<minor>.<patch>.
KUBE_VERSION=v1.36.3
ETCD_VERSION=v3.6.16
HELM_VERSION=v3.22.0
KWOK_VERSION=v0.8.0
# Prometheus publishes its Go module as v0.<major><minor>.<patch>: v0.316.0 is Prometheus 3.16.0.
PROMETHEUS_VERSION=v0.316.0
# Debian bookworm's cpprest source package: the version of the installed
# libcpprest-dev, and the SHA-256 of its upstream tarball from Debian's Sources
# index. Debian's two patches change only the library's own tests.
CPPREST_VERSION=2.10.18-1
CPPREST_ORIG_SHA256=6bd74a637ff182144b6a4271227ea8b6b3ea92389f88b25b215e6f94fd4d41cb

# Never let go switch to a downloaded toolchain (go.mod "toolchain" lines of
# dependencies), and resolve modules from go.mod rather than a vendor dir.
export GOTOOLCHAIN=local
export CGO_ENABLED=0
export GOFLAGS="${GOFLAGS:-} -mod=mod"
export GOWORK=off

log() { printf '[build-tools] %s\n' "$*" >&2; }

tool_path() { echo "$TOOLS_DIR/$1-$2"; }

# new_wrapper NAME VERSION -> prints a fresh, empty wrapper module directory.
new_wrapper() {
  local dir=$BUILD_DIR/$1-$2
  rm -rf "$dir"
  mkdir -p "$dir"
  echo "$dir"
}

# go_build_into DIR OUT PKG LDFLAGS: build PKG inside wrapper DIR; the binary
# appears at OUT only after a complete build, so an interrupted run is redone.
go_build_into() {
  local dir=$1 out=$2 pkg=$3 ldflags=$4
  mkdir -p "$TOOLS_DIR"
  (cd "$dir" && go build -trimpath -ldflags="-s -w $ldflags" -o "$out.tmp" "$pkg")
  mv -f "$out.tmp" "$out"
}

# timed NAME VERSION FUNC: unless the binary exists, run FUNC OUT NAME and
# report how long it took.
timed() {
  local name=$1 version=$2 fn=$3 out start
  out=$(tool_path "$name" "$version")
  if [[ -x $out ]]; then
    return 0
  fi
  log "building $name $version (first time, several minutes)..."
  start=$(date +%s)
  "$fn" "$out" "$name"
  log "built $name $version in $(( $(date +%s) - start ))s -> $out"
}

# ensure_kube_wrapper: sets KUBE_WRAPPER to the wrapper module every Kubernetes
# component is built in (created once per run), so they share one module graph
# and the Go build cache reuses the packages they have in common.
KUBE_WRAPPER=""
ensure_kube_wrapper() {
  [[ -z $KUBE_WRAPPER ]] || return 0
  local dir gomod staging m
  dir=$(new_wrapper kubernetes "$KUBE_VERSION")
  # k8s.io/kubernetes requires its staging modules at v0.0.0 and replaces them
  # with ./staging/src/... which only works inside the kubernetes repo. Read
  # that list from the released go.mod and point each at its published tag.
  gomod=$(cd "$dir" && go mod download -json "k8s.io/kubernetes@$KUBE_VERSION" \
    | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",\{0,1\}$/\1/p')
  [[ -f $gomod ]] || { log "cannot find go.mod of k8s.io/kubernetes@$KUBE_VERSION"; return 1; }
  staging=$(sed -n 's#^[[:space:]]*\(k8s\.io/[^[:space:]]*\)[[:space:]]*=>[[:space:]]*\./staging/src/.*#\1#p' "$gomod")
  [[ -n $staging ]] || { log "no staging replaces found in $gomod"; return 1; }
  {
    echo "module local/kubernetes-wrapper"
    echo
    echo "go 1.26.0"
    echo
    echo "require k8s.io/kubernetes $KUBE_VERSION"
    echo
    echo "replace ("
    for m in $staging; do
      echo "	$m => $m v0.${KUBE_VERSION#v1.}"
    done
    echo ")"
  } > "$dir/go.mod"
  KUBE_WRAPPER=$dir
}

# build_kube OUT COMPONENT: one of k8s.io/kubernetes/cmd/* (kube-apiserver,
# kube-controller-manager, kube-scheduler) at KUBE_VERSION.
build_kube() {
  local out=$1 component=$2 dir minor
  ensure_kube_wrapper
  dir=$KUBE_WRAPPER
  (cd "$dir" && go get "k8s.io/kubernetes/cmd/$component@$KUBE_VERSION")

  # Stamp the real version (kubectl version, discovery /version) like
  # hack/lib/version.sh does; without it the server reports v0.0.0-master.
  minor=${KUBE_VERSION#v1.}; minor=${minor%%.*}
  local ld="" key val
  for kv in "gitVersion=$KUBE_VERSION" gitMajor=1 "gitMinor=$minor" \
            gitTreeState=clean "buildDate=$(date -u +%Y-%m-%dT%H:%M:%SZ)"; do
    key=${kv%%=*}; val=${kv#*=}
    ld+=" -X k8s.io/component-base/version.$key=$val -X k8s.io/client-go/pkg/version.$key=$val"
  done
  go_build_into "$dir" "$out" "k8s.io/kubernetes/cmd/$component" "$ld"
}

build_etcd() {
  local out=$1 dir
  dir=$(new_wrapper etcd "$ETCD_VERSION")
  # In etcd 3.6 the server module's root package is the etcd main (it calls
  # etcdmain.Main); the top-level go.etcd.io/etcd/v3 module is not published.
  printf 'module local/etcd-wrapper\n\ngo 1.26.0\n\nrequire go.etcd.io/etcd/server/v3 %s\n' \
    "$ETCD_VERSION" > "$dir/go.mod"
  (cd "$dir" && go get "go.etcd.io/etcd/server/v3@$ETCD_VERSION")
  go_build_into "$dir" "$out" go.etcd.io/etcd/server/v3 ""
}

build_helm() {
  local out=$1 dir
  dir=$(new_wrapper helm "$HELM_VERSION")
  printf 'module local/helm-wrapper\n\ngo 1.26.0\n\nrequire helm.sh/helm/v3 %s\n' \
    "$HELM_VERSION" > "$dir/go.mod"
  (cd "$dir" && go get "helm.sh/helm/v3/cmd/helm@$HELM_VERSION")
  go_build_into "$dir" "$out" helm.sh/helm/v3/cmd/helm \
    "-X helm.sh/helm/v3/internal/version.version=$HELM_VERSION -X helm.sh/helm/v3/internal/version.gitTreeState=clean"
}

# kwok, the controller that plays kubelet for fake nodes. It ships no stages of
# its own (kwokctl hands it its defaults), so next to the binary goes
# kwok-stages-<version>.yaml: the stage files of the kwok module that kwokctl
# uses by default (node initialisation, heartbeat with Lease, pods Ready,
# Completed, deleted). Written before the binary, which marks the build done.
KWOK_STAGE_FILES=(
  kustomize/stage/node/fast/node-initialize.yaml
  kustomize/stage/node/heartbeat-with-lease/node-heartbeat-with-lease.yaml
  kustomize/stage/pod/fast/pod-ready.yaml
  kustomize/stage/pod/fast/pod-complete.yaml
  kustomize/stage/pod/fast/pod-delete.yaml
)
build_kwok() {
  local out=$1 dir src f
  dir=$(new_wrapper kwok "$KWOK_VERSION")
  printf 'module local/kwok-wrapper\n\ngo 1.26.0\n\nrequire sigs.k8s.io/kwok %s\n' \
    "$KWOK_VERSION" > "$dir/go.mod"
  (cd "$dir" && go get "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION")
  src=$(cd "$dir" && go list -m -f '{{.Dir}}' sigs.k8s.io/kwok)
  mkdir -p "$TOOLS_DIR"
  for f in "${KWOK_STAGE_FILES[@]}"; do
    [[ -f $src/$f ]] || { log "kwok $KWOK_VERSION has no $f"; return 1; }
    echo "---"
    cat "$src/$f"
  done > "$(kwok_stages_path)"
  go_build_into "$dir" "$out" sigs.k8s.io/kwok/cmd/kwok ""
}

kwok_stages_path() { echo "$TOOLS_DIR/kwok-stages-$KWOK_VERSION.yaml"; }

# promtool, to lint the operator's and the webhook's /metrics as Prometheus would read them.
build_promtool() {
  local out=$1 dir release
  dir=$(new_wrapper promtool "$PROMETHEUS_VERSION")
  printf 'module local/promtool-wrapper\n\ngo 1.26.0\n\nrequire github.com/prometheus/prometheus %s\n' \
    "$PROMETHEUS_VERSION" > "$dir/go.mod"
  (cd "$dir" && go get "github.com/prometheus/prometheus/cmd/promtool@$PROMETHEUS_VERSION")
  release=${PROMETHEUS_VERSION#v0.}   # 316.0 -> 3.16.0
  release="${release:0:1}.${release:1}"
  go_build_into "$dir" "$out" github.com/prometheus/prometheus/cmd/promtool \
    "-X github.com/prometheus/common/version.Version=$release -X github.com/prometheus/common/version.Branch=release"
}

# fetch_verified URL FILE SHA256: download URL to FILE and check its digest.
fetch_verified() {
  curl -fsSL -o "$2" "$1"
  echo "$3  $2" | sha256sum -c --quiet - || { log "checksum mismatch for $1"; return 1; }
}

# cpprestsdk instrumented with ThreadSanitizer, so TSan sees how its I/O threads
# hand responses to ours (Debian's libcpprest is not instrumented).
build_cpprest_tsan() {
  local out=$1 dir upstream=${CPPREST_VERSION%-*}
  local pool=https://deb.debian.org/debian/pool/main/c/cpprest
  dir=$(new_wrapper cpprest-tsan "$CPPREST_VERSION")
  fetch_verified "$pool/cpprest_$upstream.orig.tar.gz" "$dir/orig.tar.gz" "$CPPREST_ORIG_SHA256"
  tar -xzf "$dir/orig.tar.gz" -C "$dir"
  rm -rf "$out.tmp"
  cmake -S "$dir/cpprestsdk-$upstream" -B "$dir/build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_CXX_COMPILER=g++ -DCMAKE_CXX_FLAGS="-fsanitize=thread -fno-omit-frame-pointer -Wno-tsan" \
    -DCMAKE_SHARED_LINKER_FLAGS=-fsanitize=thread -DBUILD_TESTS=OFF -DBUILD_SAMPLES=OFF \
    -DCPPREST_EXCLUDE_WEBSOCKETS=ON -DCPPREST_EXCLUDE_BROTLI=ON -DWERROR=OFF \
    -DCPPREST_EXPORT_DIR=cmake/cpprestsdk -DCMAKE_INSTALL_PREFIX="$out.tmp" >/dev/null
  ninja -C "$dir/build" install >/dev/null
  mv -f "$out.tmp" "$out"
  rm -rf "$dir"   # 240 MB of objects nothing reads again
}

main() {
  # One build at a time per cache: clones and worktrees on this machine share it.
  mkdir -p "$CACHE_DIR"
  exec 9>"$CACHE_DIR/build-tools.lock"
  flock 9
  local want=("$@")
  [[ ${#want[@]} -gt 0 ]] || want=(kube-apiserver kube-controller-manager kube-scheduler etcd kwok helm promtool)
  command -v go >/dev/null || { log "go is required"; exit 1; }
  local t
  for t in "${want[@]}"; do
    case $t in
      kube-apiserver|kube-controller-manager|kube-scheduler)
                      timed "$t" "$KUBE_VERSION" build_kube ;;
      etcd)           timed etcd "$ETCD_VERSION" build_etcd ;;
      helm)           timed helm "$HELM_VERSION" build_helm ;;
      kwok)           timed kwok "$KWOK_VERSION" build_kwok ;;
      promtool)       timed promtool "$PROMETHEUS_VERSION" build_promtool ;;
      cpprest-tsan)   timed cpprest-tsan "$CPPREST_VERSION" build_cpprest_tsan ;;
      *) log "unknown tool: $t"; exit 2 ;;
    esac
  done
  for t in "${want[@]}"; do
    case $t in
      kube-apiserver|kube-controller-manager|kube-scheduler)
        # kube-controller-manager -> KUBE_CONTROLLER_MANAGER=...
        echo "$(tr 'a-z-' 'A-Z_' <<< "$t")=$(tool_path "$t" "$KUBE_VERSION")" ;;
      etcd)           echo "ETCD=$(tool_path etcd "$ETCD_VERSION")" ;;
      helm)           echo "HELM=$(tool_path helm "$HELM_VERSION")" ;;
      kwok)           echo "KWOK=$(tool_path kwok "$KWOK_VERSION")"
                      echo "KWOK_STAGES=$(kwok_stages_path)" ;;
      promtool)       echo "PROMTOOL=$(tool_path promtool "$PROMETHEUS_VERSION")" ;;
      cpprest-tsan)   echo "CPPREST_TSAN=$(tool_path cpprest-tsan "$CPPREST_VERSION")" ;;
    esac
  done
}

main "$@"
