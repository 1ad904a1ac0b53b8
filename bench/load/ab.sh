#!/usr/bin/env bash
# Two lithe binaries, before and after a change, on the /plaintext rows of compare.sh, in the
# same run: each round measures both, alternating which goes first, each on a fresh process.
# Prints every pair (req/s, server CPU µs per request, p99) and, per row, the median of the
# new/old CPU ratios. A refactoring that must not cost anything is judged on those medians.
#
# Usage: bench/load/ab.sh OLD_LITHE NEW_LITHE
# Env: ROUNDS (5), DURATION / WARMUP (seconds: 5 / 1), ROWS (plain10,plain100,plain1000,pipe16),
#      LITHE_IO (passed to both servers: unset = io_uring where the kernel has it, or epoll).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck source=common.sh
source "$ROOT/bench/load/common.sh" ab.sh
[[ $# -eq 2 ]] || die "usage: bench/load/ab.sh OLD_LITHE NEW_LITHE"
OLD=$(realpath "$1"); NEW=$(realpath "$2")
[[ -x $OLD && -x $NEW ]] || die "both arguments must be lithe binaries"
ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-5}
WARMUP=${WARMUP:-1}
ROWS=${ROWS:-plain10,plain100,plain1000,pipe16}
HOST=127.0.0.1
for tool in wrk curl awk; do command -v "$tool" >/dev/null || die "needs $tool"; done

make_scratch
detect_pinning
write_content
write_lithe_conf
HZ=$(getconf CLK_TCK)

row_args() {  # ROW -> wrk arguments after the URL's options
  case $1 in
    plain10) echo "-c10" ;;
    plain100) echo "-c100" ;;
    plain1000) echo "-c1000" ;;
    pipe16) echo "-c100 -s $ROOT/bench/load/pipeline.lua" ;;
    *) die "unknown row $1" ;;
  esac
}

# One measurement: sets M_RPS, M_CPU (µs/req), M_P99 (µs) for BINARY on ROW.
measure() {  # BINARY ROW
  local LITHE=$1 row=$2 args tail=() before after
  read -r -a args <<<"-t1 --latency $(row_args "$row")"
  [[ $row != pipe16 ]] || tail=(-- 16)
  start_lithe 1 "${PIN_SERVER[@]}"
  local url="http://$HOST:$LITHE_PORT/plaintext"
  timeout $((WARMUP + 30)) "${PIN_CLIENT[@]}" wrk "${args[@]}" -d"${WARMUP}s" "$url" "${tail[@]}" \
    >/dev/null 2>&1 || true
  before=$(pid_ticks "$LITHE_PID")
  timeout $((DURATION + 30)) "${PIN_CLIENT[@]}" wrk "${args[@]}" -d"${DURATION}s" "$url" \
    "${tail[@]}" >"$WORK/wrk.txt" 2>&1 || true
  after=$(pid_ticks "$LITHE_PID")
  stop_lithe
  read -r M_RPS M_CPU M_P99 < <(awk -v b="$before" -v a="$after" -v hz="$HZ" '
    function us(v,   n, u) { n = v + 0; u = v; sub(/^[0-9.]+/, "", u)
      return u == "ms" ? n * 1000 : u == "s" ? n * 1000000 : n }
    /requests in/ { total = $1 }
    /^Requests\/sec:/ { rps = $2 }
    $1 == "99%" { p99 = us($2) }
    END { if (total == 0) { print 0, 0, 0; exit }
          printf "%.0f %.3f %.0f\n", rps, (a - b) * 1000000 / hz / total, p99 }' "$WORK/wrk.txt")
  [[ $M_RPS != 0 ]] || { cat "$WORK/wrk.txt" >&2; die "$row: wrk completed no request"; }
}

echo "old: $OLD"
echo "new: $NEW"
echo "LITHE_IO=${LITHE_IO:-(default)} rounds=$ROUNDS duration=${DURATION}s pinned=$PINNED"
echo
echo "| row | round | first | old req/s | new req/s | old µs/req | new µs/req | new/old CPU | old p99 µs | new p99 µs |"
echo "|---|---|---|---|---|---|---|---|---|---|"
declare -A RATIOS=()
IFS=, read -r -a rows <<<"$ROWS"
for ((round = 1; round <= ROUNDS; round++)); do
  for row in "${rows[@]}"; do
    if ((round % 2)); then order=(old new); else order=(new old); fi
    declare -A rps=() cpu=() p99=()
    for which in "${order[@]}"; do
      if [[ $which == old ]]; then measure "$OLD" "$row"; else measure "$NEW" "$row"; fi
      rps[$which]=$M_RPS; cpu[$which]=$M_CPU; p99[$which]=$M_P99
    done
    ratio=$(awk -v o="${cpu[old]}" -v n="${cpu[new]}" 'BEGIN { printf "%.3f", n / o }')
    RATIOS[$row]+="$ratio "
    echo "| $row | $round | ${order[0]} | ${rps[old]} | ${rps[new]} | ${cpu[old]} | ${cpu[new]} | $ratio | ${p99[old]} | ${p99[new]} |"
  done
done
echo
echo "| row | median new/old CPU per request | ratios |"
echo "|---|---|---|"
for row in "${rows[@]}"; do
  # shellcheck disable=SC2086  # the ratios are words
  median=$(printf '%s\n' ${RATIOS[$row]} | sort -n | awk '{ v[NR] = $1 } END {
    print NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }')
  echo "| $row | $median | ${RATIOS[$row]}|"
done
