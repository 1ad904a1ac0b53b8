#!/usr/bin/env bash
# Where does lithe's CPU go for /plaintext without pipelining?
#
# Starts lithe (Release, pinned to CPU 1) and, for reference, nginx with one worker, with
# compare.sh's configs and content (bench/load/common.sh), and for each:
#   1. counts system calls per request: strace -c -f attached during a short wrk run
#      (strace slows the server a lot; only the counts per request matter, not the times);
#   2. (lithe only) samples the CPU with perf record (cpu-clock, call graphs) during a wrk run and
#      prints the top symbols overall, by DSO, and in lithe's own code.
# Output goes to stdout and OUT_DIR/summary.txt; perf.data (git-ignored) and the strace tables
# are kept in OUT_DIR (bench/results/profile).
#
# Usage: bench/load/profile.sh
# Env: BUILD_DIR (build-bench), CONNS (100), DURATION (8, seconds of perf sampling),
#      STRACE_DURATION (3), PATH_ (/plaintext; also /json, /static/small.txt (13 B),
#      /static/big.bin (64 KiB)), OUT_DIR (bench/results/profile), NGINX_TOO (1)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD_DIR=${BUILD_DIR:-$ROOT/build-bench}
OUT_DIR=${OUT_DIR:-$ROOT/bench/results/profile}
CONNS=${CONNS:-100}
DURATION=${DURATION:-8}
STRACE_DURATION=${STRACE_DURATION:-3}
URL_PATH=${PATH_:-/plaintext}
NGINX=${NGINX:-/usr/sbin/nginx}
NGINX_TOO=${NGINX_TOO:-1}
HOST=127.0.0.1
LITHE=$BUILD_DIR/lithe

# die, log, the scratch space, pinning, the content and configs, starting the servers.
source "$ROOT/bench/load/common.sh" profile.sh
for tool in wrk curl strace python3 ps; do command -v "$tool" >/dev/null || die "needs $tool"; done
[[ -x $LITHE ]] || die "no $LITHE: run bench/load/compare.sh --quick (it builds) first"
HAVE_PERF=0
if command -v perf >/dev/null && perf record -e cpu-clock -o /dev/null -- true >/dev/null 2>&1; then
  HAVE_PERF=1
else
  log "perf unavailable (Debian: linux-perf; kernel.perf_event_paranoid) - syscall counts only"
fi

make_scratch
mkdir -p "$OUT_DIR"
exec > >(tee "$OUT_DIR/summary.txt")

detect_pinning
write_content
write_lithe_conf
start_lithe 1 "${PIN_SERVER[@]}"
# nginx for reference, when there is one.
if (( NGINX_TOO )) && [[ -x $NGINX ]]; then start_nginx 1 "${PIN_SERVER[@]}"; fi

wrk_run() {  # PORT SECONDS -> wrk output on stdout
  timeout --kill-after=5 $(( $2 + 30 )) "${PIN_CLIENT[@]}" wrk -t1 -c"$CONNS" -d"$2s" "http://$HOST:$1$URL_PATH"
}
requests_of() { awk '/requests in/ { print $1 }' "$1"; }

# --- 1. system calls per request ---
strace_server() {  # NAME PID PORT
  local name=$1 pid=$2 port=$3 tpids
  wrk_run "$port" 1 >/dev/null  # warm up
  tpids=$pid
  if [[ $name == nginx ]]; then  # trace the worker process
    tpids=
    for _ in $(seq 20); do
      tpids=$(ps -o pid= --ppid "$pid" | head -1 | tr -d ' ')
      [[ -z $tpids ]] || break
      sleep 0.1
    done
    [[ -n $tpids ]] || { log "no nginx worker under $pid"; return 0; }
  fi
  timeout $(( STRACE_DURATION + 20 )) strace -c -f -p "$tpids" -o "$OUT_DIR/strace-$name.txt" &
  local spid=$!
  sleep 1
  wrk_run "$port" "$STRACE_DURATION" >"$WORK/wrk-strace-$name.txt"
  kill -INT "$spid" 2>/dev/null || true
  wait "$spid" 2>/dev/null || true
  local reqs; reqs=$(requests_of "$WORK/wrk-strace-$name.txt")
  echo "== $name: system calls per request (strace -c -f, $reqs requests; the counts include ~1 s before wrk started, when the server was idle) =="
  awk -v reqs="$reqs" '$1 ~ /^[0-9.]+$/ && NF >= 5 && $NF != "total" {
      name = $NF; calls = $4
      total += calls
      printf "  %-16s %10d calls  %6.3f per request\n", name, calls, calls / reqs
    }
    END { printf "  %-16s %10d calls  %6.3f per request\n", "total", total, total / reqs }' \
    "$OUT_DIR/strace-$name.txt" | sort -k2 -n -r | head -12 || true
  echo
}
strace_server lithe "$LITHE_PID" "$LITHE_PORT"
[[ -z $NGINX_PID ]] || strace_server nginx "$NGINX_PID" "$NGINX_PORT"

# perf report, filtered; never fails the script (head closing the pipe early is fine).
report() {  # LINES perf-report-args...
  local lines=$1; shift
  perf report -i "$OUT_DIR/perf.data" --stdio "$@" 2>/dev/null | grep '%' | head -"$lines" || true
}

# --- 2. perf profile of lithe ---
if (( HAVE_PERF )); then
  wrk_run "$LITHE_PORT" 1 >/dev/null
  ticks() { local s; s=$(<"/proc/$LITHE_PID/stat"); s=${s##*) }; awk '{ print $12 + $13 }' <<<"$s"; }
  t0=$(ticks)
  perf record -e cpu-clock -F 4000 -g -p "$LITHE_PID" -o "$OUT_DIR/perf.data" -- sleep "$(( DURATION + 1 ))" \
    >"$WORK/perf.out" 2>&1 &
  ppid=$!
  sleep 0.5
  wrk_run "$LITHE_PORT" "$DURATION" >"$WORK/wrk-perf.txt"
  t1=$(ticks)
  wait "$ppid" || true
  reqs=$(requests_of "$WORK/wrk-perf.txt")
  echo "== lithe under perf: $reqs requests, $(awk '/^Requests\/sec/ { print $2 }' "$WORK/wrk-perf.txt") req/s, $(awk -v a="$t0" -v b="$t1" -v r="$reqs" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.2f", (b - a) * 1e6 / hz / r }') CPU µs/request =="
  echo "-- by DSO --"
  report 8 --no-children --sort dso -g none
  echo "-- top symbols (all) --"
  report 25 --no-children --sort sym -g none
  echo "-- top symbols in user space (lithe + libc) --"
  report 25 --no-children --sort sym -g none --dsos lithe,libc.so.6
  echo "-- kernel time by system call entry (callers of do_syscall_64, children included) --"
  perf report -i "$OUT_DIR/perf.data" --children --sort sym --stdio -g none 2>/dev/null |
    grep -E '__x64_sys_|__sys_|do_epoll|ksys_|do_syscall_64|softirq' | head -14 || true
  echo "perf data: $OUT_DIR/perf.data (perf report -i ... to browse)"
fi
