#!/usr/bin/env bash
# lithe vs nginx, side by side, on loopback (issue 6's benchmark suite).
#
# Builds lithe (Release), starts lithe and nginx with equivalent configs on free 127.0.0.1 ports,
# and measures each row with wrk against both, alternating which server goes first:
#   /plaintext at c=10, 100 and 1000; /plaintext pipelined 16 deep at c=100; /json; a param
#   route (/users/{id}); a 13 B and a 64 KiB file; 10,000 idle keep-alive connections (server
#   RSS per connection); lithe -w 2 vs -w 1 (and nginx worker_processes 2 vs 1). One row beyond
#   the issue's: /plaintext with Connection: close at c=100, a new connection per request, as
#   a proxy without an upstream keepalive pool sends them. Issue 18's rows: a 4 KiB JSON-like
#   body and a 64 KiB JavaScript file, each without and with "Accept-Encoding: gzip, br, zstd"
#   (nginx: gzip on for the body, gzip_static on for the file; lithe: compressed at load and
#   precompressed sidecars; h2o, when installed: compress ON and file.send-compressed ON,
#   measured in the same run after the pair), with the bytes on the wire per response.
# Per row: req/s, server CPU µs per request (utime+stime from /proc/PID/stat over the run,
# divided by the requests wrk completed), p99 latency (wrk --latency) and errors (non-2xx/3xx +
# socket errors), how busy wrk's own CPU was (near 100 %, the client set req/s and latency), and
# the issue's target with a pass/fail mark.
#
# Prints one markdown table and writes OUT_DIR/NAME.csv, OUT_DIR/NAME.md (table, machine,
# command), OUT_DIR/NAME.log (every wrk output) and a chart (OUT_DIR/chart.png; needs gnuplot).
# NAME is "latest" for a default run and "quick" for --quick, so a quick run never overwrites
# the figures bench/RESULTS.md quotes. The configs, content and server start-up are shared with
# profile.sh in bench/load/common.sh.
#
# Usage: bench/load/compare.sh [--quick] [--no-build]
#   --quick      each measurement once, 2 s after a 1 s warm-up (about a minute and a half);
#                default: each measurement twice (lithe, nginx, nginx, lithe), 10 s after a 2 s
#                warm-up, keeping each server's best figures (about 8 minutes)
#   --no-build   measure the lithe binary already in BUILD_DIR (skips cmake and ninja)
# Env: BUILD_DIR (build-bench), OUT_DIR (bench/results), JOBS (ninja -j; default nproc-1),
#      DURATION / WARMUP (wrk durations in whole seconds, e.g. 10), REPEAT (repetitions per
#      row; per server the best req/s, CPU/req and p99 are kept, errors are summed), IDLE_CONNS (10000),
#      ROWS (comma list to run a subset: plain10,plain100,plain1000,pipe16,json,param,
#      file13,file64k,close100,json4k,json4k_enc,js64k,js64k_enc,idle,workers2).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# The command as run, with the settings given in the environment (for the report).
ENV_SET=""
for v in BUILD_DIR OUT_DIR JOBS DURATION WARMUP REPEAT IDLE_CONNS ROWS NGINX; do
  [[ -z ${!v+x} ]] || ENV_SET+="$v=${!v} "
done
COMMAND_LINE="${ENV_SET}bench/load/compare.sh${*:+ $*}"
BUILD_DIR=${BUILD_DIR:-$ROOT/build-bench}
OUT_DIR=${OUT_DIR:-$ROOT/bench/results}
HOST=127.0.0.1  # loopback only
NGINX=${NGINX:-/usr/sbin/nginx}
IDLE_CONNS=${IDLE_CONNS:-10000}
ALL_ROWS=plain10,plain100,plain1000,pipe16,json,param,file13,file64k,close100,json4k,json4k_enc,js64k,js64k_enc,idle,workers2
ENCODINGS="Accept-Encoding: gzip, br, zstd"
ROWS=${ROWS:-$ALL_ROWS}

QUICK=0
BUILD=1
for arg in "$@"; do
  case $arg in
    --quick) QUICK=1 ;;
    --no-build) BUILD=0 ;;
    -h|--help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "compare.sh: unknown argument $arg (try --help)" >&2; exit 1 ;;
  esac
done
if (( QUICK )); then
  DURATION=${DURATION:-2}; WARMUP=${WARMUP:-1}; REPEAT=${REPEAT:-1}; NAME=quick; CHART=chart-quick.png
else
  DURATION=${DURATION:-10}; WARMUP=${WARMUP:-2}; REPEAT=${REPEAT:-2}; NAME=latest; CHART=chart.png
fi

# die, log, the scratch space, pinning, the content and configs, starting and stopping servers.
source "$ROOT/bench/load/common.sh" compare.sh
for tool in cmake ninja wrk curl awk python3 ps; do
  command -v "$tool" >/dev/null || die "needs $tool"
