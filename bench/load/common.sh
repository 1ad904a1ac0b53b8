# shellcheck shell=bash
# Shared by the scripts of bench/load/: scratch space and cleanup, CPU pinning, the content and
# the equivalent lithe, nginx and h2o configs, starting and stopping them, and reading wrk's
# figures and a process's CPU time.
#
# Usage: source "$ROOT/bench/load/common.sh" NAME   (NAME, e.g. compare.sh, prefixes messages)
# The caller sets HOST (the address both servers listen on), LITHE and NGINX (binaries) before
# starting a server. Defines die and log; make_scratch sets WORK and PIDS and the traps.

[[ $# -ge 1 ]] || { echo "common.sh: source it with the script's name" >&2; exit 1; }
ME=$1
die() { echo "$ME: $*" >&2; exit 1; }
log() { echo "$ME: $*" >&2; }

LITHE_PID=; LITHE_PORT=; NGINX_PID=; NGINX_PORT=

# --- scratch space; every process in PIDS is stopped however the script exits ---
make_scratch() {
  WORK=$(mktemp -d)
  chmod 755 "$WORK"  # nginx workers may run as another user when started as root
  PIDS=()
  trap cleanup EXIT
  trap 'exit 130' INT TERM
}
stop_pid() {
  local pid=$1
  kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}
cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do stop_pid "$pid"; done
  rm -rf "$WORK"
}

# --- CPU pinning: servers on CPU 1, clients on CPU 0, when both CPUs are usable ---
# Sets PIN_SERVER, PIN_CLIENT, PIN_BOTH (prefixes for a command; empty when not pinned), PINNED.
# shellcheck disable=SC2034  # read by the caller
detect_pinning() {
  PIN_SERVER=(); PIN_CLIENT=(); PIN_BOTH=(); PINNED=0
  if (( $(nproc) >= 2 )) && command -v taskset >/dev/null && taskset -c 0 true 2>/dev/null &&
     taskset -c 1 true 2>/dev/null; then
    PIN_SERVER=(taskset -c 1); PIN_CLIENT=(taskset -c 0); PIN_BOTH=(taskset -c "0,1"); PINNED=1
  fi
}

# --- content: the same bytes for both servers ---
write_content() {
  mkdir -p "$WORK/www/static"
  printf 'Hello, World!' >"$WORK/www/static/small.txt"                 # 13 B
  head -c 65536 /dev/urandom >"$WORK/www/static/big.bin"               # 64 KiB
  [[ $(stat -c %s "$WORK/www/static/small.txt") == 13 ]] || die "small file is not 13 B"
  # Compressible content (issue 18): a 4 KiB JSON-like body and a 64 KiB JavaScript file with
  # its precompressed sidecars (gzip -9, brotli -q 11, zstd -19), made by the Debian tools.
  python3 - "$WORK/www" <<'PY'
import json, random, sys
rng = random.Random(18)
items, text = [], ""
while len(text) < 4096:
    items.append({"id": rng.randrange(100000), "name": "item-%d" % rng.randrange(1000),
                  "price": round(rng.uniform(1, 500), 2), "tags": ["red", "blue"][: rng.randrange(3)]})
    text = json.dumps({"items": items}, separators=(",", ":"))
open(sys.argv[1] + "/data.json", "w").write(text)  # just over 4 KiB
js, n = [], 0
while sum(map(len, js)) < 65536:
    js.append("function handler%d(req, res) { return res.send({ id: %d, ok: true, items: [%d, %d] }); }\n"
              % (n, rng.randrange(10**6), rng.randrange(100), rng.randrange(100)))
    n += 1
open(sys.argv[1] + "/static/app.js", "w").write("".join(js)[:65536])
PY
  (cd "$WORK/www/static" && gzip -k -9 app.js && brotli -k -q 11 app.js && zstd -q -k -19 app.js) ||
    die "cannot make app.js's sidecars (needs gzip, brotli and zstd)"
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# lithe: port 0, the bound port is read back from the log line "listening on HOST:PORT".
write_lithe_conf() {
  cat >"$WORK/lithe.toml" <<EOF
[server]
listen = ["$HOST:0"]
workers = 1
backlog = 1024
max_connections = 20000
server_header = "lithe"

[timeouts]
keepalive = "120s"

[log]
level = "info"
access = "off"

[[route]]
path = "/plaintext"
handler = "static"
body = "Hello, World!"

[[route]]
path = "/json"
handler = "json"
value = { message = "Hello, World!" }

[[route]]
path = "/users/{id}"
handler = "static"
body = "Hello, World!"

[[route]]
path = "/static/*path"
handler = "files"
root = "www/static"

[[route]]
path = "/data.json"
handler = "static"
content_type = "application/json"
body_file = "www/data.json"
EOF
}

# nginx: the same routes; one worker unless asked; runs as the current user (as root, the
# "user" directive keeps workers as root, so they can read the scratch files). Its file and
# connection limits follow ulimit -n. A script may set NGINX_BODY_TEMP (where request bodies
# are written) and NGINX_LOCATIONS (more location blocks, appended to the server's).
write_nginx_conf() {  # PORT WORKERS
  local user_line=""
  [[ $(id -u) != 0 ]] || user_line="user $(id -un) $(id -gn);"
  local nofile; nofile=$(ulimit -n)
  local wc=$(( nofile - 100 > 20000 ? 20000 : nofile - 100 ))
  cat >"$WORK/nginx.conf" <<EOF
$user_line
worker_processes $2;
worker_rlimit_nofile $nofile;
pid $WORK/nginx.pid;
error_log $WORK/nginx-error.log warn;
events {
  worker_connections $wc;
}
http {
  access_log off;
  server_tokens off;
  sendfile on;
  keepalive_requests 1000000000;
  keepalive_timeout 120s;
  client_body_temp_path ${NGINX_BODY_TEMP:-$WORK/nginx-body};
  proxy_temp_path $WORK/nginx-proxy;
  fastcgi_temp_path $WORK/nginx-fastcgi;
  uwsgi_temp_path $WORK/nginx-uwsgi;
  scgi_temp_path $WORK/nginx-scgi;
  types {
    text/plain txt;
    application/octet-stream bin;
    application/javascript js;
    application/json json;
  }
  default_type application/octet-stream;
  charset_types text/plain;
  server {
    listen $HOST:$1 backlog=1024;
    location = /plaintext {
      default_type text/plain;
      charset utf-8;
      return 200 "Hello, World!";
    }
    location = /json {
      default_type application/json;
      return 200 '{"message":"Hello, World!"}';
    }
    location ~ ^/users/[^/]+\$ {
      default_type text/plain;
      charset utf-8;
      return 200 "Hello, World!";
    }
    location /static/ {
      root $WORK/www;
      charset utf-8;
      gzip_static on;
      gzip_vary on;
    }
    location = /data.json {
      root $WORK/www;
      gzip on;
      gzip_types application/json;
      gzip_min_length 256;
      gzip_vary on;
    }
${NGINX_LOCATIONS:-}
  }
}
EOF
}

# h2o (Debian's h2o, optional): the compressible content only, compressing on the fly
# (gzip and brotli; it has no zstd) and serving .br/.gz sidecars, for compare.sh's issue 18 rows.
write_h2o_conf() {  # PORT
  cat >"$WORK/h2o.conf" <<EOF
listen:
  host: $HOST
  port: $1
num-threads: 1
$([[ $(id -u) != 0 ]] || echo "user: $(id -un)")
pid-file: $WORK/h2o.pid
error-log: $WORK/h2o-error.log
access-log: /dev/null
hosts:
  "default":
    paths:
      "/data.json":
        file.file: $WORK/www/data.json
        compress: ON
      "/static":
        file.dir: $WORK/www/static
        file.send-compressed: ON
EOF
}

# --- starting and stopping; each sets or clears its server's PID and PORT ---
start_lithe() {  # WORKERS PIN...
  local workers=$1; shift
  "$@" "$LITHE" -c "$WORK/lithe.toml" -w "$workers" >"$WORK/lithe.log" 2>&1 &
  LITHE_PID=$!; PIDS+=("$LITHE_PID")
  LITHE_PORT=
  for _ in $(seq 100); do  # at most ~10 s
    kill -0 "$LITHE_PID" 2>/dev/null || { cat "$WORK/lithe.log" >&2; die "lithe exited"; }
    LITHE_PORT=$(grep -o "listening on $HOST:[0-9]*" "$WORK/lithe.log" | head -1 | sed 's/.*://') || true
    [[ -z $LITHE_PORT ]] || break
    sleep 0.1
  done
  [[ -n $LITHE_PORT ]] || { cat "$WORK/lithe.log" >&2; die "lithe did not report its port"; }
  wait_ready "http://$HOST:$LITHE_PORT/plaintext" "$LITHE_PID" "$WORK/lithe.log"
}

start_nginx() {  # WORKERS PIN...
  local workers=$1; shift
  local attempt
  for attempt in 1 2 3; do  # another process may take the free port before nginx binds it
    NGINX_PORT=$(free_port)
    write_nginx_conf "$NGINX_PORT" "$workers"
    : >"$WORK/nginx-error.log"
    "$@" "$NGINX" -p "$WORK" -c "$WORK/nginx.conf" -g 'daemon off;' >"$WORK/nginx.out" 2>&1 &
    NGINX_PID=$!; PIDS+=("$NGINX_PID")
    sleep 0.2
    if kill -0 "$NGINX_PID" 2>/dev/null; then
      wait_ready "http://$HOST:$NGINX_PORT/plaintext" "$NGINX_PID" "$WORK/nginx-error.log"
      return 0
    fi
    log "nginx did not start (attempt $attempt): $(tail -2 "$WORK/nginx-error.log" "$WORK/nginx.out" | tr '\n' ' ')"
  done
  die "nginx did not start"
}

wait_ready() {  # URL PID LOGFILE
  for _ in $(seq 100); do
    kill -0 "$2" 2>/dev/null || { cat "$3" >&2; die "server $2 exited"; }
    if curl -s -o /dev/null --max-time 1 "$1"; then return 0; fi
    sleep 0.1
  done
  cat "$3" >&2; die "server at $1 did not answer within 10 s"
}

H2O_PID=; H2O_PORT=
start_h2o() {  # PIN...
  H2O_PORT=$(free_port)
  write_h2o_conf "$H2O_PORT"
  "$@" "${H2O:-h2o}" -c "$WORK/h2o.conf" >"$WORK/h2o.out" 2>&1 &
  H2O_PID=$!; PIDS+=("$H2O_PID")
  wait_ready "http://$HOST:$H2O_PORT/data.json" "$H2O_PID" "$WORK/h2o.out"
}
stop_h2o() { [[ -z $H2O_PID ]] || stop_pid "$H2O_PID"; H2O_PID=; }

stop_lithe() { [[ -z $LITHE_PID ]] || stop_pid "$LITHE_PID"; LITHE_PID=; }
stop_nginx() { [[ -z $NGINX_PID ]] || stop_pid "$NGINX_PID"; NGINX_PID=; }

# A process's CPU time so far in clock ticks over all its threads: "utime+stime stime", the
# second being the kernel's part (a server's system calls, and on loopback the network stack
# they run). The fields follow the ")" of its name, which may itself hold spaces.
pid_cpu_ticks() {  # PID
  local stat
  stat=$(<"/proc/$1/stat")
  stat=${stat##*) }
  awk '{ print $12 + $13, $13 }' <<<"$stat"
}

# utime + stime alone.
pid_ticks() {  # PID
  local total _
  read -r total _ < <(pid_cpu_ticks "$1")
  echo "$total"
}

# From wrk's --latency output in FILE and the server's CPU ticks BEFORE and AFTER the run (HZ a
# second): "requests req/s p99_us errors cpu_us_per_request p50_us", errors being non-2xx
# answers and socket errors; "0 0 0 0 0 0" when wrk completed nothing.
wrk_figures() {  # FILE BEFORE AFTER HZ
  awk -v before="$2" -v after="$3" -v hz="$4" '
    function us(v,   n, u) {  # "245.00us", "1.02ms", "1.10s" -> µs
      n = v + 0; u = v; sub(/^[0-9.]+/, "", u)
      if (u == "ms") return n * 1000
      if (u == "s") return n * 1000000
      if (u == "m") return n * 60000000
      return n
    }
    /requests in/ { total = $1 }
    /^Requests\/sec:/ { rps = $2 }
    $1 == "50%" { p50 = us($2) }
    $1 == "99%" { p99 = us($2) }
    /Non-2xx or 3xx responses:/ { non2xx = $NF }
    /Socket errors:/ { gsub(/,/, ""); sock = $4 + $6 + $8 + $10 }
    END {
      if (total == 0) { print 0, 0, 0, 0, 0, 0; exit }
      printf "%d %.0f %.0f %d %.3f %.0f\n", total, rps, p99, non2xx + sock,
             (after - before) * 1000000 / hz / total, p50
    }' "$1"
}

# How busy a CPU was between two "busy total" jiffy readings, in percent ("" when no time passed).
busy_percent() {  # BEFORE AFTER
  awk -v b="$1" -v a="$2" 'BEGIN {
    split(b, x, " "); split(a, y, " ")
    if (y[2] > x[2]) printf "%.0f", 100 * (y[1] - x[1]) / (y[2] - x[2]) }'
}
