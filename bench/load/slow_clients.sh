#!/usr/bin/env bash
# Slow and hostile clients, lithe against nginx on loopback (issue 14's measurements).
#
# Rows (ROWS, comma list; default all):
#   fetch     fast fetches of a 1 MiB body: wrk -t1 -c10 against lithe's `static` route (the body
#             in memory), lithe's `files` route and nginx (sendfile on), alternating, REPEAT
#             rounds; server CPU µs per fetch, and the whole machine's (/proc/stat), since on
#             loopback the receiver's network stack runs in the sender's softirq.
#   slowcpu   500 slow readers of that body (slowhttptest -X -c 500 -r 200 -w 1 -y 1 -n 5 -z 1),
#             no probe: the server's CPU for the 500 fetches.
#   slowread  the same attack with a probe opening 1000 connections a second for /plaintext
#             (bench/load/probe.py): the probe's p99 before the attack, during the same attack on
#             a decoy (the client CPU equally loaded) and during the attack, the worst second's
#             p99 and the maximum, per server.
#   slowbody  slowhttptest -B -c 1000 -r 200 -i 5 -l ATTACK against a POST echo route with a 5 s
#             body timeout (the 408 races the follow-up bytes), plus the probe, RUNS times per
#             server.io value: how many runs lithe did not survive (exit status on SIGTERM).
# Servers on CPU 1, clients on CPU 0 (when there are two). Figures print as markdown lines and go
# to OUT_DIR/slow_clients.md.
#
# Usage: bench/load/slow_clients.sh
# Env: LITHE (default build-test/lithe), NGINX (/usr/sbin/nginx), ROWS, REPEAT (3), ATTACK (30
#      seconds per slowhttptest run), RUNS (slowbody runs per server.io value, 3), IO (io_uring),
#      OUT_DIR (bench/results)
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
LITHE=${LITHE:-$ROOT/build-test/lithe}
NGINX=${NGINX:-/usr/sbin/nginx}
ROWS=${ROWS:-fetch,slowcpu,slowread,slowbody}
REPEAT=${REPEAT:-3}
ATTACK=${ATTACK:-30}
RUNS=${RUNS:-3}
IO=${IO:-io_uring}
OUT_DIR=${OUT_DIR:-$ROOT/bench/results}
HOST=127.0.0.1
source "$ROOT/bench/load/common.sh" slow_clients.sh
for tool in wrk slowhttptest python3 curl awk; do
  command -v "$tool" >/dev/null || die "needs $tool (scripts/setup.sh installs it)"
done
[[ -x $LITHE ]] || die "no lithe binary at $LITHE (build it, or set LITHE)"
[[ -x $NGINX ]] || die "needs nginx at $NGINX"
want() { [[ ,$ROWS, == *,$1,* ]]; }
ulimit -n 20000 2>/dev/null || true

make_scratch
detect_pinning
write_content
# 1 MiB of printable text without braces (a `static` body may not hold placeholders).
head -c 1048576 /dev/zero | tr '\0' 'x' >"$WORK/www/static/big1m.bin"
cat >"$WORK/lithe.toml" <<EOF
[server]
listen = ["$HOST:0"]
max_connections = 20000

[timeouts]
header = "5s"
body = "5s"
write = "5s"

[[route]]
path = "/plaintext"
handler = "static"
body = "Hello, World!"

[[route]]
path = "/big"
handler = "static"
content_type = "application/octet-stream"
body_file = "www/static/big1m.bin"

[[route]]
path = "/static/*path"
handler = "files"
root = "www/static"

[[route]]
path = "/echo"
methods = ["POST"]
handler = "echo"
EOF
mkdir -p "$OUT_DIR"
REPORT=$OUT_DIR/slow_clients.md
{
  echo "# bench/load/slow_clients.sh"
  echo
  echo "- command: \`ROWS=$ROWS REPEAT=$REPEAT ATTACK=$ATTACK RUNS=$RUNS IO=$IO bench/load/slow_clients.sh\`"
  echo "- lithe: $("$LITHE" --version | head -1), server.io=$IO; nginx: $("$NGINX" -v 2>&1)"
  echo "- machine: $(nproc) CPUs, $(uname -r); pinned: $PINNED"
  echo
} >"$REPORT"
say() { echo "$*" | tee -a "$REPORT"; }