done
[[ -x $NGINX ]] || die "needs nginx at $NGINX (Debian: nginx-light)"
[[ $DURATION =~ ^[0-9]+$ && $WARMUP =~ ^[0-9]+$ ]] || die "DURATION and WARMUP are whole seconds"
[[ $REPEAT =~ ^[1-9]$ ]] || die "REPEAT must be 1..9"
(( DURATION >= 1 && DURATION <= 600 && WARMUP <= 600 )) || die "DURATION must be 1..600 s"
[[ $IDLE_CONNS =~ ^[0-9]+$ ]] || die "IDLE_CONNS must be a number"
want() { [[ ,$ROWS, == *,$1,* ]]; }
for r in ${ROWS//,/ }; do [[ ,$ALL_ROWS, == *,$r,* ]] || die "unknown row $r (rows: $ALL_ROWS)"; done

# --- file descriptors: 10,000 idle connections plus wrk's 1,000 need a high limit ---
NOFILE_WANT=$(( IDLE_CONNS + 2000 > 30000 ? IDLE_CONNS + 2000 : 30000 ))
if (( $(ulimit -Hn) < NOFILE_WANT )); then ulimit -Hn "$NOFILE_WANT" 2>/dev/null || true; fi
hard=$(ulimit -Hn)
if [[ $hard == unlimited ]] || (( hard >= NOFILE_WANT )); then ulimit -n "$NOFILE_WANT"
else ulimit -n "$hard"; fi
NOFILE=$(ulimit -n)
(( NOFILE >= IDLE_CONNS + 200 )) ||
  log "warning: ulimit -n is $NOFILE, below the $IDLE_CONNS idle connections plus margin"

# --- scratch space; every server started is stopped however the script exits ---
make_scratch

# --- build (Release); ninja is a no-op when up to date ---
JOBS=${JOBS:-$(( $(nproc) > 1 ? $(nproc) - 1 : 1 ))}
if (( !BUILD )); then
  log "--no-build: measuring the existing $BUILD_DIR/lithe (built $(date -r "$BUILD_DIR/lithe" '+%F %T' 2>/dev/null || echo '?'))"
elif [[ ! -f $BUILD_DIR/build.ninja ]]; then
  log "configuring $BUILD_DIR (Release)"
  cmake -S "$ROOT" -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release -DLITHE_BUILD_TESTS=OFF \
    >"$WORK/build.log" 2>&1 || { tail -30 "$WORK/build.log" >&2; die "cmake failed"; }
fi
grep -q '^CMAKE_BUILD_TYPE:STRING=Release$' "$BUILD_DIR/CMakeCache.txt" 2>/dev/null ||
  die "$BUILD_DIR is not a Release build (set BUILD_DIR to another directory)"
if (( BUILD )); then
  log "building lithe in $BUILD_DIR (ninja -j$JOBS)"
  ninja -C "$BUILD_DIR" -j"$JOBS" lithe >"$WORK/build.log" 2>&1 ||
    { tail -30 "$WORK/build.log" >&2; die "build failed (--no-build measures the binary already built)"; }
fi
LITHE=$BUILD_DIR/lithe
[[ -x $LITHE ]] || die "no server binary at $LITHE"
# What is measured: the commit, and whether src/ differed from it when the binary was built.
LITHE_REV=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')
if (( !BUILD )); then LITHE_REV+=" (or older: --no-build)"
elif ! git -C "$ROOT" diff --quiet HEAD -- src include 2>/dev/null ||
     [[ -n $(git -C "$ROOT" ls-files --others --exclude-standard -- src include 2>/dev/null) ]]; then
  LITHE_REV+=" + uncommitted changes in src/ or include/ at build time"
fi

# --- CPU pinning: servers on CPU 1, wrk (and the idle-connection helper) on CPU 0 ---
detect_pinning
(( PINNED )) || log "warning: fewer than 2 usable CPUs: server and wrk share (figures are less meaningful)"

write_content
write_lithe_conf

# A server's processes: lithe is one process (workers are threads, which /proc/PID/stat sums);
# nginx is its master plus its worker processes.
server_pids() {  # lithe|nginx|h2o
  if [[ $1 == lithe ]]; then echo "$LITHE_PID"
  elif [[ $1 == h2o ]]; then echo "$H2O_PID"
  else
    local workers
    workers=$(ps -o pid= --ppid "$NGINX_PID" | tr '\n' ' ')
    echo "$NGINX_PID $workers"
  fi
}
cpu_ticks() {  # lithe|nginx -> utime+stime (clock ticks) over the server's processes
  local total=0 pid
  for pid in $(server_pids "$1"); do
    [[ -r /proc/$pid/stat ]] || continue
    total=$(( total + $(pid_ticks "$pid") ))
  done
  echo "$total"
}
rss_kb() {  # lithe|nginx -> VmRSS (kB) summed over the server's processes
  local total=0 pid
  for pid in $(server_pids "$1"); do
    total=$(( total + $(awk '/^VmRSS:/ { print $2 }' "/proc/$pid/status") ))
  done
  echo "$total"
}
# CPU 0's busy and total jiffies from /proc/stat: wrk's CPU when the client is pinned there.
client_jiffies() {
  awk '$1 == "cpu0" { print $2 + $3 + $4 + $7 + $8 + $9, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9; exit }' /proc/stat
}
port_of() {
  case $1 in lithe) echo "$LITHE_PORT" ;; h2o) echo "$H2O_PORT" ;; *) echo "$NGINX_PORT" ;; esac
}
pid_of() {
  case $1 in lithe) echo "$LITHE_PID" ;; h2o) echo "$H2O_PID" ;; *) echo "$NGINX_PID" ;; esac
}

