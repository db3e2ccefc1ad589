#!/usr/bin/env bash
# A throwaway Kubernetes cluster on 127.0.0.1 for tests and the demo: etcd,
# kube-apiserver, kube-controller-manager, kube-scheduler, and kwok playing the
# kubelet of fake nodes, so Deployments get pods that become Running and Ready
# (nothing runs in them), owned objects are garbage collected and namespaces
# can be deleted. With PLANO_CP_BARE=1 at `up`, only etcd + kube-apiserver run
# (no controllers, no nodes), in the spirit of controller-runtime envtest.
#
# Usage: scripts/controlplane.sh COMMAND [DIR]
#   up                 build tools if needed, start the processes, wait until
#                      ready; if already up and healthy just print the env
#   down               stop every process and delete DIR
#   env                print the export lines (eval "$(controlplane.sh env)")
#   status             exit 0 if every process runs and /readyz is ok
#   kill-apiserver     SIGKILL kube-apiserver (etcd keeps running)
#   start-apiserver    start kube-apiserver again with the same flags and port
#   restart-apiserver  kill-apiserver + start-apiserver
#
# DIR defaults to $PLANO_CP_DIR, else <repo>/.cache/controlplane. Everything
# the tests need is in DIR (see write_env). Only export lines go to stdout;
# progress goes to stderr.
#
# Optional at `up`: PLANO_CP_APISERVER_EXTRA_ARGS="--watch-cache=false ..." is
# appended to the kube-apiserver flags (kept for start/restart); PLANO_CP_NODES
# is the number of fake nodes (default 1).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CMD=${1:-}
DIR=${2:-${PLANO_CP_DIR:-$ROOT/.cache/controlplane}}
# Keep DIR absolute: it is baked into the kubeconfig and env file.
mkdir -p "$(dirname "$DIR")"
DIR=$(cd "$(dirname "$DIR")" && pwd)/$(basename "$DIR")
PKI=$DIR/pki
MARKER=$DIR/.plano-controlplane   # guards `rm -rf` against a wrong DIR
COMPONENTS_FILE=$DIR/components   # the processes `up` started, in start order
BARE_COMPONENTS=(etcd kube-apiserver)
CONTROLLERS=(kube-controller-manager kube-scheduler kwok)
# Every fake node carries this annotation; kwok manages exactly those nodes.
KWOK_NODE_ANNOTATION=kwok.x-k8s.io/node

log() { printf '[controlplane] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

# --- processes ---------------------------------------------------------------

# running PID: the process exists and is not a zombie (our daemons are
# reparented to PID 1, which may reap them only seconds later).
running() {
  local st
  st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null) || return 1
  [[ -n $st && ${st:0:1} != Z ]]
}

# pid_alive NAME: the pid recorded for NAME runs and is still that binary
# (a recycled pid belonging to something else must never be killed).
pid_alive() {
  local f=$DIR/$1.pid pid
  [[ -f $f ]] || return 1
  pid=$(<"$f")
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  running "$pid" || return 1
  tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$DIR"
}

# stop NAME SIGNAL: signal the recorded pid and wait for it to exit.
stop() {
  local name=$1 sig=$2 pid i
  if pid_alive "$name"; then
    pid=$(<"$DIR/$name.pid")
    kill "-$sig" "$pid" 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do
      running "$pid" || break
      sleep 0.05
    done
    if running "$pid"; then
      kill -KILL "$pid" 2>/dev/null || true
      while running "$pid"; do sleep 0.05; done
    fi
  fi
  rm -f "$DIR/$name.pid"
}

# launch NAME ARGSFILE: run the binary + args (one per line) detached from our
# session, so it survives the caller's shell and Ctrl-C of a test runner.
launch() {
  local name=$1 argsfile=$2 i
  local -a argv
  mapfile -t argv < "$argsfile"
  rm -f "$DIR/$name.pid"
  # The child writes its own pid, then execs: correct even if setsid forks.
  # fd 9 is the command lock (with_lock); a daemon inheriting it would hold
  # the lock for its whole life and block every later command.
  # shellcheck disable=SC2016 # expanded by the inner bash
  setsid bash -c 'echo $$ > "$0"; exec "$@"' "$DIR/$name.pid" "${argv[@]}" \
    >>"$DIR/$name.log" 2>&1 </dev/null 9>&- &
  for ((i = 0; i < 50; i++)); do
    [[ -s $DIR/$name.pid ]] && return 0
    sleep 0.05
  done
  die "$name did not start (see $DIR/$name.log)"
}

# --- health ------------------------------------------------------------------

