#!/usr/bin/env bash
# Sets everything up on a fresh Debian 12 machine and runs the gateway on its embedded default:
# data dir ./var, a development PKI generated on first start, mutual TLS on 127.0.0.1:8883.
# Extra arguments go to thinggate (e.g. --config configs/dev-tcp.toml).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
export CCACHE_BASEDIR="$PWD" CCACHE_NOHASHDIR=1
cmake --preset release >/dev/null
cmake --build --preset release --target thinggate thinggatectl
exec ./build/release/tools/thinggate "$@"
