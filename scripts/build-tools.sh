#!/usr/bin/env bash
# Build the test tools (kube-apiserver, kube-controller-manager, kube-scheduler,
# etcd, kwok, helm, promtool, kstatus) from pinned upstream Go modules into
# .cache/tools/<name>-<version>, and on request cpprestsdk built with
# ThreadSanitizer from Debian's source package (cpprest-tsan). Already-built
# tools are skipped, so a warm run is instant.
#
# Usage: scripts/build-tools.sh [kube-apiserver|kube-controller-manager|
#          kube-scheduler|etcd|kwok|helm|promtool|kstatus|cpprest-tsan ...]
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
# kstatus (sigs.k8s.io/cli-utils: Flux, kpt, kubectl-based waits) and the Lua VM Argo CD runs
# health checks in (github.com/yuin/gopher-lua, the version Argo CD's go.mod pins).
CLI_UTILS_VERSION=v0.37.2
GOPHER_LUA_VERSION=v1.1.1
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

# kstatus: one binary judging live objects as pipelines do, kstatus's status.Compute beside Argo CD's
# Lua health check run the way Argo CD's util/lua runs it (the package, base and table libraries;
# Argo CD adds a safe os library, which the check does not use; the object converted to a Lua table
# by the same rules; an unknown health status shown as Unknown). Reads a JSON object or List on stdin,
# prints one JSON line per object: {"kind","namespace","name","kstatus":{"status","message"},
# "argocd":{"status","message"}} (argocd only with --argocd-lua FILE).
build_kstatus() {
  local out=$1 dir
  dir=$(new_wrapper kstatus "$CLI_UTILS_VERSION")
  printf 'module local/kstatus-wrapper\n\ngo 1.26.0\n\nrequire (\n\tsigs.k8s.io/cli-utils %s\n\tgithub.com/yuin/gopher-lua %s\n)\n' \
    "$CLI_UTILS_VERSION" "$GOPHER_LUA_VERSION" > "$dir/go.mod"
  cat > "$dir/main.go" <<'GO'
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"

	lua "github.com/yuin/gopher-lua"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
)

type verdict struct {
	Status  string `json:"status"`
	Message string `json:"message"`
}

type line struct {
	Kind      string   `json:"kind"`
	Namespace string   `json:"namespace"`
	Name      string   `json:"name"`
	Kstatus   verdict  `json:"kstatus"`
	Argocd    *verdict `json:"argocd,omitempty"`
}

// toLua is Argo CD's decodeValue (util/lua/lua.go).
func toLua(l *lua.LState, value any) lua.LValue {
	switch v := value.(type) {
	case float64:
		return lua.LNumber(v)
	case int64:
		return lua.LNumber(v)
	case string:
		return lua.LString(v)
	case bool:
		return lua.LBool(v)
	case []any:
		t := l.CreateTable(len(v), 0)
		for _, item := range v {
			t.Append(toLua(l, item))
		}
		return t
	case map[string]any:
		t := l.CreateTable(0, len(v))
		for key, item := range v {
			t.RawSetH(lua.LString(key), toLua(l, item))
		}
		return t
	}
	return lua.LNil
}

func argocd(script string, obj map[string]any) (*verdict, error) {
	l := lua.NewState(lua.Options{SkipOpenLibs: true})
	defer l.Close()
	for _, lib := range []struct {
		name string
		open lua.LGFunction
	}{{lua.LoadLibName, lua.OpenPackage}, {lua.BaseLibName, lua.OpenBase}, {lua.TabLibName, lua.OpenTable}} {
		if err := l.CallByParam(lua.P{Fn: l.NewFunction(lib.open), NRet: 0, Protect: true}, lua.LString(lib.name)); err != nil {
			return nil, err
		}
	}
	l.SetGlobal("obj", toLua(l, obj))
	if err := l.DoString(script); err != nil {
		return nil, err
	}
	table, ok := l.Get(-1).(*lua.LTable)
	if !ok {
		return nil, fmt.Errorf("the health script returned %s, not a table", l.Get(-1).Type())
	}
	// As Argo CD's ExecuteHealthLua: a status it does not know is shown as Unknown.
	v := &verdict{Status: table.RawGetString("status").String(), Message: table.RawGetString("message").String()}
	switch v.Status {
	case "Healthy", "Progressing", "Degraded", "Suspended", "Missing", "Unknown":
		return v, nil
	}
	return &verdict{Status: "Unknown", Message: "Lua returned an invalid health status"}, nil
}

func main() {
	luaPath := flag.String("argocd-lua", "", "Argo CD health check script to run on each object too")
	flag.Parse()
	// Whole numbers as int64, as client-go decodes objects for kstatus and for Argo CD.
	var doc map[string]any
	data, err := io.ReadAll(os.Stdin)
	if err == nil {
		err = utiljson.Unmarshal(data, &doc)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "kstatus: reading a JSON object from stdin:", err)
		os.Exit(2)
	}
	objects := []any{doc}
	if items, ok := doc["items"].([]any); ok {
		objects = items
	}
	var script []byte
	if *luaPath != "" {
		if script, err = os.ReadFile(*luaPath); err != nil {
			fmt.Fprintln(os.Stderr, "kstatus:", err)
			os.Exit(2)
		}
	}
	out := json.NewEncoder(os.Stdout)
	for _, item := range objects {
		obj, ok := item.(map[string]any)
		if !ok {
			fmt.Fprintln(os.Stderr, "kstatus: an item is not an object")
			os.Exit(2)
		}
		u := &unstructured.Unstructured{Object: obj}
		result, err := status.Compute(u)
		if err != nil {
			fmt.Fprintln(os.Stderr, "kstatus: status.Compute:", err)
			os.Exit(1)
		}
		l := line{Kind: u.GetKind(), Namespace: u.GetNamespace(), Name: u.GetName(),
			Kstatus: verdict{Status: result.Status.String(), Message: result.Message}}
		if script != nil {
			if l.Argocd, err = argocd(string(script), obj); err != nil {
				fmt.Fprintln(os.Stderr, "kstatus: Argo CD health script:", err)
				os.Exit(1)
			}
		}
		if err := out.Encode(l); err != nil {
			os.Exit(1)
		}
	}
}
GO
  (cd "$dir" && go mod tidy)
  go_build_into "$dir" "$out" . ""
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
  [[ ${#want[@]} -gt 0 ]] || want=(kube-apiserver kube-controller-manager kube-scheduler etcd kwok helm promtool kstatus)
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
      kstatus)        timed kstatus "$CLI_UTILS_VERSION" build_kstatus ;;
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
      kstatus)        echo "KSTATUS=$(tool_path kstatus "$CLI_UTILS_VERSION")" ;;
      cpprest-tsan)   echo "CPPREST_TSAN=$(tool_path cpprest-tsan "$CPPREST_VERSION")" ;;
    esac
  done
}

main "$@"