machine_ticks() { awk '/^cpu /{print $2 + $3 + $4 + $7 + $8}' /proc/stat; }  # busy, all CPUs
tick_ms=$(( 1000 / $(getconf CLK_TCK) ))
# The nginx worker (its master does not serve).
nginx_worker() { pgrep -P "$NGINX_PID" | head -1; }

label() { case $1 in static) echo "lithe static" ;; files) echo "lithe files" ;; *) echo "$1" ;; esac; }
start_servers() {
  LITHE_IO=$IO start_lithe 1 "${PIN_SERVER[@]}"
  start_nginx 1 "${PIN_SERVER[@]}"
}
stop_servers() { stop_lithe; stop_nginx; }

# --- fast fetches ---------------------------------------------------------------------------
fetch_once() {  # NAME PID URL
  local t0 m0 t1 m1 out req
  t0=$(pid_ticks "$2"); m0=$(machine_ticks)
  out=$("${PIN_CLIENT[@]}" wrk -t1 -c10 -d5s "$3")
  t1=$(pid_ticks "$2"); m1=$(machine_ticks)
  req=$(awk '/requests in/ {print $1}' <<<"$out")
  awk -v n="$1" -v r="$req" -v c=$(( (t1 - t0) * tick_ms )) -v m=$(( (m1 - m0) * tick_ms )) \
    'BEGIN { printf "| %s | %d | %.0f | %.0f |\n", n, r, c * 1000 / r, m * 1000 / r }'
}
if want fetch; then
  start_servers
  say ""
  say "## Fast fetches of a 1 MiB body (wrk -t1 -c10 -d5s, $REPEAT rounds, alternating)"
  say ""
  say "| server | fetches | server CPU µs/fetch | machine CPU µs/fetch |"
  say "|---|---|---|---|"
  for ((i = 0; i < REPEAT; i++)); do
    say "$(fetch_once "lithe static" "$LITHE_PID" "http://$HOST:$LITHE_PORT/big")"
    say "$(fetch_once "lithe files" "$LITHE_PID" "http://$HOST:$LITHE_PORT/static/big1m.bin")"
    say "$(fetch_once "nginx" "$(nginx_worker)" "http://$HOST:$NGINX_PORT/static/big1m.bin")"
  done
  stop_servers
fi

# --- slow readers -----------------------------------------------------------------------------
slow_read() {  # URL
  "${PIN_CLIENT[@]}" slowhttptest -X -c 500 -r 200 -w 1 -y 1 -n 5 -z 1 -l "$ATTACK" -u "$1" \
    >"$WORK/slowhttptest.log" 2>&1 || true
}
if want slowcpu; then
  say ""
  say "## 500 slow readers of the 1 MiB body, no probe (server CPU for the 500 fetches)"
  say ""
  say "| server | CPU ms | per fetch µs |"
  say "|---|---|---|"
  for ((i = 0; i < REPEAT; i++)); do
    for target in static files nginx; do
      start_servers  # fresh servers: the last attack's connections are gone
      case $target in
        static) pid=$LITHE_PID; url="http://$HOST:$LITHE_PORT/big" ;;
        files) pid=$LITHE_PID; url="http://$HOST:$LITHE_PORT/static/big1m.bin" ;;
        nginx) pid=$(nginx_worker); url="http://$HOST:$NGINX_PORT/static/big1m.bin" ;;
      esac
      t0=$(pid_ticks "$pid"); slow_read "$url"; t1=$(pid_ticks "$pid")
      ms=$(( (t1 - t0) * tick_ms ))
      say "| $(label "$target") | $ms | $(( ms * 1000 / 500 )) |"
      stop_servers
    done
  done
fi

