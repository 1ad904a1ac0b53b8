#!/usr/bin/env bash
# Upload throughput: lithe's `upload` handler against nginx's DAV PUT, both storing the body as
# a file under a tmpfs directory (so the disk does not set the pace), in the same run,
# alternating which goes first. nginx writes the body to a temporary file in
# client_body_temp_path and renames it into place; lithe writes it to an unnamed file and links
# it. Same work, same file system.
#
# Prints every run (GB/s over loopback, server CPU seconds per GiB) and the medians.
#
# Usage: bench/load/upload.sh [LITHE]   (default build-test/lithe)
# Env: ROUNDS (5), SIZE (bytes per upload: 2 GiB), UPLOAD_ROOT (a tmpfs directory: /dev/shm),
#      LITHE_IO (passed to lithe).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck source=common.sh
source "$ROOT/bench/load/common.sh" upload.sh
LITHE=$(realpath "${1:-$ROOT/build-test/lithe}")
NGINX=${NGINX:-$(command -v nginx || echo /usr/sbin/nginx)}
[[ -x $LITHE ]] || die "no lithe binary at $LITHE"
[[ -x $NGINX ]] || die "needs nginx"
ROUNDS=${ROUNDS:-5}
SIZE=${SIZE:-$((2 * 1024 * 1024 * 1024))}
HOST=127.0.0.1
HZ=$(getconf CLK_TCK)

make_scratch
detect_pinning
write_content
UP=$(mktemp -d "${UPLOAD_ROOT:-/dev/shm}/lithe-upload.XXXXXX")
trap 'cleanup; rm -rf "$UP"' EXIT
mkdir -p "$UP/lithe" "$UP/nginx/up" "$UP/nginx-body"

# The common configs, plus the upload route in each: nginx's DAV module writes the body to a
# temporary file on the same tmpfs and renames it into place when complete.
write_lithe_conf
cat >>"$WORK/lithe.toml" <<CONF

[[route]]
path = "/up/*name"
handler = "upload"
dir = "$UP/lithe"
max_body = "64GiB"
CONF
NGINX_BODY_TEMP=$UP/nginx-body
NGINX_LOCATIONS="    location /up/ {
      root $UP/nginx;
      dav_methods PUT;
      client_max_body_size 0;
    }"

cpu_ticks() {  # PID: its CPU ticks plus its children's (nginx's worker)
  local total=0 pid
  for pid in "$1" $(pgrep -P "$1" || true); do
    total=$((total + $(awk '{ print $14 + $15 }' "/proc/$pid/stat")))
  done
  echo "$total"
}

# One upload: prints "GB/s CPU-s/GiB".
measure() {  # SERVER
  local pid port before after status took
  if [[ $1 == lithe ]]; then
    start_lithe 1 "${PIN_SERVER[@]}"; pid=$LITHE_PID; port=$LITHE_PORT
  else
    start_nginx 1 "${PIN_SERVER[@]}"; pid=$NGINX_PID; port=$NGINX_PORT
  fi
  before=$(cpu_ticks "$pid")
  read -r status took < <("${PIN_CLIENT[@]}" python3 "$ROOT/bench/load/upload_client.py" \
    "$HOST" "$port" /up/bench.bin "$SIZE")
  after=$(cpu_ticks "$pid")
  if [[ $1 == lithe ]]; then stop_lithe; else stop_nginx; fi
  [[ $status == 201 ]] || die "$1 answered $status"
  local stored; stored=$(stat -c %s "$UP/$1/$([[ $1 == nginx ]] && echo up/)bench.bin")
  [[ $stored == "$SIZE" ]] || die "$1 stored $stored bytes of $SIZE"
  rm -f "$UP/lithe/bench.bin" "$UP/nginx/up/bench.bin"
  awk -v s="$SIZE" -v t="$took" -v b="$before" -v a="$after" -v hz="$HZ" \
    'BEGIN { printf "%.2f %.3f\n", s / t / 1e9, (a - b) / hz / (s / 2^30) }'
}

log "$ROUNDS rounds of a $((SIZE / 1024 / 1024)) MiB PUT, pinned=$PINNED, store=$UP"
printf '%-6s %-6s %8s %12s\n' round server GB/s CPU-s/GiB
: >"$WORK/runs"
for r in $(seq "$ROUNDS"); do
  order=(lithe nginx); (( r % 2 )) || order=(nginx lithe)
  for server in "${order[@]}"; do
    read -r gbs cpu < <(measure "$server")
    printf '%-6s %-6s %8s %12s\n' "$r" "$server" "$gbs" "$cpu"
    echo "$server $gbs $cpu" >>"$WORK/runs"
  done
done
median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
for server in lithe nginx; do
  gbs=$(awk -v s="$server" '$1 == s { print $2 }' "$WORK/runs" | median)
  cpu=$(awk -v s="$server" '$1 == s { print $3 }' "$WORK/runs" | median)
  printf 'median %-6s %8s %12s\n' "$server" "$gbs" "$cpu"
done
