#!/usr/bin/env bash
# Installs what is missing, builds lithe (Release) and runs it. Arguments go to lithe, so
# `scripts/run.sh` serves the built-in default config on 127.0.0.1:8080 and
# `scripts/run.sh -c configs/example.toml` serves another one.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cmake -S . -B build-release -G Ninja -DCMAKE_BUILD_TYPE=Release -DLITHE_BUILD_TESTS=OFF -DLITHE_BUILD_BENCH=OFF >/dev/null
cmake --build build-release --target lithe
exec build-release/lithe "$@"