probe() {  # PORT SECONDS
  "${PIN_CLIENT[@]}" python3 "$ROOT/bench/load/probe.py" "$HOST" "$1" /plaintext 1000 "$2"
}
# slowhttptest itself takes about half of the client CPU during this attack, which the probe
# shares: "control" is the probe while the same attack hits a decoy lithe (on the client CPU),
# so that the server's own share of the slowdown is attack p99 / control p99.
start_decoy() {
  "${PIN_CLIENT[@]}" "$LITHE" -c "$WORK/lithe.toml" >"$WORK/decoy.log" 2>&1 &
  DECOY_PID=$!; PIDS+=("$DECOY_PID")
  local _
  for _ in $(seq 100); do
    DECOY_PORT=$(grep -o "listening on $HOST:[0-9]*" "$WORK/decoy.log" | sed 's/.*://') || true
    [[ -z $DECOY_PORT ]] || break
    sleep 0.1
  done
  [[ -n $DECOY_PORT ]] || die "the decoy lithe did not start"
  wait_ready "http://$HOST:$DECOY_PORT/plaintext" "$DECOY_PID" "$WORK/decoy.log"
}
probe_during() {  # PORT URL: the probe's line while slow readers hit URL
  probe "$1" "$ATTACK" >"$WORK/probe.txt" &
  local pp=$!
  slow_read "$2"
  wait "$pp"
  cat "$WORK/probe.txt"
}
field() { sed -n "s/.* $1=\([0-9.]*\).*/\1/p" <<<"$2"; }
if want slowread; then
  say ""
  say "## Probe latency under 500 slow readers (ms; probe: 1000 new connections/s for /plaintext)"
  say ""
  say "| server | baseline p99 | control p99 | attack p99 | worst second p99 | max | attack / baseline | attack / control | errors |"
  say "|---|---|---|---|---|---|---|---|---|"
  for target in static files nginx; do
    start_servers
    start_decoy
    case $target in
      static) port=$LITHE_PORT; url="http://$HOST:$LITHE_PORT/big" ;;
      files) port=$LITHE_PORT; url="http://$HOST:$LITHE_PORT/static/big1m.bin" ;;
      nginx) port=$NGINX_PORT; url="http://$HOST:$NGINX_PORT/static/big1m.bin" ;;
    esac
    base=$(probe "$port" 5)
    control=$(probe_during "$port" "http://$HOST:$DECOY_PORT/big")
    attack=$(probe_during "$port" "$url")
    say "$(awk -v n="$(label "$target")" -v b="$(field p99 "$base")" -v c="$(field p99 "$control")" \
      -v a="$(field p99 "$attack")" -v w="$(field worst_p99 "$attack")" -v m="$(field max "$attack")" \
      -v e="$(field errors "$attack")" \
      'BEGIN { printf "| %s | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f | %d |\n", n, b, c, a, w, m, a / b, a / c, e }')"
    stop_pid "$DECOY_PID"
    stop_servers
  done
fi

# --- slow bodies at the body timeout ----------------------------------------------------------
if want slowbody; then
  say ""
  say "## Slow bodies at the 5 s body timeout (slowhttptest -B -c 1000 -r 200 -i 5 -l $ATTACK, with the probe)"
  say ""
  say "| server.io | runs | lithe did not survive | probe p99 (ms), per run |"
  say "|---|---|---|---|"
  for io in io_uring epoll; do
    died=0; p99s=""
    for ((i = 0; i < RUNS; i++)); do
      LITHE_IO=$io start_lithe 1 "${PIN_SERVER[@]}"
      probe "$LITHE_PORT" "$ATTACK" >"$WORK/probe.txt" &
      pp=$!
      "${PIN_CLIENT[@]}" slowhttptest -B -c 1000 -r 200 -i 5 -l "$ATTACK" \
        -u "http://$HOST:$LITHE_PORT/echo" >"$WORK/slowhttptest.log" 2>&1 || true
      wait "$pp"
      p99s+="$(sed -n 's/.* p99=\([0-9.]*\).*/\1/p' "$WORK/probe.txt") "
      if kill -0 "$LITHE_PID" 2>/dev/null; then
        kill -TERM "$LITHE_PID"
        wait "$LITHE_PID" && rc=0 || rc=$?
      else
        wait "$LITHE_PID" && rc=0 || rc=$?
      fi
      LITHE_PID=
      if (( rc != 0 )); then
        died=$((died + 1))
        log "run $((i + 1)) with $io: exit status $rc; log tail:"; tail -5 "$WORK/lithe.log" >&2
      fi
    done
    say "| $io | $RUNS | $died | $p99s|"
  done
fi
log "report: $REPORT"
