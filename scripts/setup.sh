#!/usr/bin/env bash
# Installs every build, test and benchmark dependency of lithe from Debian packages.
# Idempotent: packages already present are skipped, and apt is not touched when nothing is missing.
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config
  libboost1.81-dev libsimdjson-dev libfmt-dev libspdlog-dev libtomlplusplus-dev
  libgtest-dev libgmock-dev libbenchmark-dev node-llhttp liburing-dev
  zlib1g-dev libbrotli-dev libzstd-dev gzip brotli zstd  # content codings; the tests decode with the CLIs
  clang libclang-rt-14-dev
  wrk nginx-light haproxy h2o curl
  python3 gnuplot-nox strace linux-perf   # bench/load: idle-connection helper, chart, profile
  slowhttptest                            # tests/stress and bench/load/slow_clients.sh
  librestinio-dev python3-starlette python3-uvicorn python3-httptools python3-uvloop  # bench/load/app.sh peers
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done

if ((${#missing[@]} == 0)); then
  exit 0
fi

sudo_cmd=()
if [[ $(id -u) -ne 0 ]]; then sudo_cmd=(sudo); fi
echo "setup: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -qq
"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