# --- equivalence check: both servers answer every route alike (status, body size, type) ---
check_routes() {
  local server path out port
  printf '%-20s %-48s %s\n' route lithe nginx >&2
  for path in /plaintext /json /users/42 /static/small.txt /static/big.bin; do
    local line=()
    for server in lithe nginx; do
      port=$(port_of "$server")
      out=$(curl -s -o /dev/null --max-time 5 \
        -w '%{http_code} body=%{size_download}B head=%{size_header}B %{content_type}' \
        "http://$HOST:$port$path") || die "$server: GET $path failed"
      [[ $out == 200\ * ]] || die "$server: GET $path: $out"
      line+=("$out")
    done
    printf '%-20s %-48s %s\n' "$path" "${line[0]}" "${line[1]}" >&2
  done
}

# --- one wrk measurement ---
# Sets M_RPS M_CPU (µs/req) M_P99 (µs) M_ERR M_REQ for SERVER at PATH, and M_CLIENT: how busy
# wrk's CPU was (%; empty when wrk is not pinned to a CPU of its own).
LOGFILE=$WORK/wrk-all.log
: >"$LOGFILE"
measure() {  # SERVER PATH CONNS PIPELINE THREADS CLIENT_PIN(0/1) LABEL [HEADER]
  local server=$1 path=$2 conns=$3 pipeline=$4 threads=$5 pin=$6 label=$7 header=${8:-}
  local url
  url="http://$HOST:$(port_of "$server")$path"
  local args=(-t"$threads" -c"$conns" --latency)
  [[ -z $header ]] || args+=(-H "$header")
  local tail_args=("$url")
  if (( pipeline > 1 )); then
    args+=(-s "$ROOT/bench/load/pipeline.lua"); tail_args+=(-- "$pipeline")
  fi
  local client=("${PIN_CLIENT[@]}")
  (( pin )) || client=("${PIN_BOTH[@]}")
  if (( WARMUP > 0 )); then
    timeout --kill-after=5 $(( WARMUP + 30 )) "${client[@]}" wrk "${args[@]}" -d"${WARMUP}s" \
      "${tail_args[@]}" >/dev/null 2>&1 || true
  fi
  local before after client_before client_after
  client_before=$(client_jiffies)
  before=$(cpu_ticks "$server")
  timeout --kill-after=5 $(( DURATION + 30 )) "${client[@]}" wrk "${args[@]}" -d"${DURATION}s" \
    "${tail_args[@]}" >"$WORK/wrk.txt" 2>&1 || true
  after=$(cpu_ticks "$server")
  client_after=$(client_jiffies)
  M_CLIENT=""
  if (( PINNED && pin )); then
    M_CLIENT=$(busy_percent "$client_before" "$client_after")
  fi
  local client_text=shared  # wrk shares the server's CPUs
  [[ -z $M_CLIENT ]] || client_text=$M_CLIENT%
  kill -0 "$(pid_of "$server")" 2>/dev/null || die "$server died during $label"
  {
    echo "### $label — $server: wrk ${args[*]} -d${DURATION}s ${tail_args[*]}"
    echo "### server CPU ticks: $before -> $after (CLK_TCK $(getconf CLK_TCK)); wrk's CPU: $client_text"
    cat "$WORK/wrk.txt"; echo
  } >>"$LOGFILE"
  read -r M_REQ M_RPS M_P99 M_ERR M_CPU _ < <(
    wrk_figures "$WORK/wrk.txt" "$before" "$after" "$(getconf CLK_TCK)")
  if (( M_REQ == 0 )); then
    log "$label/$server: wrk completed no request:"; cat "$WORK/wrk.txt" >&2
  fi
  log "$(printf '%-26s %-5s %10s req/s  %7s µs/req  p99 %7s µs  errors %s  wrk CPU %s' \
    "$label" "$server" "$M_RPS" "$M_CPU" "$M_P99" "$M_ERR" "$client_text")"
}

