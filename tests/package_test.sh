#!/usr/bin/env bash
# package_deb: `cpack` builds the two Debian packages from BUILD_DIR, and dpkg-deb shows what
# they hold: lithe (daemon, /etc config as a conffile, units, logrotate file, a postinst that
# creates the "lithe" account, dependencies from dpkg-shlibdeps) and lithe-dev (library,
# headers, CMake package, lithe.pc), all under /usr whatever the build's prefix. The daemon,
# unpacked, runs and accepts its packaged config.
#
# usage: package_test.sh BUILD_DIR
set -euo pipefail
# shellcheck source=install_common.sh
source "$(dirname "$0")/install_common.sh"

for tool in cpack dpkg-deb dpkg-shlibdeps; do
  command -v "$tool" >/dev/null || { echo "FAIL: $tool is not installed (scripts/setup.sh)" >&2; exit 1; }
done
echo "== cpack --config $build/CPackConfig.cmake"
(cd "$tmp" && cpack --config "$build/CPackConfig.cmake" -B "$tmp/out") >"$tmp/cpack.log" 2>&1 || {
  cat "$tmp/cpack.log" >&2
  echo "FAIL: cpack" >&2
  exit 1
}
version=$(cache CMAKE_PROJECT_VERSION)
arch=$(dpkg --print-architecture)
daemon=$tmp/out/lithe_${version}_${arch}.deb
dev=$tmp/out/lithe-dev_${version}_${arch}.deb
for deb in "$daemon" "$dev"; do
  [[ -f $deb ]] && pass "built ${deb##*/}" || { fail "no ${deb##*/}"; ls "$tmp/out" >&2; exit 1; }
done

# --- contents ---
holds() {  # holds DEB PATH...
  local deb=$1 listing
  shift
  listing=$(dpkg-deb -c "$deb" | awk '{print $6}')
  for path in "$@"; do
    grep -qx "\./${path#/}" <<<"$listing" && pass "${deb##*/} holds $path" \
      || fail "${deb##*/} lacks $path"
  done
}
holds "$daemon" /usr/bin/lithe /etc/lithe/lithe.toml /etc/logrotate.d/lithe \
  /usr/lib/systemd/system/lithe.service /usr/lib/systemd/system/lithe.socket
holds "$dev" /usr/include/lithe/server.hpp /usr/include/lithe/version.hpp /usr/lib/liblithe.so \
  /usr/lib/cmake/lithe/litheConfig.cmake /usr/lib/pkgconfig/lithe.pc
if dpkg-deb -c "$dev" | grep -q 'usr/bin/lithe$'; then fail "lithe-dev holds the daemon"; fi

# --- control ---
field() { dpkg-deb -f "$1" "$2"; }
[[ $(field "$daemon" Package) == lithe ]] && pass "Package: lithe" || fail "Package of the daemon"
[[ $(field "$dev" Package) == lithe-dev ]] && pass "Package: lithe-dev" || fail "Package of -dev"
depends=$(field "$daemon" Depends)
for dep in adduser libspdlog libfmt liburing libsimdjson; do
  [[ $depends == *"$dep"* ]] && pass "lithe depends on $dep" || fail "lithe: no $dep in: $depends"
done
dev_depends=$(field "$dev" Depends)
[[ $dev_depends == *libboost-dev* && $dev_depends == *libsimdjson-dev* ]] \
  && pass "lithe-dev depends on the headers it uses" || fail "lithe-dev Depends: $dev_depends"
dpkg-deb -e "$daemon" "$tmp/control"
if diff <(sort "$tmp/control/conffiles") <(printf '%s\n' /etc/lithe/lithe.toml /etc/logrotate.d/lithe); then
  pass "conffiles: the config and the logrotate file"
else
  fail "conffiles"
fi
grep -q 'adduser --system' "$tmp/control/postinst" && [[ -x $tmp/control/postinst ]] \
  && pass "postinst creates the lithe account" || fail "postinst"
sh -n "$tmp/control/postinst" && sh -n "$tmp/control/prerm" && sh -n "$tmp/control/postrm" \
  && pass "maintainer scripts parse" || fail "maintainer scripts"

# --- unpacked ---
dpkg-deb -x "$daemon" "$tmp/root"
dpkg-deb -x "$dev" "$tmp/root"
grep -qx 'ExecStart=/usr/bin/lithe -c /etc/lithe/lithe.toml' "$tmp/root/usr/lib/systemd/system/lithe.service" \
  && pass "the unit names /usr/bin/lithe and /etc/lithe/lithe.toml" || fail "unit ExecStart"
grep -qx 'prefix=/usr' "$tmp/root/usr/lib/pkgconfig/lithe.pc" && pass "lithe.pc: prefix=/usr" \
  || fail "lithe.pc prefix"
if out=$("$tmp/root/usr/bin/lithe" -t -c "$tmp/root/etc/lithe/lithe.toml" 2>&1); then
  pass "the packaged daemon accepts the packaged config"
else
  fail "lithe -t: $out"
fi

if ((failures)); then
  echo "$failures check(s) failed" >&2
  exit 1
fi
echo "all package checks passed"
