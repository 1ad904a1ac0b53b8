#!/usr/bin/env bash
# install_library: `cmake --install --component dev` puts liblithe, its headers, a CMake package
# and lithe.pc under a prefix, and a program outside this tree (tests/install/consumer, copied
# out first) builds against that prefix twice, with find_package(lithe) and with pkg-config,
# and serves a request.
#
# usage: install_library_test.sh BUILD_DIR
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=install_common.sh
source "$here/install_common.sh"
prefix=$tmp/prefix

echo "== cmake --install $build --component dev --prefix $prefix"
cmake --install "$build" --component dev --prefix "$prefix" >"$tmp/install.log" 2>&1 || {
  cat "$tmp/install.log" >&2
  echo "FAIL: cmake --install" >&2
  exit 1
}
libdir=$prefix/$(cache CMAKE_INSTALL_LIBDIR)
for f in "$libdir/liblithe.so" "$libdir/cmake/lithe/litheConfig.cmake" \
  "$libdir/cmake/lithe/litheConfigVersion.cmake" "$libdir/pkgconfig/lithe.pc" \
  "$prefix/include/lithe/server.hpp" "$prefix/include/lithe/version.hpp"; do
  [[ -e $f ]] && pass "installed ${f#"$prefix"/}" || fail "no ${f#"$prefix"/}"
done
# The development part alone: no daemon, config or unit.
[[ ! -e $prefix/bin/lithe ]] && pass "no daemon in the dev component" || fail "bin/lithe in dev"
if ((failures)); then
  (cd "$prefix" && find . -type f) >&2
  exit 1
fi

# A sanitized liblithe needs a sanitized program.
flags=""
[[ $(cache LITHE_SANITIZE) == ON ]] && flags="-fsanitize=address,undefined"
cp -r "$here/install/consumer" "$tmp/src"

run_consumer() {  # WHAT BINARY
  local out
  if out=$(LD_LIBRARY_PATH=$libdir "$2" 2>&1) && [[ $out == *"hello consumer from lithe "* ]]; then
    pass "$1: the program serves"
  else
    fail "$1: $out"
  fi
}

echo "== find_package(lithe)"
if cmake -S "$tmp/src" -B "$tmp/cmake-build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_CXX_FLAGS="$flags" >"$tmp/cmake.log" 2>&1 &&
  cmake --build "$tmp/cmake-build" >>"$tmp/cmake.log" 2>&1; then
  pass "cmake: configured and built"
  run_consumer cmake "$tmp/cmake-build/consumer"
else
  cat "$tmp/cmake.log" >&2
  fail "cmake: the consumer did not build"
fi

echo "== pkg-config lithe"
if pc=$(PKG_CONFIG_PATH=$libdir/pkgconfig pkg-config --cflags --libs lithe 2>&1); then
  pass "pkg-config: $pc"
  # shellcheck disable=SC2086  # the flags are words
  if c++ -std=c++20 $flags "$tmp/src/main.cpp" $pc -o "$tmp/consumer-pc" >"$tmp/pc.log" 2>&1; then
    pass "pkg-config: built"
    run_consumer pkg-config "$tmp/consumer-pc"
  else
    cat "$tmp/pc.log" >&2
    fail "pkg-config: the consumer did not build"
  fi
else
  fail "pkg-config: $pc"
fi

if ((failures)); then
  echo "$failures check(s) failed" >&2
  exit 1
fi
echo "all library install checks passed"
