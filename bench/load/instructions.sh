#!/usr/bin/env bash
# User-space instructions per request of one or more lithe binaries, counted by callgrind while
# wrk drives /plaintext on loopback: a figure that does not move with the machine's load, for
# changes whose cost is in lithe's own code (the system calls are the same before and after;
# count those with strace -c). The counters are zeroed after a warm-up and dumped after the
# measured run, so start-up and shutdown are left out. Every thread of the process counts.
#
# Usage: bench/load/instructions.sh LITHE... (each binary is measured in turn, once per row)
# Env: ROWS (space-separated CONNS or CONNS:PIPELINE; default "10 100 1000 100:16"),
#      DURATION (6, seconds of measured wrk run; under callgrind lithe serves ~15k req/s).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck source=common.sh
source "$ROOT/bench/load/common.sh" instructions.sh
(($# >= 1)) || die "usage: bench/load/instructions.sh LITHE..."
for tool in valgrind callgrind_control callgrind_annotate wrk curl awk; do
  command -v "$tool" >/dev/null || die "needs $tool"
done
ROWS=${ROWS:-"10 100 1000 100:16"}
DURATION=${DURATION:-6}
HOST=127.0.0.1
make_scratch
write_content
write_lithe_conf

# Sets M_REQ and M_PER (instructions per request) for BINARY on CONNS [PIPELINE].
measure() {  # BINARY CONNS PIPELINE
  local LITHE=$1 conns=$2 pipe=$3 args=(-t1 -c"$2") tail=()
  if [[ -n $pipe ]]; then args+=(-s "$ROOT/bench/load/pipeline.lua"); tail=(-- "$pipe"); fi
  rm -f "$WORK"/callgrind.*
  # start_lithe, under valgrind (the port comes from the log as usual).
  valgrind --tool=callgrind --callgrind-out-file="$WORK/callgrind.%p" \
    "$LITHE" -c "$WORK/lithe.toml" -w 1 >"$WORK/lithe.log" 2>&1 &
  LITHE_PID=$!; PIDS+=("$LITHE_PID")
  LITHE_PORT=
  for _ in $(seq 300); do
    kill -0 "$LITHE_PID" 2>/dev/null || { cat "$WORK/lithe.log" >&2; die "lithe exited"; }
    LITHE_PORT=$(grep -o "listening on $HOST:[0-9]*" "$WORK/lithe.log" | head -1 | sed 's/.*://') || true
    [[ -z $LITHE_PORT ]] || break
    sleep 0.1
  done
  [[ -n $LITHE_PORT ]] || die "lithe did not report its port"
  local url="http://$HOST:$LITHE_PORT/plaintext"
  wait_ready "$url" "$LITHE_PID" "$WORK/lithe.log"
  wrk "${args[@]}" -d2s "$url" "${tail[@]}" >/dev/null
  callgrind_control -z "$LITHE_PID" >/dev/null 2>&1
  wrk "${args[@]}" -d"${DURATION}s" "$url" "${tail[@]}" >"$WORK/wrk.txt"
  callgrind_control -d "$LITHE_PID" >/dev/null 2>&1
  local pid=$LITHE_PID requests instructions
  stop_lithe
  requests=$(awk '/requests in/ { print $1 }' "$WORK/wrk.txt")
  instructions=$(callgrind_annotate "$WORK/callgrind.$pid.1" 2>/dev/null |
    awk '/PROGRAM TOTALS/ { gsub(",", "", $1); print $1 }')
  [[ -n $requests && -n $instructions ]] || die "no figures for $LITHE (see $WORK)"
  M_REQ=$requests
  M_PER=$(awk -v n="$instructions" -v r="$requests" 'BEGIN { printf "%.0f", n / r }')
}

echo "| row | binary | requests | instructions/request |"
echo "|---|---|---|---|"
for row in $ROWS; do
  conns=${row%%:*}; pipe=
  [[ $row != *:* ]] || pipe=${row#*:}
  label="c=$conns${pipe:+, pipelined $pipe}"
  for bin in "$@"; do
    measure "$(realpath "$bin")" "$conns" "$pipe"
    echo "| $label | $bin | $M_REQ | $M_PER |"
  done
done
