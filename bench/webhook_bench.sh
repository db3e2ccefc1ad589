#!/usr/bin/env bash
# Benchmark (not a test) of the webhook's admission path: a real control plane, the webhook binary,
# gateways holding N providers in the webhook's cache (at most 1,000 a gateway), and wrk posting one ModelProvider CREATE
# AdmissionReview over keep-alive TLS: latency at a fixed rate, then throughput at saturation.
# With several binaries, each round measures each of them in turn on the same control plane, and the
# table gives each binary's median over the rounds: on a shared machine one run each is noise.
#
# Usage: bench/webhook_bench.sh PATH/TO/plano-operator [PATH/TO/other-plano-operator...] [options]
#   --providers N     providers in the cache, 1,000 a gateway (default 100)
#   --rate R          fixed rate in requests/s (default 1000)
#   --duration S      seconds per measured run (default 20)
#   --connections C   connections of the saturation run (default 16)
#   --threads T       wrk threads (default 2); --webhook-threads W (default 2, the binary's default)
#   --rounds R        rounds (default 1)
# Needs wrk, openssl, curl, kubectl, python3 (scripts/setup.sh installs them). Builds nothing.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
source "$ROOT/bench/webhook_lib.sh"
BINS=()
while (($#)) && [[ $1 != --* ]]; do
  binary_argument "$1"
  BINS+=("$BIN")
  shift
done
((${#BINS[@]})) || binary_argument ""
PROVIDERS=100 RATE=1000 DURATION=20 CONNECTIONS=16 THREADS=2 WEBHOOK_THREADS=2 ROUNDS=1
while (($#)); do
  case $1 in
    --providers) PROVIDERS=$2 ;;
    --rate) RATE=$2 ;;
    --duration) DURATION=$2 ;;
    --connections) CONNECTIONS=$2 ;;
    --threads) THREADS=$2 ;;
    --webhook-threads) WEBHOOK_THREADS=$2 ;;
    --rounds) ROUNDS=$2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
  shift 2
done
require_tools wrk openssl curl kubectl python3
make_workdir webhook-bench
start_control_plane