# api METHOD PATH [CURL ARGS...] -> the response body as the admin user, then
# the HTTP status code on the last line.
api() {
  local method=$1 path=$2
  shift 2
  curl -s -w '\n%{http_code}' --max-time 2 -X "$method" "$@" \
    --cacert "$PKI/ca.crt" --cert "$PKI/admin.crt" --key "$PKI/admin.key" \
    "$(<"$DIR/apiserver-endpoint")$path" || true
}

api_get() { api GET "$1" | tail -n 1; } # PATH -> HTTP status code of a GET

etcd_healthy() {
  [[ $(curl -s --max-time 2 "$(<"$DIR/etcd-endpoint")/health" || true) == *'"health":"true"'* ]]
}

# wait_for DESCRIPTION SECONDS CMD...: poll CMD, fail with the log tail.
wait_for() {
  local what=$1 timeout=$2 start
  shift 2
  start=$(now)
  until "$@"; do
    if awk -v a="$start" -v b="$(now)" -v t="$timeout" 'BEGIN { exit !(b - a > t) }'; then
      log "timed out after ${timeout}s waiting for $what; last log lines:"
      tail -n 30 "$DIR/${what%% *}.log" >&2 2>/dev/null || true
      return 1
    fi
    sleep 0.2
  done
}

# alive_or_die NAME: stop waiting at once when the process died.
alive_or_die() {
  pid_alive "$1" || { log "$1 exited"; tail -n 30 "$DIR/$1.log" >&2; exit 1; }
}

apiserver_ready() {
  alive_or_die kube-apiserver
  [[ $(api_get /readyz) == 200 && $(api_get /api/v1/namespaces/default) == 200 ]]
}

# serving_healthz NAME: kube-controller-manager or kube-scheduler answers
# /healthz on its secure port (a path they allow without credentials).
serving_healthz() {
  [[ $(curl -sk --max-time 2 "https://127.0.0.1:$(<"$DIR/$1.port")/healthz" || true) == ok ]]
}

controller_manager_ready() {
  alive_or_die kube-controller-manager
  # The ServiceAccount controller has run: pods can be admitted in `default`.
  serving_healthz kube-controller-manager &&
    [[ $(api_get /api/v1/namespaces/default/serviceaccounts/default) == 200 ]]
}

scheduler_ready() { alive_or_die kube-scheduler; serving_healthz kube-scheduler; }

# kwok has marked every fake node Ready, and the node lifecycle controller has
# lifted the not-ready taint, so pods can be scheduled.
nodes_ready() {
  local i node
  alive_or_die kwok
  for ((i = 0; i < $(<"$DIR/nodes"); i++)); do
    # The API server pretty-prints JSON for curl: compare without blanks.
    node=$(api GET "/api/v1/nodes/plano-node-$i" | tr -d ' \n')
    [[ $node == *'"type":"Ready","status":"True"'* && $node != *'"taints"'* ]] || return 1
  done
}

bare_requested() { [[ ${PLANO_CP_BARE:-} == 1 ]]; }

# wanted_components: the processes `up` starts, in order.
wanted_components() {
  if bare_requested; then
    echo "${BARE_COMPONENTS[*]}"
  else
    echo "${BARE_COMPONENTS[*]} ${CONTROLLERS[*]}"
  fi
}

healthy() {
  local c
  [[ -f $MARKER && -f $COMPONENTS_FILE ]] || return 1
  for c in $(<"$COMPONENTS_FILE"); do
    pid_alive "$c" || return 1
  done
  etcd_healthy && [[ $(api_get /readyz) == 200 ]]
}

# --- setup -------------------------------------------------------------------