declare -A R=()   # R[row:server:metric]
ROW_ORDER=()
declare -A LABEL=()
ROW_INDEX=0
# The json and param rows are judged against lithe's own /plaintext. The background load drifts
# over the minutes between the plain100 row and theirs, so each of their lithe measurements has a
# /plaintext measurement beside it (before it, then after it in the next repetition), and the
# row's figure is the mean of those pairs' CPU ratios.
BASELINE_ROWS=",json,param,"
# Sets BASE_CPU: lithe's /plaintext CPU per request, leaving the M_* of the row's measurement as
# they are (the locals below are the ones measure sets).
measure_baseline() {  # CONNS PIN LABEL
  local M_REQ M_RPS M_P99 M_ERR M_CPU M_CLIENT
  measure lithe /plaintext "$1" 1 1 "$2" "$3: /plaintext beside it"
  BASE_CPU=$M_CPU
}
run_row() {  # ID LABEL PATH CONNS PIPELINE THREADS PIN [HEADER]
  local id=$1 label=$2 server order rep
  want "$id" || return 0
  ROW_ORDER+=("$id"); LABEL[$id]=$label
  for (( rep = 1; rep <= REPEAT; rep++ )); do
    # Alternate which server goes first (lithe-nginx, nginx-lithe, ...), so slow drift in the
    # background load spreads over both.
    if (( ROW_INDEX++ % 2 == 0 )); then order="lithe nginx"; else order="nginx lithe"; fi
    for server in $order; do
      if [[ $server == lithe && $BASELINE_ROWS == *,$id,* ]]; then
        (( rep % 2 == 0 )) || measure_baseline "$4" "$7" "$label"  # before the row's, then after
        measure lithe "$3" "$4" "$5" "$6" "$7" "$label" "${8:-}"
        (( rep % 2 == 1 )) || measure_baseline "$4" "$7" "$label"
        R[$id:base_sum]=$(awk -v s="${R[$id:base_sum]:-0}" -v a="$M_CPU" -v b="$BASE_CPU" \
          'BEGIN { printf "%.4f", s + (b > 0 ? a / b : 0) }')
        R[$id:base_n]=$(( ${R[$id:base_n]:-0} + 1 ))
      else
        measure "$server" "$3" "$4" "$5" "$6" "$7" "$label" "${8:-}"
      fi
      # Best of the repetitions, metric by metric (background load only ever makes a figure
      # worse): the highest req/s, the lowest CPU per request, the lowest p99; errors add up.
      if [[ -z ${R[$id:$server:rps]:-} ]]; then
        R[$id:$server:rps]=$M_RPS; R[$id:$server:cpu]=$M_CPU
        R[$id:$server:p99]=$M_P99; R[$id:$server:err]=$M_ERR; R[$id:$server:client]=$M_CLIENT
      else
        local key=$id:$server
        # wrk's CPU goes with the req/s it is shown beside.
        (( M_RPS <= ${R[$key:rps]} )) || { R[$key:rps]=$M_RPS; R[$key:client]=$M_CLIENT; }
        if awk -v a="$M_CPU" -v b="${R[$key:cpu]}" 'BEGIN { exit !(a < b) }'; then
          R[$key:cpu]=$M_CPU
        fi
        # p99 0 = wrk recorded no latency sample (it happens when pipelining): not a figure.
        if (( M_P99 > 0 && (${R[$key:p99]} == 0 || M_P99 < ${R[$key:p99]}) )); then
          R[$key:p99]=$M_P99
        fi
        R[$key:err]=$(( ${R[$key:err]} + M_ERR ))
      fi
    done
  done
}

# Bytes on the wire for one response (head and body) and its Content-Encoding, per server.
wire_bytes() {  # ID PATH [HEADER]
  local id=$1 server out head body coding extra=()
  want "$id" || return 0
  [[ -z ${3:-} ]] || extra=(-H "$3")
  local servers=(lithe nginx)
  [[ -z $H2O_PID ]] || servers+=(h2o)
  for server in "${servers[@]}"; do
    out=$(curl -s -o /dev/null --max-time 5 "${extra[@]}" \
      -w '%{size_header} %{size_download} %header{content-encoding}' \
      "http://$HOST:$(port_of "$server")$2") || die "$server: GET $2 failed"
    read -r head body coding <<<"$out"
    R[$id:$server:wire]=$(( head + body ))
    R[$id:$server:coding]=${coding:-identity}
  done
}

