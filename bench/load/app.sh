#!/usr/bin/env bash
# One application, the same on every server: what lithe costs per request beside Boost.Beast,
# RESTinio and Starlette (uvicorn) on loopback.
#
# The application (bench/app/): POST /api/echo with a ~1 KiB order (bench/app/order.json) is
# parsed (simdjson DOM in C++, bench/app/order_summary.hpp; json.loads in Python), qty*price is
# summed over its items and the answer is {"id":"ord-1234","items":14,"total":421.25}, invalid
# JSON a 400; GET /plaintext answers "Hello, World!". The servers, each one thread (or one
# process), pinned to CPU SERVER_CPU:
#   lithe      BUILD/bench/lithe_app PORT        lithe embedded (Server::handle), bench/app/lithe_app.toml
#   lithe-co   BUILD/bench/lithe_app PORT --co   the echo handler as a coroutine (Server::handle_co)
#   beast      BUILD/bench/beast_app PORT        Boost.Beast, as its http_server_async example
#   restinio   BUILD/bench/restinio_app PORT     RESTinio (Debian librestinio-dev) on Boost.Asio
#   starlette  PYTHON -m uvicorn starlette_app:app (bench/app/starlette_app.py) --loop uvloop
#              --http httptools --workers 1 --no-access-log --log-level warning
# The C++ binaries are not built here. Build them with:
#   cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DLITHE_BUILD_TESTS=OFF
#   cmake --build build --target app_lithe app_beast app_restinio
# and the Python stack comes from Debian (scripts/setup.sh): python3-starlette python3-uvicorn
# python3-httptools python3-uvloop. A server whose binary or module is missing is skipped.
#
# Each round measures every route on every server, the servers in turn (the order rotates from
# round to round, so slow drift in background load spreads over all): start the server, wait
# until it answers, check its answers with curl (the json answer must be the one computed here
# from the fixture, so every server reports the same total), WARMUP s of wrk, then DURATION s of
# wrk -t1 -cCONNS --latency (keep-alive) pinned to CPU CLIENT_CPU, and stop the server.
# Per measurement: req/s and p99 from wrk; the server's CPU µs per request, its utime+stime
# (/proc/PID/stat) over the run divided by the requests wrk completed, and the kernel's part of
# it (stime: system calls and, on loopback, the TCP stack of both ends that they run); errors
# (non-2xx + socket errors); how busy wrk's CPU was (near 100 %, wrk and not the server set
# req/s and p99).
#
# Prints a markdown table per round and a summary: per route and server the best of the rounds
# (lowest CPU/req, highest req/s, lowest p99: background load only ever makes a figure worse),
# and the ratios, on CPU µs per request, for the best figures and for each round: json /
# plaintext per server; lithe and lithe-co / the best C++ peer (the lower of beast and
# restinio); lithe-co / lithe; starlette / lithe (the headline). Writes every measurement to OUT
# as CSV.
#
# Usage: bench/load/app.sh
# Env: BUILD (build; the build directory, absolute or relative to the repository root),
#      DURATION (10) and WARMUP (2) in whole seconds, ROUNDS (3), CONNS (32),
#      SERVERS (lithe,lithe-co,beast,restinio,starlette), ROUTES (json,plaintext),
#      PYTHON (/usr/bin/python3, the interpreter Debian's python3-uvicorn is installed for),
#      SERVER_CPU (0), CLIENT_CPU (1), OUT (bench/results/app.csv; "-" prints the CSV instead).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
ENV_SET=""
for v in BUILD DURATION WARMUP ROUNDS CONNS SERVERS ROUTES PYTHON SERVER_CPU CLIENT_CPU OUT; do
  [[ -z ${!v+x} ]] || ENV_SET+="$v=${!v} "
done
COMMAND_LINE="${ENV_SET}bench/load/app.sh"
for arg in "$@"; do
  case $arg in
    -h|--help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "app.sh: unknown argument $arg (try --help)" >&2; exit 1 ;;
  esac
done