# free_ports N: N distinct free TCP ports on 127.0.0.1 (kernel-chosen).
free_ports() {
  if command -v python3 >/dev/null; then
    python3 -c '
import socket, sys
socks = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in socks: s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))' "$1"
  else
    # Fallback: random ports below the ephemeral range nobody answers on.
    local -a got=()
    local p
    while ((${#got[@]} < $1)); do
      p=$((20000 + RANDOM % 12000))
      [[ " ${got[*]} " == *" $p "* ]] && continue
      (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null && continue
      got+=("$p")
    done
    echo "${got[*]}"
  fi
}

# TLS keys are ECDSA P-256: RSA key generation was a third of `up`'s time.
EC_KEY=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1)

# sign NAME SUBJECT EXTENSIONS: key + certificate signed by our CA.
sign() {
  local name=$1 subj=$2 ext=$3
  openssl req -new "${EC_KEY[@]}" -nodes -keyout "$PKI/$name.key" \
    -subj "$subj" -out "$PKI/$name.csr" 2>/dev/null
  printf '[ext]\n%b\n' "$ext" > "$PKI/$name.ext"
  openssl x509 -req -in "$PKI/$name.csr" -CA "$PKI/ca.crt" -CAkey "$PKI/ca.key" \
    -set_serial "0x$(openssl rand -hex 16)" -days 3650 -sha256 \
    -extfile "$PKI/$name.ext" -extensions ext -out "$PKI/$name.crt" 2>/dev/null
  rm -f "$PKI/$name.csr" "$PKI/$name.ext"
}

sign_client() { # NAME SUBJECT: a client certificate
  sign "$1" "$2" "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth"
}

# Client certificates of the controllers. kube-controller-manager and
# kube-scheduler get the users RBAC's bootstrap roles are written for (the
# controller manager then runs each controller as its own ServiceAccount, as
# kubeadm sets it up). kwok plays the kubelet of every node; real kubelets are
# authorised by the Node authorizer, which this API server does not run, so
# kwok is an admin.
make_controller_pki() {
  sign_client kube-controller-manager "/CN=system:kube-controller-manager"
  sign_client kube-scheduler "/CN=system:kube-scheduler"
  sign_client kwok "/O=system:masters/CN=kwok"
}

make_pki() {
  mkdir -p "$PKI"
  chmod 700 "$PKI"
  openssl req -x509 "${EC_KEY[@]}" -nodes -keyout "$PKI/ca.key" -out "$PKI/ca.crt" \
    -days 3650 -sha256 -subj "/CN=plano-test-ca" \
    -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature" 2>/dev/null
  # 10.0.0.1 is the `kubernetes` service IP of --service-cluster-ip-range.
  sign apiserver "/CN=kube-apiserver" \
    "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,IP:::1,IP:10.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
  # O=system:masters makes this client a cluster admin under RBAC.
  sign_client admin "/O=system:masters/CN=plano-admin"
  # Service-account tokens are signed RS256 with this RSA key.
  openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$PKI/sa.key" 2>/dev/null
  openssl pkey -in "$PKI/sa.key" -pubout -out "$PKI/sa.pub"
}

# write_kubeconfig FILE USER: a kubeconfig with the client certificate pki/USER.crt.
write_kubeconfig() {
  local file=$1 user=$2 b64="base64 -w0"
  cat > "$file" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: plano-test
  cluster:
    server: $(<"$DIR/apiserver-endpoint")
    certificate-authority-data: $($b64 < "$PKI/ca.crt")
users:
- name: $user
  user:
    client-certificate-data: $($b64 < "$PKI/$user.crt")
    client-key-data: $($b64 < "$PKI/$user.key")
contexts:
- name: plano-test
  context:
    cluster: plano-test
    user: $user
current-context: plano-test
EOF
  chmod 600 "$file"
}

write_env() {
  cat > "$DIR/env" <<EOF
export KUBECONFIG=$DIR/kubeconfig
export PLANO_CP_DIR=$DIR
export PLANO_APISERVER_URL=$(<"$DIR/apiserver-endpoint")
export PLANO_ETCD_ENDPOINT=$(<"$DIR/etcd-endpoint")
EOF
}

write_args() {
  local etcd_bin=$1 kas_bin=$2 etcd_port peer_port api_port
  read -r etcd_port peer_port api_port < <(free_ports 3)
  echo "http://127.0.0.1:$etcd_port" > "$DIR/etcd-endpoint"
  echo "https://127.0.0.1:$api_port" > "$DIR/apiserver-endpoint"

  # No fsync: test data is disposable and fsync dominates etcd latency.
  cat > "$DIR/etcd.args" <<EOF
$etcd_bin
--name=plano-test
--data-dir=$DIR/etcd-data
--listen-client-urls=http://127.0.0.1:$etcd_port
--advertise-client-urls=http://127.0.0.1:$etcd_port
--listen-peer-urls=http://127.0.0.1:$peer_port
--initial-advertise-peer-urls=http://127.0.0.1:$peer_port
--initial-cluster=plano-test=http://127.0.0.1:$peer_port
--initial-cluster-state=new
--unsafe-no-fsync=true
--log-level=warn
EOF

  cat > "$DIR/kube-apiserver.args" <<EOF
$kas_bin
--etcd-servers=http://127.0.0.1:$etcd_port
--bind-address=127.0.0.1
--advertise-address=127.0.0.1
--secure-port=$api_port
--cert-dir=$PKI
--tls-cert-file=$PKI/apiserver.crt
--tls-private-key-file=$PKI/apiserver.key
--client-ca-file=$PKI/ca.crt
--authorization-mode=RBAC
--service-account-issuer=https://kubernetes.default.svc.cluster.local
--service-account-key-file=$PKI/sa.pub
--service-account-signing-key-file=$PKI/sa.key
--service-cluster-ip-range=10.0.0.0/24
--allow-privileged=true
--profiling=false
--v=1
EOF
  # Without a controller manager no one creates the `default` ServiceAccount
  # that ServiceAccount admission insists on for every pod.
  if bare_requested; then
    echo "--disable-admission-plugins=ServiceAccount" >> "$DIR/kube-apiserver.args"
  fi
  local a
  for a in ${PLANO_CP_APISERVER_EXTRA_ARGS:-}; do
    echo "$a" >> "$DIR/kube-apiserver.args"
  done
}

# The controllers kube-controller-manager runs: what Deployments, owner
# references, namespace deletion, ServiceAccounts (with their kube-root-ca.crt
# ConfigMaps), PodDisruptionBudgets and Services need, and the node lifecycle
# controller, which lifts the not-ready taint admission puts on a new node once
# kwok reports it Ready; no more (the 2-core CI machine runs several clusters
# one after another). No legacy token Secrets: pods get projected tokens.
KCM_CONTROLLERS=(
  garbage-collector-controller namespace-controller
  deployment-controller replicaset-controller pod-garbage-collector-controller
  disruption-controller clusterrole-aggregation-controller node-lifecycle-controller
  serviceaccount-controller root-ca-certificate-publisher-controller
  endpoints-controller endpointslice-controller
)

# write_controller_args KCM SCHEDULER KWOK KWOK_STAGES
write_controller_args() {
  local kcm_bin=$1 scheduler_bin=$2 kwok_bin=$3 stages=$4 kcm_port scheduler_port
  read -r kcm_port scheduler_port < <(free_ports 2)
  echo "$kcm_port" > "$DIR/kube-controller-manager.port"
  echo "$scheduler_port" > "$DIR/kube-scheduler.port"
  local IFS=,

  # Leader election off: one instance, and it would only delay the start. The
  # node lifecycle controller looks at nodes every second rather than every 5,
  # so `up` does not wait that long for it to lift the not-ready taint.
  cat > "$DIR/kube-controller-manager.args" <<EOF
$kcm_bin
--kubeconfig=$DIR/kube-controller-manager.kubeconfig
--bind-address=127.0.0.1
--secure-port=$kcm_port
--leader-elect=false
--use-service-account-credentials=true
--root-ca-file=$PKI/ca.crt
--controllers=${KCM_CONTROLLERS[*]}
--node-monitor-period=1s
--profiling=false
--v=1
EOF

  cat > "$DIR/kube-scheduler.args" <<EOF
$scheduler_bin
--kubeconfig=$DIR/kube-scheduler.kubeconfig
--bind-address=127.0.0.1
--secure-port=$scheduler_port
--leader-elect=false
--profiling=false
--v=1
EOF

  # KWOK_WORKDIR keeps kwok from reading a ~/.kwok/kwok.yaml of this machine.
  # Pod IPs come from --cidr, outside the service range.
  cat > "$DIR/kwok.args" <<EOF
env
KWOK_WORKDIR=$DIR/kwok
$kwok_bin
--kubeconfig=$DIR/kwok.kubeconfig
--config=$stages
--manage-nodes-with-annotation-selector=$KWOK_NODE_ANNOTATION=fake
--cidr=10.244.0.0/16
EOF
}

# create_nodes N: N Node objects kwok manages, plano-node-0... (as a kubelet
# would register them; kwok fills in their status).
create_nodes() {
  local i name code
  echo "$1" > "$DIR/nodes"
  for ((i = 0; i < $1; i++)); do
    name=plano-node-$i
    code=$(api POST /api/v1/nodes -H 'Content-Type: application/json' --data-binary @- <<EOF | tail -n 1
{"apiVersion": "v1", "kind": "Node",
 "metadata": {"name": "$name",
              "annotations": {"$KWOK_NODE_ANNOTATION": "fake"},
              "labels": {"kubernetes.io/hostname": "$name", "kubernetes.io/os": "linux",
                         "kubernetes.io/arch": "amd64", "type": "kwok"}},
 "status": {"allocatable": {"cpu": "16", "memory": "64Gi", "ephemeral-storage": "100Gi", "pods": "110"},
            "capacity": {"cpu": "16", "memory": "64Gi", "ephemeral-storage": "100Gi", "pods": "110"}}}
EOF
    )
    [[ $code == 201 ]] || die "creating node $name answered HTTP $code"
  done
}

# --- commands ----------------------------------------------------------------

cmd_down() {
  # SIGKILL: the state is thrown away anyway, and a graceful kube-apiserver
  # shutdown takes many seconds. Every process that may have been started,
  # whatever `up` was asked for, the controllers first.
  local c
  for c in "${CONTROLLERS[@]}" kube-apiserver etcd; do
    stop "$c" KILL
  done
  if [[ -d $DIR ]]; then
    [[ -f $MARKER ]] || die "$DIR is not a control plane state dir; not removing it"
    rm -rf "$DIR"
  fi
  log "down ($DIR removed)"
}

start_apiserver() {
  local start
  start=$(now)
  pid_alive kube-apiserver && die "kube-apiserver is already running"
  launch kube-apiserver "$DIR/kube-apiserver.args"
  wait_for "kube-apiserver readiness" 120 apiserver_ready
  log "kube-apiserver ready in $(since "$start")s at $(<"$DIR/apiserver-endpoint")"
}

cmd_up() {
  local start bins wanted c nodes=${PLANO_CP_NODES:-1}
  start=$(now)
  [[ $nodes =~ ^[1-9][0-9]{0,2}$ ]] || die "PLANO_CP_NODES must be a number of nodes from 1 to 999, not \"$nodes\""
  wanted=$(wanted_components)
  if healthy; then
    if [[ $(<"$COMPONENTS_FILE") == "$wanted" ]]; then
      log "already up"
      cat "$DIR/env"
      return 0
    fi
    log "$DIR runs $(<"$COMPONENTS_FILE"), not $wanted; recreating"
  fi
  if [[ -d $DIR ]]; then
    log "stale state in $DIR, recreating"
    cmd_down
  fi

  # build-tools.sh prints KUBE_APISERVER=..., ETCD=... (one line per tool) on stdout.
  # shellcheck disable=SC2086 # one word per tool
  bins=$("$ROOT/scripts/build-tools.sh" $wanted)
  local KUBE_APISERVER ETCD KUBE_CONTROLLER_MANAGER KUBE_SCHEDULER KWOK KWOK_STAGES
  eval "$bins"

  mkdir -p "$DIR"
  touch "$MARKER"
  echo "$wanted" > "$COMPONENTS_FILE"
  make_pki
  write_args "$ETCD" "$KUBE_APISERVER"
  write_kubeconfig "$DIR/kubeconfig" admin
  write_env

  launch etcd "$DIR/etcd.args"
  wait_for "etcd health" 30 etcd_healthy
  start_apiserver
  if ! bare_requested; then
    make_controller_pki
    for c in "${CONTROLLERS[@]}"; do
      write_kubeconfig "$DIR/$c.kubeconfig" "$c"
    done
    write_controller_args "$KUBE_CONTROLLER_MANAGER" "$KUBE_SCHEDULER" "$KWOK" "$KWOK_STAGES"
    create_nodes "$nodes"
    for c in "${CONTROLLERS[@]}"; do
      launch "$c" "$DIR/$c.args"
    done
    wait_for "kube-controller-manager readiness" 60 controller_manager_ready
    wait_for "kube-scheduler readiness" 60 scheduler_ready
    wait_for "kwok nodes Ready" 60 nodes_ready
  fi
  log "cluster ($wanted) up in $(since "$start")s; state, logs and pids in $DIR"
  cat "$DIR/env"
}

# SIGKILL on purpose: tests want an abrupt loss, not a graceful shutdown.
cmd_restart_apiserver() {
  stop kube-apiserver KILL
  start_apiserver
}

cmd_status() {
  if healthy; then
    log "up: $(<"$DIR/apiserver-endpoint") (etcd $(<"$DIR/etcd-endpoint")); running $(<"$COMPONENTS_FILE")"
  else
    log "not running"
    return 1
  fi
}

need_state() { [[ -f $MARKER ]] || die "no control plane in $DIR (run: $0 up)"; }

# Serialise commands on one DIR (parallel test jobs may all call `up`).
with_lock() {
  exec 9>"$DIR.lock"
  flock -w 300 9 || die "timed out waiting for the lock $DIR.lock"
  "$@"
}

case $CMD in
  up)                with_lock cmd_up ;;
  down)              with_lock cmd_down ;;
  env)               need_state; cat "$DIR/env" ;;
  status)            cmd_status ;;
  kill-apiserver)    need_state; with_lock stop kube-apiserver KILL; log "kube-apiserver killed" ;;
  start-apiserver)   need_state; with_lock start_apiserver ;;
  restart-apiserver) need_state; with_lock cmd_restart_apiserver ;;
  *)
    sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2
    exit 2 ;;
esac