# The gateways and their providers: distinct models, one default, half with their own upstream host,
# so every rule (defaults, names, model_ids, upstream ports) has real work on each review. At most
# 1,000 providers a gateway (bench-gw, bench-gw-1, ...): a gateway's config holds at most 1,000,000
# bytes, about 3,500 such providers, so the request under test (for bench-gw) still fits.
python3 - "$PROVIDERS" >"$WORK/providers.yaml" <<'EOF'
import json, sys
n = int(sys.argv[1])
def gateway_name(i): return "bench-gw" if i < 1000 else f"bench-gw-{i // 1000}"
docs = [{"apiVersion": "plano-operator.io/v1alpha1", "kind": "PlanoGateway",
         "metadata": {"name": gateway_name(g * 1000), "namespace": "platform"},
         "spec": {"listeners": [{"name": "llm", "type": "model", "port": 12000}],
                  "allowedProviders": {"namespaces": {"from": "All"}, "maxProvidersPerNamespace": 10000}}}
        for g in range(max(1, (n + 999) // 1000))]
for i in range(n):
    spec = {"gatewayRef": {"name": gateway_name(i), "namespace": "platform"}, "passthroughAuth": True}
    if i % 2:
        spec.update(model=f"vllm/bench-model-{i}", baseURL=f"http://vllm-{i}.inference.svc:8000/v1", providerInterface="openai")
    else:
        spec["model"] = f"openai/bench-model-{i}"
    if i == 0:
        spec["default"] = True
        spec["routingPreferences"] = [{"name": "general", "description": "everything else"}]
    docs.append({"apiVersion": "plano-operator.io/v1alpha1", "kind": "ModelProvider",
                 "metadata": {"name": f"bench-{i}", "namespace": "bench-tenant"}, "spec": spec})
print("\n".join("---\n" + json.dumps(d) for d in docs))
EOF
k apply -f "$WORK/providers.yaml" >/dev/null
log "$PROVIDERS providers applied (bench-gw holds $((PROVIDERS < 1000 ? PROVIDERS : 1000)) of them)"

# The request under test, as the API server would send it.
cat >"$WORK/candidate.yaml" <<'EOF'
apiVersion: plano-operator.io/v1alpha1
kind: ModelProvider
metadata: {name: bench-candidate, namespace: bench-tenant}
spec:
  gatewayRef: {name: bench-gw, namespace: platform}
  model: vllm/bench-candidate
  baseURL: http://vllm-candidate.inference.svc:8000/v1
  providerInterface: openai
  passthroughAuth: true
  routingPreferences: [{name: candidate, description: the request under test}]
EOF
review_of "$WORK/candidate.yaml" >"$WORK/review.json"
make_certificates

# run RATE CONNECTIONS SECONDS -> the RESULT line of bench/webhook_bench.lua
run() {
  BENCH_BODY=$WORK/review.json BENCH_RATE=$1 BENCH_THREADS=$THREADS \
    wrk -t "$THREADS" -c "$2" -d "${3}s" --timeout 5s -s "$ROOT/bench/webhook_bench.lua" \
    "https://127.0.0.1:$PORT/validate" | grep '^RESULT'
}
field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$2"; }

# measure BIN: one round of BIN, as a line of space-separated figures appended to $WORK/figures.<index>:
# idle RSS, fixed-rate achieved/p50/p90/p99/p99.9/errors, saturation achieved/p50/p90/p99/p99.9/errors,
# mean judging time, RSS after, peak RSS.
measure() {
  local bin=$1 out=$2 answer idle fixed sat rss hwm metrics mean
  start_webhook "$bin" --threads "$WEBHOOK_THREADS"
  answer=$(curl -s --cacert "$WORK/ca.crt" -H 'Content-Type: application/json' --data-binary "@$WORK/review.json" \
    "https://127.0.0.1:$PORT/validate")
  [[ $answer == *'"allowed":true'* ]] || { echo "webhook_bench: unexpected answer: $answer" >&2; exit 1; }
  # Idle after sync: the cache holds everything and has answered one review (its view is built).
  sleep 2
  idle=$(awk '/^VmRSS/ {print $2}' "/proc/$WEBHOOK_PID/status")
  log "$bin: webhook pid $WEBHOOK_PID on https://127.0.0.1:$PORT/validate; warm-up (3 s, saturation)"
  run 0 "$CONNECTIONS" 3 >/dev/null
  log "fixed rate: $RATE requests/s, ${DURATION}s"
  fixed=$(run "$RATE" "$CONNECTIONS" "$DURATION")
  log "saturation: $CONNECTIONS connections, ${DURATION}s"
  sat=$(run 0 "$CONNECTIONS" "$DURATION")
  rss=$(awk '/^VmRSS/ {print $2}' "/proc/$WEBHOOK_PID/status")
  hwm=$(awk '/^VmHWM/ {print $2}' "/proc/$WEBHOOK_PID/status")
  metrics=$(curl -s "http://127.0.0.1:$PROBE/metrics")
  mean=$(awk '/^plano_webhook_admission_duration_seconds_sum/ {s += $2} /^plano_webhook_admission_duration_seconds_count/ {c += $2}
    END { if (c) printf "%.3f", 1000 * s / c; else print "?" }' <<<"$metrics")
  stop_webhook
  local f
  echo "$idle $(for f in rps p50_ms p90_ms p99_ms p999_ms errors; do printf '%s ' "$(field $f "$fixed")"; done)$(
    for f in rps p50_ms p90_ms p99_ms p999_ms errors; do printf '%s ' "$(field $f "$sat")"; done)$mean $rss $hwm" >>"$out"
}

DEPTH=$(python3 -c '
import json, sys
def depth(v): return 1 + max(map(depth, v.values() if isinstance(v, dict) else v), default=0) if isinstance(v, (dict, list)) else 0
print(depth(json.load(open(sys.argv[1]))))' "$WORK/review.json")
log "body $(wc -c <"$WORK/review.json") bytes, nesting $DEPTH; ${#BINS[@]} binaries, $ROUNDS round(s)"
for ((round = 1; round <= ROUNDS; round++)); do
  for i in "${!BINS[@]}"; do measure "${BINS[$i]}" "$WORK/figures.$i"; done
done

# median COLUMN FILE: the median of a column (1-based) of the rounds' figures.
median() { awk -v c="$1" '{print $c}' "$2" | sort -g | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }

echo
echo "webhook admission benchmark: ModelProvider CREATE against a gateway with $((PROVIDERS < 1000 ? PROVIDERS : 1000)) providers, $PROVIDERS cached"
echo "$(nproc) CPUs shared by wrk ($THREADS threads) and the webhook ($WEBHOOK_THREADS threads); keep-alive TLS over 127.0.0.1"
echo "$ROUNDS round(s), binaries alternating; each figure is a binary's median over the rounds"
for i in "${!BINS[@]}"; do
  f=$WORK/figures.$i
  echo
  echo "${BINS[$i]}"
  printf '%-26s %10s %10s %9s %9s %9s %9s %7s\n' run "offered/s" "achieved/s" "p50 ms" "p90 ms" "p99 ms" "p99.9 ms" errors
  printf '%-26s %10s %10s %9s %9s %9s %9s %7s\n' "fixed $RATE/s, $CONNECTIONS conns" "$RATE" $(for c in 2 3 4 5 6 7; do median $c "$f"; done)
  printf '%-26s %10s %10s %9s %9s %9s %9s %7s\n' "saturation, $CONNECTIONS conns" max $(for c in 8 9 10 11 12 13; do median $c "$f"; done)
  echo "saturation of each round: $(awk '{printf "%s ", $8}' "$f")req/s"
  echo "webhook: mean time judging a review (its own histogram) $(median 14 "$f") ms; RSS idle after sync $(median 1 "$f") KiB, after the runs $(median 15 "$f") KiB, peak $(median 16 "$f") KiB"
done
echo
echo "fixed rate: wrk 4.1 has no -R; the Lua delay() hook gives each connection the next slot of a per-thread"
echo "schedule ($THREADS threads x $((RATE / THREADS))/s), so latency is measured per request as sent (no queueing time)."
