#!/usr/bin/env bash
# Installs what is missing, builds and runs the whole test suite:
#   1. Release build with warnings as errors: every unit, integration and conformance test;
#   2. the same suite built with AddressSanitizer + UndefinedBehaviorSanitizer;
#   3. the libFuzzer targets (clang), each for FUZZ_SECONDS (default 60).
# Set SKIP_SANITIZE=1 or SKIP_FUZZ=1 to leave a stage out while iterating locally.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
jobs=$(nproc)

echo "== build (Release, -Werror)"
cmake -S . -B build-test -G Ninja -DCMAKE_BUILD_TYPE=Release -DLITHE_WERROR=ON >/dev/null
cmake --build build-test -j "$jobs"
echo "== tests"
ctest --test-dir build-test --output-on-failure -j "$jobs"

if [[ "${SKIP_SANITIZE:-0}" != 1 ]]; then
  echo "== build (ASan + UBSan)"
  cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DLITHE_SANITIZE=ON -DLITHE_WERROR=ON \
    -DLITHE_BUILD_BENCH=OFF >/dev/null
  cmake --build build-asan -j "$jobs"
  echo "== tests under ASan + UBSan"
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    ctest --test-dir build-asan --output-on-failure -j "$jobs"
fi

if [[ "${SKIP_FUZZ:-0}" != 1 && -f tests/fuzz/CMakeLists.txt ]]; then
  echo "== fuzz (${FUZZ_SECONDS:-60}s per target)"
  CC=clang CXX=clang++ cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DLITHE_FUZZ=ON \
    -DLITHE_BUILD_TESTS=OFF -DLITHE_BUILD_BENCH=OFF >/dev/null
  cmake --build build-fuzz -j "$jobs"
  bash tests/fuzz/run.sh build-fuzz "${FUZZ_SECONDS:-60}"
fi
echo "== all tests passed"