idle_row() {
  local id=idle server
  want "$id" || return 0
  ROW_ORDER+=("$id"); LABEL[$id]="$IDLE_CONNS idle keep-alive conns"
  for server in lithe nginx; do
    local port before after out closed
    port=$(port_of "$server")
    sleep 0.5
    before=$(rss_kb "$server")
    # The helper holds the connections until its stdin closes (fd 3 here) or 120 s pass.
    exec 3> >(exec "${PIN_CLIENT[@]}" python3 "$ROOT/bench/load/idle_conns.py" "$HOST" "$port" \
      "$IDLE_CONNS" --hold 120 --timeout 90 >"$WORK/idle.out" 2>&1)
    local helper=$!
    PIDS+=("$helper")
    out=
    for _ in $(seq 1000); do  # at most ~100 s
      out=$(head -1 "$WORK/idle.out" 2>/dev/null || true)
      [[ -z $out ]] || break
      sleep 0.1
    done
    [[ $out == "ready $IDLE_CONNS" ]] || { exec 3>&-; die "$server idle helper: ${out:-no answer}"; }
    # Let the server settle after the last response: lithe trims its spare buffers after a
    # quiet second, so idle means "idle for 2.5 s" here (the same wait for both servers).
    sleep 2.5
    after=$(rss_kb "$server")
    exec 3>&-   # EOF on the helper's stdin: it closes every connection and exits
    for _ in $(seq 100); do kill -0 "$helper" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$helper" 2>/dev/null && kill -TERM "$helper" 2>/dev/null || true
    closed=$(awk '/^closed-by-server/ { print $2 }' "$WORK/idle.out")
    R[$id:$server:rss_before]=$before; R[$id:$server:rss_after]=$after
    R[$id:$server:bpc]=$(( (after - before) * 1024 / IDLE_CONNS ))
    R[$id:$server:closed]=${closed:-0}
    {
      echo "### idle — $server: $IDLE_CONNS connections, VmRSS $before kB -> $after kB"
      cat "$WORK/idle.out"; echo
    } >>"$LOGFILE"
    log "$(printf '%-26s %-5s VmRSS %s -> %s kB = %s B/conn (closed by server while idle: %s)' \
      "idle" "$server" "$before" "$after" "${R[$id:$server:bpc]}" "${closed:-0}")"
  done
}

# --- the run ---
START=$(date +%s)
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
log "durations: ${WARMUP}s warm-up + ${DURATION}s per measurement, $REPEAT repetition(s); ulimit -n $NOFILE"
start_lithe 1 "${PIN_SERVER[@]}"
start_nginx 1 "${PIN_SERVER[@]}"
log "lithe pid $LITHE_PID on :$LITHE_PORT, nginx pid $NGINX_PID on :$NGINX_PORT$( ((PINNED)) && echo ', servers on CPU 1, clients on CPU 0')"
check_routes

# Idle memory first, on freshly started servers, so earlier loads' pools do not hide it.
idle_row
run_row plain10   "/plaintext c=10"          /plaintext        10   1 1 1
run_row plain100  "/plaintext c=100"         /plaintext        100  1 1 1
run_row plain1000 "/plaintext c=1000"        /plaintext        1000 1 1 1
run_row pipe16    "/plaintext pipelined 16"  /plaintext        100  16 1 1
run_row json      "/json c=100"              /json             100  1 1 1
run_row param     "/users/{id} c=100"        /users/42         100  1 1 1
run_row file13    "13 B file c=100"          /static/small.txt 100  1 1 1
run_row file64k   "64 KiB file c=100"        /static/big.bin   100  1 1 1
run_row close100  "/plaintext c=100, Connection: close" /plaintext 100 1 1 1 "Connection: close"
run_row json4k     "4 KiB JSON c=100"               /data.json     100 1 1 1
run_row json4k_enc "4 KiB JSON c=100, compressed"   /data.json     100 1 1 1 "$ENCODINGS"
run_row js64k      "64 KiB JS file c=100"           /static/app.js 100 1 1 1
run_row js64k_enc  "64 KiB JS file c=100, compressed" /static/app.js 100 1 1 1 "$ENCODINGS"
# h2o, on the same CPU, for the same rows: the best CPU per request of REPEAT measurements.
if command -v "${H2O:-h2o}" >/dev/null && { want json4k || want json4k_enc || want js64k || want js64k_enc; }; then
  start_h2o "${PIN_SERVER[@]}"
  for row in "json4k|/data.json|" "json4k_enc|/data.json|$ENCODINGS" "js64k|/static/app.js|" \
             "js64k_enc|/static/app.js|$ENCODINGS"; do
    IFS='|' read -r id path header <<<"$row"
    want "$id" || continue
    for (( rep = 1; rep <= REPEAT; rep++ )); do
      measure h2o "$path" 100 1 1 1 "${LABEL[$id]}" "$header"
      if [[ -z ${R[$id:h2o:cpu]:-} ]] || awk -v a="$M_CPU" -v b="${R[$id:h2o:cpu]}" 'BEGIN { exit !(a < b) }'; then
        R[$id:h2o:cpu]=$M_CPU
      fi
    done
  done