BUILD=${BUILD:-build}
[[ $BUILD == /* ]] || BUILD=$ROOT/$BUILD
DURATION=${DURATION:-10}
WARMUP=${WARMUP:-2}
ROUNDS=${ROUNDS:-3}
CONNS=${CONNS:-32}
ALL_SERVERS=lithe,lithe-co,beast,restinio,starlette
ALL_ROUTES=json,plaintext
SERVERS=${SERVERS:-$ALL_SERVERS}
ROUTES=${ROUTES:-$ALL_ROUTES}
PYTHON=${PYTHON:-/usr/bin/python3}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
OUT=${OUT:-$ROOT/bench/results/app.csv}
HOST=127.0.0.1  # loopback only
FIXTURE=$ROOT/bench/app/order.json
POST_LUA=$ROOT/bench/load/app_post.lua

# die, log, the scratch space and its traps (every server stopped however the script exits),
# stop_pid, free_port, wait_ready.
source "$ROOT/bench/load/common.sh" app.sh
for tool in wrk curl awk python3 taskset timeout getconf; do
  command -v "$tool" >/dev/null || die "needs $tool"
done
[[ $DURATION =~ ^[0-9]+$ && $WARMUP =~ ^[0-9]+$ ]] || die "DURATION and WARMUP are whole seconds"
(( DURATION >= 1 && DURATION <= 600 && WARMUP <= 600 )) || die "DURATION must be 1..600 s"
[[ $ROUNDS =~ ^[1-9][0-9]?$ ]] || die "ROUNDS must be 1..99"
[[ $CONNS =~ ^[1-9][0-9]*$ ]] || die "CONNS must be a positive number"
for s in ${SERVERS//,/ }; do [[ ,$ALL_SERVERS, == *,$s,* ]] || die "unknown server $s ($ALL_SERVERS)"; done
for r in ${ROUTES//,/ }; do [[ ,$ALL_ROUTES, == *,$r,* ]] || die "unknown route $r ($ALL_ROUTES)"; done
if ! taskset -c "$SERVER_CPU" true 2>/dev/null || ! taskset -c "$CLIENT_CPU" true 2>/dev/null; then
  die "cannot pin to CPUs $SERVER_CPU and $CLIENT_CPU (set SERVER_CPU and CLIENT_CPU)"
fi
[[ $SERVER_CPU != "$CLIENT_CPU" ]] ||
  log "warning: server and wrk share CPU $SERVER_CPU (figures are less meaningful)"
PIN_SERVER=(taskset -c "$SERVER_CPU")
PIN_CLIENT=(taskset -c "$CLIENT_CPU")
HZ=$(getconf CLK_TCK)

# --- which servers can run ---
LITHE_APP=$BUILD/bench/lithe_app
BEAST_APP=$BUILD/bench/beast_app
RESTINIO_APP=$BUILD/bench/restinio_app
available() {  # SERVER -> status 0 when it can run, else a message on stderr
  case $1 in
    lithe|lithe-co)
      [[ -x $LITHE_APP ]] || { log "$1: skipped: no $LITHE_APP (cmake --build $BUILD --target app_lithe)"; return 1; } ;;
    beast)
      [[ -x $BEAST_APP ]] || { log "beast: skipped: no $BEAST_APP (cmake --build $BUILD --target app_beast)"; return 1; } ;;
    restinio)
      [[ -x $RESTINIO_APP ]] || { log "restinio: skipped: no $RESTINIO_APP (Debian librestinio-dev; cmake --build $BUILD --target app_restinio)"; return 1; } ;;
    starlette)
      "$PYTHON" -c 'import starlette, uvicorn, uvloop, httptools' 2>/dev/null || {
        log "starlette: skipped: $PYTHON lacks starlette, uvicorn, uvloop or httptools (scripts/setup.sh)"
        return 1
      } ;;
  esac
}
RUN_SERVERS=()
for s in ${SERVERS//,/ }; do
  if available "$s"; then RUN_SERVERS+=("$s"); fi
done
(( ${#RUN_SERVERS[@]} > 0 )) || die "no server to measure"
read -r -a RUN_ROUTES <<<"${ROUTES//,/ }"

make_scratch

# The answer every server must give to the fixture, computed here (Python's json, as Starlette).
EXPECTED=$(python3 - "$FIXTURE" <<'PY'
import json, sys
order = json.load(open(sys.argv[1]))
total = 0.0
for item in order["items"]:
    total += item["qty"] * item["price"]
print(json.dumps({"id": order["id"], "items": len(order["items"]), "total": total},
                 separators=(",", ":"), ensure_ascii=False))
PY
)

# --- starting, checking and stopping one server; sets SRV_PID and SRV_PORT ---
SRV_PID=; SRV_PORT=
start_server() {  # SERVER
  local cmd
  SRV_PORT=$(free_port)
  case $1 in
    lithe) cmd=("$LITHE_APP" "$SRV_PORT") ;;
    lithe-co) cmd=("$LITHE_APP" "$SRV_PORT" --co) ;;
    beast) cmd=("$BEAST_APP" "$SRV_PORT") ;;
    restinio) cmd=("$RESTINIO_APP" "$SRV_PORT") ;;
    starlette) cmd=("$PYTHON" -m uvicorn --app-dir "$ROOT/bench/app" starlette_app:app
                    --host "$HOST" --port "$SRV_PORT" --loop uvloop --http httptools
                    --workers 1 --no-access-log --log-level warning) ;;
  esac
  # taskset execs the server: $! is the server's own PID.
  "${PIN_SERVER[@]}" "${cmd[@]}" >"$WORK/$1.log" 2>&1 &
  SRV_PID=$!; PIDS+=("$SRV_PID")
  wait_ready "http://$HOST:$SRV_PORT/plaintext" "$SRV_PID" "$WORK/$1.log"
}
# A process stopped and reaped leaves PIDS: its number may go to another process later.
forget_pid() {
  local pid kept=()
  for pid in "${PIDS[@]}"; do [[ $pid == "$1" ]] || kept+=("$pid"); done
  PIDS=("${kept[@]}")
}
stop_server() { [[ -z $SRV_PID ]] || { stop_pid "$SRV_PID"; forget_pid "$SRV_PID"; }; SRV_PID=; }

check_server() {  # SERVER: the json answer, the plaintext answer and a 400 for invalid JSON
  local base="http://$HOST:$SRV_PORT" out
  out=$(curl -s --max-time 5 -H 'Content-Type: application/json' --data-binary "@$FIXTURE" \
    -w '\n%{http_code} %{content_type}' "$base/api/echo") || die "$1: POST /api/echo failed"
  [[ $out == "$EXPECTED"$'\n'"200 application/json"* ]] ||
    die "$1: POST /api/echo answered $(tr '\n' ' ' <<<"$out"), expected 200 application/json $EXPECTED"
  out=$(curl -s --max-time 5 -w '\n%{http_code} %{content_type}' "$base/plaintext") ||
    die "$1: GET /plaintext failed"
  [[ $out == "Hello, World!"$'\n'"200 text/plain"* ]] ||
    die "$1: GET /plaintext answered $(tr '\n' ' ' <<<"$out")"
  out=$(curl -s -o /dev/null --max-time 5 -w '%{http_code}' -H 'Content-Type: application/json' \
    --data-binary '{"id":"x","items":[' "$base/api/echo") || die "$1: POST /api/echo (invalid) failed"
  [[ $out == 400 ]] || die "$1: POST /api/echo with invalid JSON answered $out, expected 400"
}

client_jiffies() {  # busy and total jiffies of CLIENT_CPU, from /proc/stat
  awk -v cpu="cpu$CLIENT_CPU" '$1 == cpu { print $2 + $3 + $4 + $7 + $8 + $9, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9; exit }' /proc/stat
}

# wrk (or any client) in the background, waited for: Ctrl-C or a TERM runs the trap at once,
# which stops it with the servers. (A foreground `timeout` is in a process group of its own, so
# Ctrl-C would not reach wrk, and bash would let the signal pass once wrk exits normally.)
run_client() {  # SECONDS OUTFILE COMMAND...
  local limit=$1 outfile=$2 pid; shift 2
  timeout --kill-after=5 "$limit" "$@" >"$outfile" 2>&1 &
  pid=$!; PIDS+=("$pid")
  wait "$pid" || true
  forget_pid "$pid"
}

# --- one measurement: sets M_REQ M_RPS M_CPU M_KERNEL (µs/req) M_P99 (µs) M_ERR M_CLIENT (%) ---
WRK_LOG=$WORK/wrk-all.log
: >"$WRK_LOG"
measure() {  # SERVER ROUTE ROUND
  local server=$1 route=$2 args
  if [[ $route == json ]]; then
    args=(-s "$POST_LUA" "http://$HOST:$SRV_PORT/api/echo" -- "$FIXTURE")
  else
    args=("http://$HOST:$SRV_PORT/plaintext")
  fi
  if (( WARMUP > 0 )); then
    run_client $(( WARMUP + 30 )) /dev/null "${PIN_CLIENT[@]}" wrk -t1 -c"$CONNS" \
      -d"${WARMUP}s" "${args[@]}"
  fi
  local before after kernel_before kernel_after client_before client_after
  client_before=$(client_jiffies)
  read -r before kernel_before < <(pid_cpu_ticks "$SRV_PID")
  run_client $(( DURATION + 30 )) "$WORK/wrk.txt" "${PIN_CLIENT[@]}" wrk -t1 -c"$CONNS" \
    --latency -d"${DURATION}s" "${args[@]}"
  kill -0 "$SRV_PID" 2>/dev/null || { cat "$WORK/$server.log" >&2; die "$server died during $route"; }
  read -r after kernel_after < <(pid_cpu_ticks "$SRV_PID")
  client_after=$(client_jiffies)
  M_CLIENT=$(busy_percent "$client_before" "$client_after")
  {
    echo "### round $3, $route, $server: wrk -t1 -c$CONNS --latency -d${DURATION}s ${args[*]}"
    echo "### server CPU ticks $before -> $after (CLK_TCK $HZ); wrk's CPU ${M_CLIENT:-?} %"
    cat "$WORK/wrk.txt"; echo
  } >>"$WRK_LOG"
  read -r M_REQ M_RPS M_P99 M_ERR M_CPU _ < <(wrk_figures "$WORK/wrk.txt" "$before" "$after" "$HZ")
  read -r _ _ _ _ M_KERNEL _ < <(wrk_figures "$WORK/wrk.txt" "$kernel_before" "$kernel_after" "$HZ")
  if (( M_REQ == 0 )); then
    log "round $3, $route, $server: wrk completed no request:"; cat "$WORK/wrk.txt" >&2
  fi
  log "$(printf 'round %s  %-9s %-9s %9s req/s  %8s µs/req (kernel %s)  p99 %7s µs  errors %s  wrk CPU %s %%' \
    "$3" "$route" "$server" "$M_RPS" "$M_CPU" "$M_KERNEL" "$M_P99" "$M_ERR" "${M_CLIENT:-?}")"
}

# --- the run ---
CSV_TMP=$WORK/app.csv
echo "round,route,server,requests,rps,cpu_us_per_req,p99_us,errors,wrk_cpu_pct,kernel_us_per_req" >"$CSV_TMP"
START=$(date +%s)
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
log "servers: ${RUN_SERVERS[*]}; routes: ${RUN_ROUTES[*]}; $ROUNDS round(s) of ${WARMUP}s warm-up + ${DURATION}s per measurement, wrk -t1 -c$CONNS; server on CPU $SERVER_CPU, wrk on CPU $CLIENT_CPU"
log "expected json answer: $EXPECTED"

render_round() {  # ROUND: the round's measurements as a markdown table
  python3 - "$CSV_TMP" "$1" <<'PY'
import csv, sys
rows = [r for r in csv.DictReader(open(sys.argv[1])) if r["round"] == sys.argv[2]]
print(f"### round {sys.argv[2]}\n")
print("| route | server | req/s | CPU µs/req | of it kernel | p99 | errors | wrk CPU |")
print("|---|---|--:|--:|--:|--:|--:|--:|")
def lat(v):
    v = float(v)
    return f"{v/1000:.2f} ms" if v >= 1000 else f"{v:.0f} µs"
for r in rows:
    print(f'| {r["route"]} | {r["server"]} | {float(r["rps"]):,.0f} | {float(r["cpu_us_per_req"]):.2f} '
          f'| {float(r["kernel_us_per_req"]):.2f} | {lat(r["p99_us"])} | {r["errors"]} '
          f'| {r["wrk_cpu_pct"] or "?"} % |')
print()
PY
}

n=${#RUN_SERVERS[@]}
for (( round = 1; round <= ROUNDS; round++ )); do
  order=()
  for (( i = 0; i < n; i++ )); do order+=("${RUN_SERVERS[(i + round - 1) % n]}"); done
  for route in "${RUN_ROUTES[@]}"; do
    for server in "${order[@]}"; do
      start_server "$server"
      check_server "$server"
      measure "$server" "$route" "$round"
      stop_server
      echo "$round,$route,$server,$M_REQ,$M_RPS,$M_CPU,$M_P99,$M_ERR,$M_CLIENT,$M_KERNEL" >>"$CSV_TMP"
    done
  done
  render_round "$round"
done
ELAPSED=$(( $(date +%s) - START ))
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

# --- the summary: best of the rounds per route and server, and the ratios ---
python3 - "$CSV_TMP" <<'PY'
import csv, sys
rows = [r for r in csv.DictReader(open(sys.argv[1])) if int(r["requests"]) > 0]
best = {}  # (route, server) -> best figures over the rounds
for r in rows:
    key = (r["route"], r["server"])
    cpu, rps, p99 = float(r["cpu_us_per_req"]), float(r["rps"]), float(r["p99_us"])
    kernel, err = float(r["kernel_us_per_req"]), int(r["errors"])
    b = best.setdefault(key, {"cpu": cpu, "kernel": kernel, "rps": rps, "p99": p99, "err": 0})
    if cpu < b["cpu"]:
        b["cpu"], b["kernel"] = cpu, kernel
    b["rps"] = max(b["rps"], rps); b["p99"] = min(b["p99"], p99)
    b["err"] += err
rounds = list(dict.fromkeys(r["round"] for r in rows))
routes = list(dict.fromkeys(r["route"] for r in rows))
servers = list(dict.fromkeys(r["server"] for r in rows))
by_round = {(r["round"], r["route"], r["server"]): float(r["cpu_us_per_req"]) for r in rows}
def lat(v):
    return f"{v/1000:.2f} ms" if v >= 1000 else f"{v:.0f} µs"
def fmt(v):
    return f"{v:.2f}" if v is not None else "—"

# The ratios, from one CPU µs/req figure per (route, server): the best's, or a round's.
def ratios(cpu):
    def ratio(a, b):
        return a / b if a is not None and b is not None and b > 0 else None
    out = []
    for server in servers:
        out.append((f"{server}: json / plaintext", ratio(cpu("json", server), cpu("plaintext", server))))
    for route in routes:
        peers = [c for c in (cpu(route, "beast"), cpu(route, "restinio")) if c is not None]
        peer = min(peers) if peers else None
        for server in ("lithe", "lithe-co"):
            if server in servers:
                out.append((f"{route}: {server} / best C++ peer (min of beast, restinio)",
                            ratio(cpu(route, server), peer)))
    if "lithe" in servers and "lithe-co" in servers:
        out.append(("json: lithe-co / lithe", ratio(cpu("json", "lithe-co"), cpu("json", "lithe"))))
    for route in routes:
        for server in ("lithe", "lithe-co"):
            if server in servers:
                out.append((f"{route}: starlette / {server}",
                            ratio(cpu(route, "starlette"), cpu(route, server))))
    return out

print("### summary (best of the rounds: lowest CPU/req and its kernel part, highest req/s, lowest p99; errors summed)\n")
print("| route | server | CPU µs/req | of it kernel | req/s | p99 | errors |")
print("|---|---|--:|--:|--:|--:|--:|")
for route in routes:
    for server in servers:
        b = best.get((route, server))
        if b:
            print(f'| {route} | {server} | {b["cpu"]:.2f} | {b["kernel"]:.2f} | {b["rps"]:,.0f} '
                  f'| {lat(b["p99"])} | {b["err"]} |')
print()
# Each round's ratios beside the best's: a target "in each run" is judged on the columns.
per_round = [ratios(lambda route, server, rd=rd: by_round.get((rd, route, server))) for rd in rounds]
print("| ratio (CPU µs per request) | best | " + " | ".join(f"round {rd}" for rd in rounds) + " |")
print("|---|--:|" + "--:|" * len(rounds))
for i, (name, value) in enumerate(ratios(lambda route, server: (best.get((route, server)) or {}).get("cpu"))):
    mark = "**" if name == "json: starlette / lithe" else ""
    cells = " | ".join(fmt(r[i][1]) for r in per_round)
    print(f"| {mark}{name}{mark} | {mark}{fmt(value)}{mark} | {cells} |")
print()
PY

CPU_MODEL=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
PY_VERSIONS=$("$PYTHON" -c 'import sys, starlette, uvicorn, uvloop, httptools
print(f"Python {sys.version.split()[0]}, Starlette {starlette.__version__}, uvicorn {uvicorn.__version__}, uvloop {uvloop.__version__}, httptools {httptools.__version__}")' 2>/dev/null || echo "no Starlette")
echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC'); run took ${ELAPSED} s"
echo "- command: \`$COMMAND_LINE\` ($ROUNDS round(s), ${WARMUP} s warm-up + ${DURATION} s per measurement, wrk -t1 -c$CONNS --latency, keep-alive)"
echo "- machine: $(nproc) CPUs, ${CPU_MODEL:-unknown CPU}, Linux $(uname -r); load average (1/5/15 min) $LOAD_BEFORE before, $LOAD_AFTER after"
echo "- lithe $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?') ($BUILD/bench/lithe_app), Boost $(awk '/define BOOST_LIB_VERSION/ { gsub(/"/, "", $3); print $3 }' /usr/include/boost/version.hpp 2>/dev/null), RESTinio $(dpkg-query -W -f='${Version}' librestinio-dev 2>/dev/null || echo '?'), $PY_VERSIONS"
echo "- CPU µs/req: the server's utime+stime (/proc/PID/stat) over the measured run / requests wrk completed (of it kernel: stime alone); server on CPU $SERVER_CPU, wrk on CPU $CLIENT_CPU"

if [[ $OUT == - ]]; then
  echo; cat "$CSV_TMP"
else
  mkdir -p "$(dirname "$OUT")"
  cp "$CSV_TMP" "$OUT"
  log "wrote $OUT"
fi
