#!/usr/bin/env bash
# Sets everything up on a fresh Debian 12 machine and runs every test:
# unit, conformance and integration tests (ASan + UBSan build, real TLS, real clients), the module
# dependency check, and a short libFuzzer run of each fuzz target.
# The ctest summary comes last. THINGGATE_FUZZ_SECONDS (default 60) sets the fuzzing time per target; 0 skips fuzzing.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh

# ccache: hits across clones and build directories (CI uses a fresh clone each run).
export CCACHE_BASEDIR="$PWD" CCACHE_NOHASHDIR=1

jobs=$(nproc)
echo "== build (asan)"
cmake --preset asan >/dev/null
cmake --build --preset asan -j "$jobs"

fuzz_seconds=${THINGGATE_FUZZ_SECONDS:-60}
if [ "$fuzz_seconds" != "0" ] && [ -f tests/fuzz/CMakeLists.txt ]; then
  echo "== fuzz (${fuzz_seconds}s per target)"
  cmake --preset fuzz >/dev/null
  # Only the fuzz targets: clang 14 cannot compile Asio coroutine code (transport/) with the
  # fuzzer's instrumentation ("Cannot represent a difference across sections"), and they need none.
  targets=()
  for src in tests/fuzz/*_fuzz.cpp; do targets+=(--target "$(basename "${src%.cpp}")"); done
  cmake --build --preset fuzz -j "$jobs" "${targets[@]}"
  for target in build/fuzz/tests/fuzz/*_fuzz; do
    name=$(basename "$target")
    corpus="tests/fuzz/corpus/${name%_fuzz}"
    work=$(mktemp -d)
    cp -r "$corpus"/. "$work"/ 2>/dev/null || true
    echo "-- $name"
    if ! "$target" -max_total_time="$fuzz_seconds" -print_final_stats=1 "$work" >"$work.log" 2>&1; then
      cat "$work.log"
      echo "fuzz: $name failed (crash, leak or sanitizer report above)"
      exit 1
    fi
    grep -E '^(stat::number_of_executed_units|Done)' "$work.log" || tail -n 2 "$work.log"
    rm -rf "$work" "$work.log"
  done
  echo "fuzz: no crashes"
fi

echo "== tests (asan)"
ctest --preset asan -j "$jobs"