else
  log "no h2o (Debian: h2o): the compression rows compare lithe with nginx only"
fi
wire_bytes json4k /data.json; wire_bytes json4k_enc /data.json "$ENCODINGS"
wire_bytes js64k /static/app.js; wire_bytes js64k_enc /static/app.js "$ENCODINGS"
stop_h2o
H2O_VERSION=$(command -v "${H2O:-h2o}" >/dev/null && "${H2O:-h2o}" --version 2>/dev/null | head -1 || true)

if want workers2; then
  # Two workers, the server allowed on both CPUs; wrk (two threads) shares them.
  stop_lithe; stop_nginx
  start_lithe 2 "${PIN_BOTH[@]}"
  start_nginx 2 "${PIN_BOTH[@]}"
  run_row workers2 "/plaintext c=100, 2 workers" /plaintext 100 1 2 0
fi
stop_lithe; stop_nginx
ELAPSED=$(( $(date +%s) - START ))
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

# --- the table, the CSV and the chart ---
mkdir -p "$OUT_DIR"
CSV=$OUT_DIR/$NAME.csv
MD=$OUT_DIR/$NAME.md
{
  echo "id,row,lithe_rps,nginx_rps,rps_ratio,lithe_cpu_us_per_req,nginx_cpu_us_per_req,cpu_ratio,lithe_p99_us,nginx_p99_us,lithe_errors,nginx_errors,lithe_rss_b_per_conn,nginx_rss_b_per_conn,target,measured,pass,lithe_client_cpu_pct,nginx_client_cpu_pct,lithe_cpu_vs_plaintext_beside"
  for id in "${ROW_ORDER[@]}"; do
    printf '%s|%s' "$id" "${LABEL[$id]}"
    for key in lithe:rps nginx:rps lithe:cpu nginx:cpu lithe:p99 nginx:p99 lithe:err nginx:err \
               lithe:bpc nginx:bpc lithe:client nginx:client lithe:wire nginx:wire \
               lithe:coding nginx:coding h2o:cpu h2o:wire h2o:coding; do
      printf '|%s' "${R[$id:$key]:-}"
    done
    # An encoded row is judged against lithe's own row without Accept-Encoding.
    printf '|%s' "${R[${id%_enc}:lithe:cpu]:-}"
    if [[ -n ${R[$id:base_n]:-} ]]; then
      printf '|%s' "$(awk -v s="${R[$id:base_sum]}" -v n="${R[$id:base_n]}" 'BEGIN { printf "%.3f", s / n }')"
    else
      printf '|'
    fi
    echo
  done
} | awk -F'|' -v plain100_rps="${R[plain100:lithe:rps]:-}" -v plain100_cpu="${R[plain100:lithe:cpu]:-}" \
      -v n_plain100_rps="${R[plain100:nginx:rps]:-}" -v idle_n="$IDLE_CONNS" '
  function ratio(a, b) { return (a == "" || b == "" || b + 0 == 0) ? "" : sprintf("%.2f", a / b) }
  function q(s) { return "\"" s "\"" }
  function ms(v) { return sprintf("%.2f ms", v / 1000) }
  NR == 1 { print; next }
  {
    id = $1; row = $2; lr = $3; nr = $4; lc = $5; nc = $6; lp = $7; np = $8; le = $9; ne = $10
    lb = $11; nb = $12; lw = $13; nw = $14; lwire = $15; nwire = $16; lcod = $17; ncod = $18
    hc = $19; hwire = $20; hcod = $21; plain_cpu = $22; beside = $23
    wire = (lwire == "") ? "" : sprintf("; on the wire lithe %d B (%s), nginx %d B (%s)", lwire, lcod, nwire, ncod)
    if (hwire != "") wire = wire sprintf(", h2o %d B (%s)", hwire, hcod)
    if (hc != "") wire = wire sprintf("; h2o %.2f µs/req (lithe %.2fx)", hc, lc / hc)
    rr = ratio(lr, nr); cr = ratio(lc, nc)
    target = ""; measured = ""; pass = ""
    if (id ~ /^plain(10|100|1000)$/) {
      target = "CPU/req <= 0.9x nginx; p99 <= nginx"
      measured = sprintf("CPU %.2fx nginx; p99 %s vs %s", cr, ms(lp), ms(np))
      pass = (cr != "" && cr + 0 <= 0.9 && lp + 0 > 0 && np + 0 > 0 && lp + 0 <= np + 0) ? "pass" : "fail"
    } else if (id == "pipe16") {
      target = ">= 1000000 req/s"
      # When wrk is the limit, the server CPU per request says how far the server would go.
      measured = sprintf("%d req/s; at %.2f µs/req lithe has CPU for %.2fM req/s", lr, lc, lc > 0 ? 1 / lc : 0)
      if (lw != "") measured = measured sprintf("; wrk CPU %d%%", lw)
      pass = (lr + 0 >= 1000000) ? "pass" : "fail"
    } else if (id == "json" || id == "param") {
      # Judged on CPU per request, which the background load on a shared machine disturbs
      # less than req/s (req/s also depends on the CPU share the server got); both are shown.
      target = "within 10% of /plaintext c=100 (CPU/req)"
      measured = sprintf("CPU/req %.2fx /plaintext measured beside it", beside)
      if (plain100_cpu != "")
        measured = measured sprintf(" (%.2fx the plain100 row; req/s %.2fx)", lc / plain100_cpu, lr / plain100_rps)
      pass = (beside != "" && beside + 0 <= 1.1) ? "pass" : "fail"
    } else if (id ~ /^file/) {
      target = "req/s >= nginx"
      measured = sprintf("req/s %.2fx, CPU/req %.2fx nginx", rr, cr)
      pass = (rr + 0 >= 1) ? "pass" : "fail"
    } else if (id == "json4k" || id == "js64k") {
      target = "none: the identity row the compressed one is judged against"
      measured = sprintf("req/s %.2fx, CPU/req %.2fx nginx", rr, cr) wire
      pass = "n/a"
    } else if (id ~ /_enc$/) {
      target = "lithe CPU/req within 5% of its row without Accept-Encoding"
      measured = sprintf("CPU/req %.2fx lithe uncompressed; %.2fx nginx", plain_cpu > 0 ? lc / plain_cpu : 0, cr) wire
      pass = (plain_cpu > 0 && lc / plain_cpu <= 1.05) ? "pass" : "fail"
    } else if (id == "close100") {
      target = "none (beyond the issue): a new connection per request"
      measured = sprintf("CPU %.2fx nginx; p99 %s vs %s", cr, ms(lp), ms(np))
      pass = "n/a"
    } else if (id == "idle") {
      target = "<= 512 B RSS per idle connection"
      measured = sprintf("%d B/conn (nginx %d)", lb, nb)
      pass = (lb + 0 <= 512) ? "pass" : "fail"
      rr = ""; cr = ratio(lb, nb)
    } else if (id == "workers2") {
      target = "2 workers >= 1.8x 1 worker"
      if (plain100_rps == "") { measured = "(plain100 not run)"; pass = "n/a" }
      else {
        measured = sprintf("%.2fx (nginx %.2fx)", lr / plain100_rps, nr / n_plain100_rps)
        pass = (lr / plain100_rps >= 1.8) ? "pass" : "fail"
      }
    }
    if (id == "idle") cr = ""
    print id "," q(row) "," lr "," nr "," rr "," lc "," nc "," cr "," lp "," np "," le "," ne "," \
          lb "," nb "," q(target) "," q(measured) "," pass "," lw "," nw "," beside
  }' >"$CSV"

