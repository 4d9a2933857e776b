#!/usr/bin/env bash
# Instructions (callgrind Ir) and heap allocations per delivery for each route_bench case.
# Usage: scripts/route-bench-callgrind.sh [build/release/bench/route_bench]
# Deterministic: the same binary gives the same counts on a busy or quiet machine.
set -euo pipefail
bin=${1:-build/release/bench/route_bench}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$dir/cg.%p" "$bin" --count \
    >"$dir/out.txt" 2>"$dir/err.txt"
# One dump per case, in the order the cases ran (the ".N" suffix), then the final one (empty).
printf '%-22s %12s %14s %14s %14s\n' case deliveries allocs/deliv allocs/publish Ir/delivery
i=0
grep -E '^(fan-|case)' "$dir/out.txt" | grep -v '^case' | while read -r line; do
    i=$((i + 1))
    name=$(echo "$line" | awk '{print $1, $2, $3}')
    deliveries=$(echo "$line" | awk '{print $4}')
    f=$(ls "$dir"/cg.*."$i" 2>/dev/null | head -1)
    ir=$(grep -E '^(summary|totals):' "$f" | head -1 | awk '{print $2}')
    printf '%-22s %12s %14s %14s %14.0f\n' "$name" "$deliveries" "$(echo "$line" | awk '{print $5}')" \
        "$(echo "$line" | awk '{print $6}')" "$(echo "$ir / $deliveries" | bc -l)"
done
