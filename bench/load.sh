#!/usr/bin/env bash
# Load benchmark: the same chat completion straight to a loopback mock
# upstream and through `llmnode serve` (WASM plugin, RPM/TPM/budget limits and
# durable usage recording on), JSON and streamed, at concurrency 1, 16 and 64.
# Prints added latency (p50, p99), requests per second and the daemon's RSS;
# for streams at c=1 also the added time to the first event (TTFB), measured
# by bench/ttfb.rs on one keep-alive connection.
#
#   bench/load.sh [SECONDS] [redis]   (default 5 per run; needs wrk and taskset)
#
# With `redis`, the daemon's limits live on a private redis-server (on core
# 1 with the mock) instead of in the store: `llmnode serve --limits redis://`.
#
# The daemon is pinned to core 0; wrk and the mock share core 1.
set -euo pipefail
cd "$(dirname "$0")/.."
DUR=${1:-5}
LIMITS=${2:-store}
command -v wrk >/dev/null || { echo "needs wrk (apt-get install wrk)"; exit 2; }

cargo build --release -q --bin llmnode --example mock-upstream --example ttfb
BIN=target/release/llmnode
MOCK=target/release/examples/mock-upstream
TTFB=target/release/examples/ttfb
KEY=fake-bench-key-for-tests-0000
WORK=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$WORK"' EXIT
export LLMNODE_DATA_DIR=$WORK/data LLMNODE_LOG=warn K=$KEY

taskset -c 1 "$MOCK" "$KEY" > "$WORK/mock.url" &
for _ in $(seq 50); do [ -s "$WORK/mock.url" ] && break; sleep 0.1; done
UPSTREAM=$(cat "$WORK/mock.url")

$BIN init >/dev/null
$BIN connections add mock --provider openai --api-key-env K --base-url "$UPSTREAM" \
    --default-model gpt-4o-mini --rpm 100000000 --tpm 2000000000 --daily-budget-usd 1000000 >/dev/null
$BIN users add bench >/dev/null
TOKEN=$($BIN tokens create --user bench --role member 2>/dev/null)

SERVE_FLAGS=()
if [ "$LIMITS" = redis ]; then
    command -v redis-server >/dev/null || { echo "needs redis-server (apt-get install redis-server)"; exit 2; }
    RPORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    taskset -c 1 redis-server --port "$RPORT" --bind 127.0.0.1 --save "" --appendonly no --dir "$WORK" >/dev/null &
    for _ in $(seq 50); do redis-cli -p "$RPORT" ping >/dev/null 2>&1 && break; sleep 0.1; done
    SERVE_FLAGS=(--limits "redis://127.0.0.1:$RPORT/0")
fi
echo "limits: $LIMITS"
taskset -c 0 $BIN serve --bind 127.0.0.1:0 "${SERVE_FLAGS[@]}" > "$WORK/daemon.out" 2> "$WORK/daemon.err" &
DAEMON=$!
for _ in $(seq 100); do [ -s "$WORK/daemon.out" ] && break; sleep 0.1; done
DAEMON_URL=$(head -1 "$WORK/daemon.out" | sed 's/^llmnode listening on //')
rss() { awk '/VmRSS/ {printf "%.1f MB", $2/1024}' /proc/$DAEMON/status; }
echo "idle RSS: $(rss)"

run() { # URL TOKEN BODY CONCURRENCY -> "p50_ms p99_ms rps"
    local threads=$(( $4 < 2 ? 1 : 2 ))
    BENCH_TOKEN=$2 BENCH_BODY=$3 taskset -c 1 wrk -t$threads -c$4 -d${DUR}s --latency -s bench/chat.lua "$1/chat/completions" \
        | awk '
            function ms(v) { if (v ~ /us$/) return v/1000; if (v ~ /ms$/) return v+0; if (v ~ /s$/) return v*1000; return v }
            $1 == "50.000%" || $1 == "50%" { p50 = ms($2) }
            $1 == "99.000%" || $1 == "99%" { p99 = ms($2) }
            $1 == "Requests/sec:" { rps = $2 }
            $1 == "Non-2xx" { bad = $NF }
            END { printf "%.3f %.3f %.0f %d\n", p50, p99, rps, bad }'
}

JSON='{"model":"mock/gpt-4o-mini","messages":[{"role":"user","content":"Why is the sky blue? Answer in one short paragraph."}]}'
STREAM='{"model":"mock/gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"Why is the sky blue? Answer in one short paragraph."}]}'
DIRECT_JSON=${JSON/mock\/gpt-4o-mini/gpt-4o-mini}
DIRECT_STREAM=${STREAM/mock\/gpt-4o-mini/gpt-4o-mini}
run "$DAEMON_URL/v1" "$TOKEN" "$JSON" 4 >/dev/null  # warm-up

ttfb() { # URL TOKEN BODY -> "ttfb_p50 ttfb_p99 end_p50 end_p99 count"
    taskset -c 1 "$TTFB" "$1/chat/completions" "$2" "$3" "$DUR"
}

printf "\n%-7s %3s | %10s %10s %9s | %10s %10s %9s | %10s %10s | %10s %10s\n" mode c "direct p50" "p99" "req/s" "llmnode p50" "p99" "req/s" "added p50" "p99" "added ttfb p50" "p99"
for mode in json stream; do
    if [ $mode = json ]; then body=$JSON; direct=$DIRECT_JSON; else body=$STREAM; direct=$DIRECT_STREAM; fi
    for c in 1 16 64; do
        read -r dp50 dp99 drps dbad < <(run "$UPSTREAM" "$KEY" "$direct" $c)
        read -r lp50 lp99 lrps lbad < <(run "$DAEMON_URL/v1" "$TOKEN" "$body" $c)
        [ "$dbad$lbad" = "00" ] || echo "warning: non-2xx answers (direct $dbad, llmnode $lbad)"
        tp50=-; tp99=-
        if [ $mode = stream ] && [ $c = 1 ]; then
            read -r dt50 dt99 _ _ _ < <(ttfb "$UPSTREAM" "$KEY" "$direct")
            read -r lt50 lt99 _ _ _ < <(ttfb "$DAEMON_URL/v1" "$TOKEN" "$body")
            tp50=$(awk "BEGIN { printf \"%.3f\", $lt50 - $dt50 }"); tp99=$(awk "BEGIN { printf \"%.3f\", $lt99 - $dt99 }")
        fi
        printf "%-7s %3d | %10.3f %10.3f %9d | %10.3f %10.3f %9d | %10.3f %10.3f | %10s %10s\n" $mode $c \
            "$dp50" "$dp99" "$drps" "$lp50" "$lp99" "$lrps" \
            "$(awk "BEGIN { print $lp50 - $dp50 }")" "$(awk "BEGIN { print $lp99 - $dp99 }")" "$tp50" "$tp99"
    done
done
echo
echo "RSS after load: $(rss)"
kill -TERM $DAEMON; wait $DAEMON || true
echo "usage events recorded: $($BIN usage --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["total"]["requests"])')"
echo "(latencies in ms; added = through llmnode minus straight to the mock)"