# Markdown from the CSV.
TABLE=$(python3 - "$CSV" <<'PY'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
def num(v, fmt="{:,.0f}"):
    return fmt.format(float(v)) if v not in ("", None) else "—"
def lat(v):
    if v in ("", None): return "—"
    v = float(v)
    if v == 0: return "n/a"  # wrk recorded no latency sample
    return f"{v/1000:.2f} ms" if v >= 1000 else f"{v:.0f} µs"
mark = {"pass": "✅ pass", "fail": "❌ fail", "n/a": "n/a", "": ""}
def pct(v):
    return f"{v} %" if v not in ("", None) else "—"
out = ["| row | lithe req/s | nginx req/s | ratio | lithe CPU µs/req | nginx CPU µs/req | ratio "
       "| p99 lithe / nginx | errors lithe / nginx | wrk CPU lithe / nginx | target | measured | |",
       "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|---|---|"]
for r in rows:
    idle = r["id"] == "idle"
    out.append("| " + " | ".join([
        r["row"].replace("|", "\\|"),
        f'{num(r["lithe_rss_b_per_conn"])} B/conn' if idle else num(r["lithe_rps"]),
        f'{num(r["nginx_rss_b_per_conn"])} B/conn' if idle else num(r["nginx_rps"]),
        (f'{float(r["lithe_rss_b_per_conn"]) / float(r["nginx_rss_b_per_conn"]):.2f}'
         if idle and r["nginx_rss_b_per_conn"] not in ("", "0") else num(r["rps_ratio"], "{:.2f}")),
        num(r["lithe_cpu_us_per_req"], "{:.2f}"), num(r["nginx_cpu_us_per_req"], "{:.2f}"),
        num(r["cpu_ratio"], "{:.2f}"),
        "—" if idle else f'{lat(r["lithe_p99_us"])} / {lat(r["nginx_p99_us"])}',
        "—" if idle else f'{r["lithe_errors"] or "—"} / {r["nginx_errors"] or "—"}',
        "—" if idle else f'{pct(r["lithe_client_cpu_pct"])} / {pct(r["nginx_client_cpu_pct"])}',
        r["target"].replace("<=", "≤").replace(">=", "≥"), r["measured"], mark[r["pass"]],
    ]) + " |")
out.append("| 0 allocations per request | | | | | | | | | | 0 | tested by tests/integration/allocation_test.cpp, not here | |")
print("\n".join(out))
PY
)

