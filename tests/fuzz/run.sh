#!/usr/bin/env bash
# Runs every libFuzzer target of a LITHE_FUZZ build for SECONDS each, on a scratch copy of its
# seed corpus (the generated seeds stay untouched). Exits non-zero when a target crashes, leaks,
# hangs or runs out of memory; the reproducer is kept in BUILD_DIR/tests/fuzz/artifacts/.
#   bash tests/fuzz/run.sh BUILD_DIR SECONDS
set -euo pipefail
usage="usage: $0 BUILD_DIR SECONDS"
build=${1:?$usage}
seconds=${2:?$usage}
fuzz_dir="$build/tests/fuzz"
artifacts="$fuzz_dir/artifacts"
targets=(parser_fuzz connection_fuzz)

work=$(mktemp -d "${TMPDIR:-/tmp}/lithe-fuzz.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir -p "$artifacts"

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:symbolize=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

failed=()
for target in "${targets[@]}"; do
  bin="$fuzz_dir/$target"
  seeds="$fuzz_dir/corpus/$target"
  if [[ ! -x $bin || ! -d $seeds ]]; then
    echo "run.sh: $bin or $seeds is missing: build $build with -DLITHE_FUZZ=ON first" >&2
    exit 2
  fi
  rm -f "$artifacts/$target-"*  # reproducers of an earlier run would be mistaken for new ones
  corpus="$work/$target"
  mkdir -p "$corpus"
  cp -R "$seeds/." "$corpus/"
  echo "== $target: ${seconds}s on $(ls "$corpus" | wc -l) seeds"
  rc=0
  "$bin" "$corpus" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="$artifacts/$target-" >"$work/$target.log" 2>&1 || rc=$?
  # The summary: the first and last status lines and the final stats.
  grep -E '^#[0-9]+[[:space:]]+INITED' "$work/$target.log" | head -1 || true
  grep -E '^#[0-9]+[[:space:]]+(pulse|NEW|REDUCE|DONE)' "$work/$target.log" | tail -1 || true
  grep -E '^stat::' "$work/$target.log" || true
  if [[ $rc != 0 ]]; then
    failed+=("$target")
    echo "!! $target failed (exit $rc); log tail:"
    tail -n 60 "$work/$target.log"
    for f in "$artifacts/$target-"*; do
      [[ -f $f ]] || continue
      echo "-- reproducer $f ($(wc -c <"$f") bytes):"
      od -A x -t x1z -v "$f" | head -n 40
    done
  fi
done

if (( ${#failed[@]} )); then
  echo "fuzz: FAILED: ${failed[*]}"
  exit 1
fi
echo "fuzz: all targets ran ${seconds}s without a crash"
