#!/usr/bin/env bash
# Where each outside library may appear in src/ and include/ (README, Layout): an #include of it
# anywhere else fails this test, and so does any use of Asio's detail API or a preprocessor
# check of Boost's version, which would tie lithe to one Boost release.
# Usage: confinement_test.sh SOURCE_DIR
set -euo pipefail
cd "$1"
failed=0

# confine PATTERN ALLOWED_REGEX WHAT: files under src/ and include/ that match PATTERN must all
# match ALLOWED_REGEX.
confine() {
  local pattern=$1 allowed=$2 what=$3 file
  while IFS= read -r file; do
    if [[ ! $file =~ $allowed ]]; then
      echo "FAIL $what in $file"
      failed=1
    fi
  done < <(grep -rlE "$pattern" src include || true)
}

confine '#include <liburing' '^src/net/ring\.(hpp|cpp)$' 'liburing'
confine '#include <llhttp' '^src/http/parser\.cpp$' 'llhttp'
confine '#include <toml\+\+' '^src/config/' 'toml++'
confine '#include <(zlib|brotli/|zstd)' '^src/encoding/(compress|stream_compressor)\.cpp$' 'zlib, brotli and zstd'
confine '#include <boost/asio' '^(src/net/|src/server/(server|coro|coroutine_handler)\.cpp$|include/lithe/(server|coro)\.hpp$)' 'Asio'
confine 'boost/asio/detail|asio::detail|#[[:space:]]*(if|elif).*BOOST_(ASIO_)?VERSION' '^$' \
  "Asio's detail API or a Boost version check"

# The HTTP/1 session knows its transport only through net/transport.hpp: no back-end, no socket.
for file in src/net/session.hpp src/net/session.cpp; do
  if grep -nE '#include [<"](net/(ring|ring_transport|epoll_transport|epoll_set|receive|socket|op_slot)\.hpp|liburing|sys/socket\.h|sys/sendfile\.h|boost/asio/(ip|generic|posix|basic_))' "$file"; then
    echo "FAIL the session reaches below its transport in $file"
    failed=1
  fi
done

if ((failed == 0)); then echo "ok: every library where the README says it is"; fi
((failed == 0))