CPU_MODEL=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
{
  echo "$TABLE"
  echo
  echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC'); run took ${ELAPSED} s"
  echo "- command: \`$COMMAND_LINE\` (${WARMUP} s warm-up + ${DURATION} s per measurement, $REPEAT repetition(s) per row: each server's best req/s, CPU/req and p99, errors summed; wrk -t1 unless noted)"
  echo "- machine: $(nproc) CPUs, ${CPU_MODEL:-unknown CPU}, Linux $(uname -r); load average (1/5/15 min) $LOAD_BEFORE before the run, $LOAD_AFTER after (this script adds about 2)"
  echo "- lithe $LITHE_REV, $("$NGINX" -v 2>&1 | sed 's/^nginx version: //')${H2O_VERSION:+, $H2O_VERSION (compression rows)}"
  if (( PINNED )); then
    echo "- pinning: server on CPU 1, wrk on CPU 0; the 2-worker row gives both servers and wrk (-t2) CPUs 0-1"
  else
    echo "- pinning: none (fewer than 2 CPUs)"
  fi
  echo "- CPU µs/req: server utime+stime from /proc/PID/stat (nginx: master + workers) over the measured run / requests completed"
  echo "- wrk CPU: how busy wrk's CPU (CPU 0) was over the measured run, from /proc/stat (in the best req/s repetition). Near 100 % the client, not the server, set req/s and latency; empty where wrk shares the server's CPUs"
  echo "- pipelined p99 is per batch of 16 (wrk times one response per write)"
} >"$MD"
cp "$LOGFILE" "$OUT_DIR/$NAME.log"

echo
echo "$TABLE"
echo
sed -n '/^- date/,$p' "$MD"

# Chart: CPU µs per request (top) and req/s (bottom), lithe vs nginx, per row.
if command -v gnuplot >/dev/null; then
  python3 - "$CSV" >"$WORK/chart.dat" <<'PY'
import csv, sys
for r in csv.DictReader(open(sys.argv[1])):
    if r["id"] == "idle" or not r["lithe_cpu_us_per_req"] or not r["nginx_cpu_us_per_req"]:
        continue
    print('"%s" %s %s %.1f %.1f' % (r["row"].replace('"', "'"), r["lithe_cpu_us_per_req"],
          r["nginx_cpu_us_per_req"], float(r["lithe_rps"]) / 1000, float(r["nginx_rps"]) / 1000))
PY
  gnuplot <<EOF || log "warning: gnuplot failed; no chart"
set terminal pngcairo size 1200,900 font "sans,10" noenhanced
set output "$OUT_DIR/$CHART"
set multiplot layout 2,1 title "lithe vs nginx on loopback — $(date -u '+%Y-%m-%d'), $(nproc) CPUs, ${DURATION} s per run"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set grid ytics
set key top left
set xtics rotate by -20 scale 0 font ",9"
set yrange [0:*]
set title "server CPU per request (µs, lower is better)"
set ylabel "µs / request"
plot "$WORK/chart.dat" using 2:xtic(1) title "lithe" lc rgb "#1f77b4", \
     '' using 3 title "nginx" lc rgb "#2ca02c", \
     '' using (\$0 - 0.15):2:(sprintf("%.1f", \$2)) with labels offset 0,0.6 font ",8" notitle, \
     '' using (\$0 + 0.15):3:(sprintf("%.1f", \$3)) with labels offset 0,0.6 font ",8" notitle
set title "throughput (thousand requests/s, higher is better; log scale)"
set ylabel "k req/s"
set logscale y
set yrange [1:*]
plot "$WORK/chart.dat" using 4:xtic(1) title "lithe" lc rgb "#1f77b4", \
     '' using 5 title "nginx" lc rgb "#2ca02c", \
     '' using (\$0 - 0.15):4:(sprintf("%.0f", \$4)) with labels offset 0,0.6 font ",8" notitle, \
     '' using (\$0 + 0.15):5:(sprintf("%.0f", \$5)) with labels offset 0,0.6 font ",8" notitle
unset multiplot
EOF
  [[ -f $OUT_DIR/$CHART ]] && log "chart: $OUT_DIR/$CHART"
else
  log "no gnuplot: no chart (Debian: apt-get install gnuplot-nox)"
fi
log "wrote $CSV, $MD, $OUT_DIR/$NAME.log"
