# Sourced by the install tests (install_test.sh, install_library_test.sh) with BUILD_DIR as $1:
# the build's absolute path, a scratch directory removed on exit, the pass/fail tally and the
# build's CMake cache entries.
build=${1:?usage: ${0##*/} BUILD_DIR}
build=$(cd "$build" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failures=0

fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }
pass() { echo "ok: $*"; }

cache() {  # the value of a CMakeCache.txt entry
  sed -n "s/^$1:[A-Z]*=//p" "$build/CMakeCache.txt" | head -n 1
}
