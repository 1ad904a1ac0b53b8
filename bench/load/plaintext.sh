#!/usr/bin/env bash
# Measures lithe's /plaintext under wrk on loopback: req/s, p50/p99, errors, server CPU µs/req.
# The server is lithe with common.sh's config (one worker, port 0), pinned apart from wrk when
# there are two CPUs; the figures come from common.sh's wrk_figures, as compare.sh's do.
#
# Env: CONNS (100), DURATION (5s), THREADS (1), PIPELINE (unset: no pipelining; N: N requests
# per write via bench/load/pipeline.lua), BUILD_DIR (build-release; lithe is built there if
# needed).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck source=common.sh
source "$ROOT/bench/load/common.sh" plaintext.sh
BUILD_DIR=${BUILD_DIR:-$ROOT/build-release}
CONNS=${CONNS:-100}
DURATION=${DURATION:-5s}
THREADS=${THREADS:-1}
PIPELINE=${PIPELINE:-}
HOST=127.0.0.1  # loopback only
for tool in cmake ninja wrk curl awk; do
  command -v "$tool" >/dev/null || die "needs $tool"
done
[[ $CONNS =~ ^[0-9]+$ ]] || die "CONNS must be a number"
[[ -z $PIPELINE || $PIPELINE =~ ^[0-9]+$ ]] || die "PIPELINE must be a number"

# wrk's duration ("5s", "2m", "10") in seconds, to bound every wait.
case $DURATION in
  *s) DUR_S=${DURATION%s} ;;
  *m) DUR_S=$(( ${DURATION%m} * 60 )) ;;
  *) DUR_S=$DURATION ;;
esac
[[ $DUR_S =~ ^[0-9]+$ ]] || die "DURATION must look like 5s, 1m or 10"
(( DUR_S <= 600 )) || die "DURATION is capped at 10 minutes"

make_scratch
# --- build (Release) if needed; ninja is a no-op when up to date ---
if [[ ! -f $BUILD_DIR/build.ninja ]]; then
  cmake -S "$ROOT" -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release -DLITHE_BUILD_TESTS=OFF \
    >"$WORK/build.log" 2>&1 || { tail -30 "$WORK/build.log" >&2; die "cmake failed"; }
fi
ninja -C "$BUILD_DIR" lithe >"$WORK/build.log" 2>&1 ||
  { tail -30 "$WORK/build.log" >&2; die "build failed"; }
LITHE=$BUILD_DIR/lithe
[[ -x $LITHE ]] || die "no server binary at $LITHE"

detect_pinning
write_content
write_lithe_conf
start_lithe 1 "${PIN_SERVER[@]}"
URL="http://$HOST:$LITHE_PORT/plaintext"

WRK_ARGS=(-t"$THREADS" -c"$CONNS" -d"$DURATION" --latency)
[[ -z $PIPELINE ]] || WRK_ARGS+=(-s "$ROOT/bench/load/pipeline.lua")
WRK_ARGS+=("$URL")
[[ -z $PIPELINE ]] || WRK_ARGS+=(-- "$PIPELINE")
echo "lithe: $LITHE on $HOST:$LITHE_PORT (pid $LITHE_PID)${PIN_SERVER[*]:+, ${PIN_SERVER[*]}}"
echo "wrk ${WRK_ARGS[*]}${PIN_CLIENT[*]:+ (${PIN_CLIENT[*]})}"

before=$(pid_ticks "$LITHE_PID")
timeout --kill-after=5 $(( DUR_S + 30 )) "${PIN_CLIENT[@]}" wrk "${WRK_ARGS[@]}" |
  tee "$WORK/wrk.txt"
after=$(pid_ticks "$LITHE_PID")
kill -0 "$LITHE_PID" 2>/dev/null || die "server died during the run"

HZ=$(getconf CLK_TCK)
read -r total rps p99 errors cpu p50 < <(wrk_figures "$WORK/wrk.txt" "$before" "$after" "$HZ")
(( total > 0 )) || die "no requests completed"
# Pipelining: wrk times one response per batch, so its percentiles past the sampled share read
# 0 (a known wrk limitation); they show as n/a rather than as a latency.
note=""
[[ -z $PIPELINE ]] || note=" (per batch; wrk undercounts samples when pipelining)"
[[ $p50 != 0 ]] && p50="$p50 µs" || p50="n/a"
[[ $p99 != 0 ]] && p99="$p99 µs" || p99="n/a"
printf '\n--- summary (conns=%d, pipeline=%d) ---\n' "$CONNS" "${PIPELINE:-1}"
printf 'requests        %d\n' "$total"
printf 'req/s           %s\n' "$rps"
printf 'latency p50     %s%s\n' "$p50" "$note"
printf 'latency p99     %s%s\n' "$p99" "$note"
printf 'errors          %d (non-2xx/3xx and socket errors)\n' "$errors"
printf 'server CPU      %d ticks at %d Hz\n' $(( after - before )) "$HZ"
printf 'server CPU/req  %s us\n' "$cpu"
