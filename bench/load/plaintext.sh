#!/usr/bin/env bash
# Measures lithe's /plaintext under wrk on loopback: req/s, p50/p99, errors, server CPU µs/req.
#
# Env: PORT (18181), CONNS (100), DURATION (5s), THREADS (1), PIPELINE (unset: no pipelining;
# N: N requests per write via bench/load/pipeline.lua), BUILD_DIR (build-release).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD_DIR=${BUILD_DIR:-$ROOT/build-release}
PORT=${PORT:-18181}
CONNS=${CONNS:-100}
DURATION=${DURATION:-5s}
THREADS=${THREADS:-1}
PIPELINE=${PIPELINE:-}
HOST=127.0.0.1  # loopback only
URL="http://$HOST:$PORT/plaintext"

die() { echo "plaintext.sh: $*" >&2; exit 1; }
for tool in cmake ninja wrk curl awk; do
  command -v "$tool" >/dev/null || die "needs $tool"
done
[[ $PORT =~ ^[0-9]+$ ]] || die "PORT must be a number"
[[ $CONNS =~ ^[0-9]+$ ]] || die "CONNS must be a number"
[[ -z $PIPELINE || $PIPELINE =~ ^[0-9]+$ ]] || die "PIPELINE must be a number"

# wrk's duration ("5s", "2m", "10") in seconds, to bound every wait.
duration_seconds() {
  local d=$1
  case $d in
    *s) echo "${d%s}" ;;
    *m) echo $(( ${d%m} * 60 )) ;;
    *h) echo $(( ${d%h} * 3600 )) ;;
    *) echo "$d" ;;
  esac
}
DUR_S=$(duration_seconds "$DURATION")
[[ $DUR_S =~ ^[0-9]+$ ]] || die "DURATION must look like 5s, 1m or 10"
(( DUR_S <= 600 )) || die "DURATION is capped at 10 minutes"

# Scratch files, and the server (once started), are cleaned up however the script exits.
WORK=$(mktemp -d)
SERVER_PID=
cleanup() {
  if [[ -n $SERVER_PID ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- build (Release) if needed; ninja is a no-op when up to date ---
if [[ ! -f $BUILD_DIR/build.ninja ]]; then
  cmake -S "$ROOT" -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release -DLITHE_BUILD_TESTS=OFF \
    >"$WORK/build.log" 2>&1 || { tail -30 "$WORK/build.log" >&2; die "cmake failed"; }
fi
ninja -C "$BUILD_DIR" lithe >"$WORK/build.log" 2>&1 ||
  { tail -30 "$WORK/build.log" >&2; die "build failed"; }
SERVER=$BUILD_DIR/lithe
[[ -x $SERVER ]] || die "no server binary at $SERVER"

# --- CPU pinning: server on CPU 1, wrk on CPU 0, when there are two CPUs to use ---
PIN_SERVER=()
PIN_WRK=()
if (( $(nproc) >= 2 )) && command -v taskset >/dev/null && taskset -c 0 true 2>/dev/null &&
   taskset -c 1 true 2>/dev/null; then
  PIN_SERVER=(taskset -c 1)
  PIN_WRK=(taskset -c 0)
fi

if curl -s -o /dev/null --max-time 1 "http://$HOST:$PORT/"; then
  die "something already answers on $HOST:$PORT (set PORT)"
fi

# --- start the server (the EXIT trap stops it) ---
# taskset execs the server, so $! is the server's own pid.
"${PIN_SERVER[@]}" "$SERVER" -l "$HOST:$PORT" >"$WORK/server.log" 2>&1 &
SERVER_PID=$!

ready=0
for _ in $(seq 100); do  # at most ~10 s
  kill -0 "$SERVER_PID" 2>/dev/null || { cat "$WORK/server.log" >&2; die "server exited"; }
  if curl -s -o /dev/null --max-time 1 "$URL"; then ready=1; break; fi
  sleep 0.1
done
(( ready )) || { cat "$WORK/server.log" >&2; die "server did not answer within 10 s"; }

# utime + stime of the server, in clock ticks (fields 14 and 15, counted after the ")" of comm).
cpu_ticks() {
  local stat
  stat=$(<"/proc/$SERVER_PID/stat")
  stat=${stat##*) }
  awk '{ print $12 + $13 }' <<<"$stat"
}

WRK_ARGS=(-t"$THREADS" -c"$CONNS" -d"$DURATION" --latency)
[[ -z $PIPELINE ]] || WRK_ARGS+=(-s "$ROOT/bench/load/pipeline.lua")
WRK_ARGS+=("$URL")
[[ -z $PIPELINE ]] || WRK_ARGS+=(-- "$PIPELINE")

echo "lithe: $SERVER on $HOST:$PORT (pid $SERVER_PID)${PIN_SERVER:+, pinned to CPU 1}"
echo "wrk ${WRK_ARGS[*]}${PIN_WRK:+ (pinned to CPU 0)}"

ticks_before=$(cpu_ticks)
timeout --kill-after=5 $(( DUR_S + 30 )) "${PIN_WRK[@]}" wrk "${WRK_ARGS[@]}" \
  | tee "$WORK/wrk.txt"
ticks_after=$(cpu_ticks)
kill -0 "$SERVER_PID" 2>/dev/null || die "server died during the run"

CLK_TCK=$(getconf CLK_TCK)
awk -v before="$ticks_before" -v after="$ticks_after" -v hz="$CLK_TCK" \
    -v conns="$CONNS" -v pipeline="${PIPELINE:-1}" '
  function us(v,   n, u) {  # wrk latency ("245.00us", "1.02ms", "1.10s") in microseconds
    n = v + 0; u = v; sub(/^[0-9.]+/, "", u)
    if (u == "ms") return n * 1000
    if (u == "s") return n * 1000000
    if (u == "m") return n * 60000000
    return n
  }
  /requests in/ { total = $1 }
  /^Requests\/sec:/ { rps = $2 }
  $1 == "50%" { p50 = $2 }
  $1 == "99%" { p99 = $2 }
  /Non-2xx or 3xx responses:/ { non2xx = $NF }
  /Socket errors:/ {
    gsub(/,/, "")
    sock = $4 + $6 + $8 + $10
  }
  END {
    if (total == 0) { print "no requests completed"; exit 1 }
    cpu_us = (after - before) * 1000000 / hz
    printf "\n--- summary (conns=%d, pipeline=%d) ---\n", conns, pipeline
    printf "requests        %d\n", total
    printf "req/s           %.0f\n", rps
    # Pipelining: wrk times one response per batch, so its percentiles past the sampled share
    # read 0 (a known wrk limitation); show them as n/a rather than as a latency.
    note = ""
    if (pipeline > 1) note = " (per batch; wrk undercounts samples when pipelining)"
    if (us(p50) == 0) p50 = "n/a"
    if (us(p99) == 0) p99 = "n/a"
    printf "latency p50     %s%s\n", p50, note
    printf "latency p99     %s%s\n", p99, note
    printf "errors          %d (non-2xx/3xx %d, socket %d)\n", non2xx + sock, non2xx, sock
    printf "server CPU      %.0f ms over the run (%d ticks at %d Hz)\n", cpu_us / 1000,
           after - before, hz
    printf "server CPU/req  %.2f us\n", cpu_us / total
  }' "$WORK/wrk.txt"
