#!/usr/bin/env bash
# idle-memory.sh — memory per idle connection of the thinggate daemon (release build), the way
# scripts/bench-compare.sh's idle rows run it (persistence "memory", shards = 1, daemon on cpu 0,
# the tool on cpu 1 with one thread, mutual-TLS listener with client_auth = "ca-file" and the dev
# PKI), measured two ways on one freshly started daemon per kind:
#  - heap: glibc's total "in use bytes" (malloc_stats(), called in the daemon with gdb) before
#    connecting and while all connections are held, divided by the number of connections;
#  - rss: the tool's own bytes_per_connection (the daemon's VmRSS growth, --broker-pid).
# Usage: scripts/idle-memory.sh [kind ...]   kinds: tcp tls13 tls12 (default: all three)
# Environment: BUILD=build/release, CONNECTIONS=1000, HOLD=6 (seconds the tool holds them after
# connecting), HEAPTRACK=1 (run the daemon under heaptrack and kill it while the connections are
# held, so that what heaptrack reports as leaked is what they held; its file is left in $OUT_DIR),
# OUT_DIR (default: a temp dir, kept when HEAPTRACK=1).
set -euo pipefail
cd "$(dirname "$0")/.."

BUILD=${BUILD:-build/release}
CONNECTIONS=${CONNECTIONS:-1000}
HOLD=${HOLD:-6}
tg=$BUILD/tools/thinggate
ctl=$BUILD/tools/thinggatectl
bench=$BUILD/tools/thinggate-bench
kinds=("$@")
((${#kinds[@]} > 0)) || kinds=(tcp tls13 tls12)

tmp=$(mktemp -d "${TMPDIR:-/tmp}/idle-memory-XXXXXX")
out=${OUT_DIR:-$tmp}
tg_pid=""
pid=""
stop_daemon() { # the daemon itself (under heaptrack, $tg_pid is heaptrack's script)
    [[ -n $pid ]] && kill "$pid" 2>/dev/null || true
    [[ -n $tg_pid ]] && wait "$tg_pid" 2>/dev/null || true
    tg_pid=""
    pid=""
}
cleanup() {
    stop_daemon
    [[ -n ${HEAPTRACK:-} ]] || rm -rf "$tmp"
}
trap cleanup EXIT

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
wait_port() {
    local deadline=$((SECONDS + 30))
    until (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; do
        ((SECONDS < deadline)) || { echo "nothing listens on 127.0.0.1:$1" >&2; return 1; }
        sleep 0.2
    done
}
# glibc's total heap in use (the last "in use bytes" line of malloc_stats(): all arenas).
heap_in_use() { # $1 pid, $2 log file the daemon's stderr goes to
    local before
    before=$(wc -l <"$2")
    gdb -p "$1" -batch -ex 'call (void)malloc_stats()' >/dev/null 2>&1
    tail -n +"$((before + 1))" "$2" | grep 'in use bytes' | tail -1 | awk '{print $NF}'
}
open_sockets() { ls -l "/proc/$1/fd" 2>/dev/null | grep -c socket || true; }

"$ctl" pki dev --dir "$tmp/pki-data" --thing bench-device >/dev/null
pki=$tmp/pki-data/pki

for kind in "${kinds[@]}"; do
    tcp_port=$(free_port)
    tls_port=$(free_port)
    rm -rf "$tmp/tg-data"
    cat >"$tmp/thinggate.toml" <<EOF
log_level = "warn"
shards = 1
data_dir = '$tmp/tg-data'
persistence = "memory"

[dev]
pki = false

[[listener]]
name = "tcp"
type = "tcp"
address = "127.0.0.1"
port = $tcp_port

[[listener]]
name = "tls"
type = "tls"
address = "127.0.0.1"
port = $tls_port
client_auth = "ca-file"
ca_file = '$pki/ca.pem'
cert_file = '$pki/server.pem'
key_file = '$pki/server.key'
EOF
    log=$out/thinggate-$kind.log
    wrap=(taskset -c 0)
    if [[ -n ${HEAPTRACK:-} ]]; then
        wrap+=(heaptrack -o "$out/heaptrack-$kind")
    fi
    "${wrap[@]}" "$tg" --config "$tmp/thinggate.toml" 2>"$log" >"$out/heaptrack-$kind.out" &
    tg_pid=$!
    wait_port "$tcp_port"
    wait_port "$tls_port"
    pid=$tg_pid
    if [[ -n ${HEAPTRACK:-} ]]; then
        pid=$(pgrep -f "^$tg --config $tmp/thinggate.toml" | tail -1)
    fi
    sleep 1
    base_sockets=$(open_sockets "$pid")
    heap0=""
    [[ -n ${HEAPTRACK:-} ]] || heap0=$(heap_in_use "$pid" "$log")
    args=(--target "127.0.0.1:$tcp_port")
    case $kind in
    tls13 | tls12)
        args=(--target "127.0.0.1:$tls_port" --tls --tls-version "1.${kind#tls1}"
            --cafile "$pki/ca.pem" --cert "$pki/bench-device.pem" --key "$pki/bench-device.key")
        ;;
    esac
    taskset -c 1 "$bench" --scenario idle --connections "$CONNECTIONS" --threads 1 --quiet \
        --duration "$HOLD" --broker-pid "$pid" "${args[@]}" >"$out/bench-$kind.json" &
    bench_pid=$!
    deadline=$((SECONDS + 120))
    while (($(open_sockets "$pid") < base_sockets + CONNECTIONS)) && ((SECONDS < deadline)); do
        sleep 0.2
    done
    sleep 1 # the last CONNACKs
    heap1=""
    if [[ -n ${HEAPTRACK:-} ]]; then
        # Killed while the connections are held: heaptrack's "leaked" bytes are then exactly what
        # was live at this moment (heaptrack_print --flamegraph-cost-type leaked / --print-leaks).
        sleep 2
        kill -KILL "$pid"
    else
        heap1=$(heap_in_use "$pid" "$log")
    fi
    wait "$bench_pid" || true
    rss=$(python3 -c 'import json,sys
for l in open(sys.argv[1]):
    if l.startswith("{"):
        d=json.loads(l); m=d.get("memory") or {}
        print(m.get("bytes_per_connection","?"), d.get("connects","?"), d.get("errors","?"))' \
        "$out/bench-$kind.json")
    read -r rss_per connects errors <<<"$rss"
    if [[ -n $heap0 && -n $heap1 ]]; then
        heap_per=$(((heap1 - heap0) / CONNECTIONS))
    else
        heap_per="-"
    fi
    printf '%-6s connects %s errors %s  rss/conn %s B  heap in use/conn %s B (%s -> %s)\n' \
        "$kind" "$connects" "$errors" "$rss_per" "$heap_per" "${heap0:--}" "${heap1:--}"
    stop_daemon
done
