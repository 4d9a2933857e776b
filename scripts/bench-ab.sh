#!/usr/bin/env bash
# Interleaved A/B of two thinggate builds (e.g. before and after a change) with
# `thinggate-bench --compare` (A B A B ...), both daemons pinned to cpu 0 with shards = 1 and
# the tool on cpu 1, the same configuration as scripts/bench-compare.sh (persistence "memory",
# an mTLS listener with client_auth = "ca-file", the dev PKI). Fresh daemons for every scenario.
#
# Usage: A=path/to/thinggate B=path/to/thinggate scripts/bench-ab.sh "ARGS" ["ARGS" ...]
#   each ARGS is one bench run's arguments; a leading "tls" selects the mutual-TLS listeners, e.g.
#   scripts/bench-ab.sh "tls --scenario idle --connections 1000" \
#       "tls --scenario fan-out --subscribers 100 --payload 4096 --qos 1"
#   BUILD=build/release (thinggatectl, thinggate-bench), DURATION=5, ROUNDS=2
set -euo pipefail
cd "$(dirname "$0")/.."

BUILD=${BUILD:-build/release}
DURATION=${DURATION:-5}
ROUNDS=${ROUNDS:-2}
: "${A:?A=path of the first thinggate binary}" "${B:?B=path of the second thinggate binary}"
ctl=$BUILD/tools/thinggatectl
bench=$BUILD/tools/thinggate-bench

tmp=$(mktemp -d)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$tmp"
}
trap cleanup EXIT

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
wait_port() {
    for _ in $(seq 100); do
        if (echo >"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
        sleep 0.1
    done
    return 1
}

"$ctl" pki dev --dir "$tmp/pki-data" --thing bench-device >/dev/null
pki=$tmp/pki-data/pki

start() { # $1 = name, $2 = binary; sets port_tcp_$1, port_tls_$1, pid_$1
    local tcp tls
    tcp=$(free_port)
    tls=$(free_port)
    rm -rf "$tmp/data-$1"
    cat >"$tmp/$1.toml" <<EOF
log_level = "warn"
shards = 1
data_dir = '$tmp/data-$1'
persistence = "memory"

[dev]
pki = false

[limits]
receive_maximum = 1024
max_inflight_out = 1024
max_queued_messages = 10000
max_packet_size = 1048576
slow_consumer = "drop-qos0"

[[listener]]
name = "tcp"
type = "tcp"
address = "127.0.0.1"
port = $tcp

[[listener]]
name = "tls"
type = "tls"
address = "127.0.0.1"
port = $tls
client_auth = "ca-file"
ca_file = '$pki/ca.pem'
cert_file = '$pki/server.pem'
key_file = '$pki/server.key'
EOF
    taskset -c 0 "$2" --config "$tmp/$1.toml" 2>"$tmp/$1.log" &
    local pid=$!
    pids+=("$pid")
    wait_port "$tcp" && wait_port "$tls" || { cat "$tmp/$1.log" >&2; exit 1; }
    printf -v "port_tcp_$1" '%s' "$tcp"
    printf -v "port_tls_$1" '%s' "$tls"
    printf -v "pid_$1" '%s' "$pid"
}

for args in "$@"; do
    read -ra argv <<<"$args"
    start a "$A"
    start b "$B"
    targets=(--target "127.0.0.1:$port_tcp_a" --target "127.0.0.1:$port_tcp_b")
    if [[ ${argv[0]} == tls ]]; then
        argv=("${argv[@]:1}")
        targets=(--target "127.0.0.1:$port_tls_a" --target "127.0.0.1:$port_tls_b"
            --tls --cafile "$pki/ca.pem" --cert "$pki/bench-device.pem" --key "$pki/bench-device.key")
    fi
    echo "== $args" >&2
    taskset -c 1 "$bench" --compare --rounds "$ROUNDS" --duration "$DURATION" --quiet --threads 1 \
        "${targets[@]}" --broker-pid "$pid_a" --broker-pid "$pid_b" "${argv[@]}" | tail -1 || true
    for p in "$pid_a" "$pid_b"; do kill "$p" 2>/dev/null || true; done
    wait "$pid_a" "$pid_b" 2>/dev/null || true
    pids=()
done
