#!/usr/bin/env bash
# bench-compare.sh — thinggate (release build) beside Debian's mosquitto, both on loopback, every
# scenario run with `thinggate-bench --compare` (A = thinggate, B = mosquitto, A B A B ...),
# each scenario on freshly started brokers, first pinned (brokers on cpu 0, the tool on cpu 1,
# thinggate with one shard), then unpinned (thinggate with one shard per core, the tool with one
# thread per core). Every run passes --broker-pid, so the tool records each broker's CPU seconds.
# Prints two markdown tables: the figures, and the same per broker CPU second.
#
# Usage: scripts/bench-compare.sh [scenario-name-prefix ...]   (default: all rows of the table)
# Environment:
#   BUILD=build/release   where thinggate, thinggatectl and thinggate-bench are
#   DURATION=10           seconds per run (each run is bounded by this plus connect and drain)
#   ROUNDS=2              --rounds: A B A B
#   MODES="pinned unpinned"
#   UNPINNED_SHARDS=0     thinggate's shards when unpinned (0 = one per core, the default
#                         deployment; 1 = one broker thread like mosquitto: see docs/performance.md,
#                         "The load tool's own cost", for what a second shard does to the 20 k/s p99)
#   UNPINNED_THREADS=     the tool's --threads when unpinned (empty = one per core)
#   INFLIGHT=1024         receive maximum / max_inflight_messages, the same on both brokers
#   QUEUED=10000          max_queued_messages, the same on both brokers
#   BACKLOG=100000        messages of the backlog row (both brokers' queue limit is raised to it)
#   RAW_DIR=...           keep every JSON line there (default: a temp dir, removed at exit)
#   FROM_RAW=1            run nothing: print the tables from the JSON lines already in RAW_DIR
# Limits set equal on both brokers: in-flight window, queued messages, packet size 1 MiB. Both
# brokers in memory (thinggate persistence = "memory", mosquitto persistence false), except the
# backlog row: thinggate on RocksDB (durability "wal", its data dir in the temp dir) beside
# mosquitto with persistence true (persistence_location in the temp dir).
set -euo pipefail
cd "$(dirname "$0")/.."

BUILD=${BUILD:-build/release}
DURATION=${DURATION:-10}
ROUNDS=${ROUNDS:-2}
MODES=${MODES:-"pinned unpinned"}
INFLIGHT=${INFLIGHT:-1024}
QUEUED=${QUEUED:-10000}
BACKLOG=${BACKLOG:-100000}
MAX_PACKET=1048576

tg=$BUILD/tools/thinggate
ctl=$BUILD/tools/thinggatectl
bench=$BUILD/tools/thinggate-bench
for f in "$tg" "$ctl" "$bench"; do
    if [[ ! -x $f ]]; then
        echo "missing $f: cmake --preset release && cmake --build --preset release" \
            "--target thinggate thinggatectl thinggate-bench" >&2
        exit 2
    fi
done
if ! command -v mosquitto >/dev/null 2>&1 && [[ ! -x /usr/sbin/mosquitto ]]; then
    apt-get install -y mosquitto >&2
fi
mosquitto_bin=$(command -v mosquitto || echo /usr/sbin/mosquitto)
command -v python3 >/dev/null || { echo "python3 is needed to read the JSON lines" >&2; exit 2; }
ncpu=$(nproc)
if ((ncpu < 2)); then
    MODES=unpinned
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/bench-compare-XXXXXX")
raw=${RAW_DIR:-$tmp/raw}
mkdir -p "$raw"
tg_pid=""
mq_pid=""
stop_brokers() {
    local p i
    for p in $tg_pid $mq_pid; do
        kill "$p" 2>/dev/null || true
    done
    for p in $tg_pid $mq_pid; do
        # A broker that has not exited 10 s after SIGTERM is killed (and said so): the next
        # scenario must not wait for it.
        for ((i = 0; i < 100; i++)); do
            kill -0 "$p" 2>/dev/null || break
            sleep 0.1
        done
        if kill -0 "$p" 2>/dev/null; then
            echo "   (pid $p did not exit 10 s after SIGTERM: SIGKILL)" >&2
            kill -9 "$p" 2>/dev/null || true
        fi
        wait "$p" 2>/dev/null || true
    done
    tg_pid=""
    mq_pid=""
}
cleanup() {
    stop_brokers
    rm -rf "$tmp"
}
trap cleanup EXIT

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Waits (at most 15 s) until something accepts on 127.0.0.1:$1.
wait_port() {
    local deadline=$((SECONDS + 15))
    until (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; do
        if ((SECONDS >= deadline)); then
            echo "nothing listens on 127.0.0.1:$1" >&2
            return 1
        fi
        sleep 0.1
    done
}

# The development PKI: CA, server certificate (IP:127.0.0.1) and a device certificate.
"$ctl" pki dev --dir "$tmp/pki-data" --thing bench-device >/dev/null
pki=$tmp/pki-data/pki
ca=$pki/ca.pem
cert=$pki/bench-device.pem
key=$pki/bench-device.key

start_brokers() { # $1 = pinned | unpinned, $2 = memory | persistent
    local pin_broker=() shards=${UNPINNED_SHARDS:-0}
    if [[ $1 == pinned ]]; then
        pin_broker=(taskset -c 0)
        shards=1
    fi
    local tg_persistence=memory mq_persistence=false queued=$QUEUED
    if [[ $2 == persistent ]]; then
        # The backlog row: the offline session's queue must hold every message on both brokers.
        tg_persistence=rocksdb
        mq_persistence=true
        queued=$((BACKLOG > QUEUED ? BACKLOG : QUEUED))
    fi
    tg_tcp=$(free_port)
    tg_tls=$(free_port)
    mq_tcp=$(free_port)
    mq_tls=$(free_port)
    rm -rf "$tmp/tg-data" "$tmp/mq-data"
    mkdir -p "$tmp/mq-data"
    cat >"$tmp/thinggate.toml" <<EOF
log_level = "warn"
shards = $shards
data_dir = '$tmp/tg-data'
persistence = "$tg_persistence"   # "memory" as mosquitto's "persistence false"
durability = "wal"                # (the default) with "rocksdb": PUBACK after the WAL write

[dev]
pki = false

[limits]
receive_maximum = $INFLIGHT
max_inflight_out = $INFLIGHT
max_queued_messages = $queued
max_packet_size = $MAX_PACKET
slow_consumer = "drop-qos0"   # as mosquitto: QoS 0 beyond a slow client's queue is dropped, no disconnect

[[listener]]
name = "tcp"
type = "tcp"
address = "127.0.0.1"
port = $tg_tcp

[[listener]]
name = "tls"
type = "tls"
address = "127.0.0.1"
port = $tg_tls
client_auth = "ca-file"   # the load tool's certificates are not registered; no policies to check
ca_file = '$ca'
cert_file = '$pki/server.pem'
key_file = '$pki/server.key'
EOF
    cat >"$tmp/mosquitto.conf" <<EOF
# Run as the invoking user (as root, mosquitto would switch to "mosquitto" and could not read
# the temp dir's certificates).
user $(id -un)
per_listener_settings false
allow_anonymous true
persistence $mq_persistence
persistence_location $tmp/mq-data/
max_inflight_messages $INFLIGHT
max_queued_messages $queued
max_packet_size $MAX_PACKET
set_tcp_nodelay true
connection_messages false
log_dest stderr
log_type error
log_type warning

listener $mq_tcp 127.0.0.1

listener $mq_tls 127.0.0.1
cafile $ca
certfile $pki/server.pem
keyfile $pki/server.key
require_certificate true
EOF
    "${pin_broker[@]}" "$tg" --config "$tmp/thinggate.toml" 2>"$tmp/thinggate.log" &
    tg_pid=$!
    "${pin_broker[@]}" "$mosquitto_bin" -c "$tmp/mosquitto.conf" 2>"$tmp/mosquitto.log" &
    mq_pid=$!
    if ! { wait_port "$tg_tcp" && wait_port "$tg_tls" && wait_port "$mq_tcp" && wait_port "$mq_tls"; }; then
        cat "$tmp/thinggate.log" "$tmp/mosquitto.log" >&2
        exit 1
    fi
}

# name | figure | bench arguments (a leading "tls" selects the mutual-TLS listeners)
scenarios=(
    "fan-in 100→1 64 B QoS 0|msgs|--scenario fan-in --publishers 100 --payload 64 --qos 0 --drain 20"
    "fan-in 100→1 64 B QoS 1|msgs|--scenario fan-in --publishers 100 --payload 64 --qos 1"
    "fan-out 1→100 64 B QoS 0|msgs|--scenario fan-out --subscribers 100 --payload 64 --qos 0 --drain 20"
    "fan-out 1→100 64 B QoS 1|msgs|--scenario fan-out --subscribers 100 --payload 64 --qos 1"
    "fan-out 1→100 4 KiB QoS 1|mb|--scenario fan-out --subscribers 100 --payload 4096 --qos 1"
    "fan-out 1→100 64 KiB QoS 1|mb|--scenario fan-out --subscribers 100 --payload 65536 --qos 1"
    "fan-out 1→100 4 KiB QoS 1 mTLS|mb|tls --scenario fan-out --subscribers 100 --payload 4096 --qos 1"
    "pairs 10 1 KiB QoS 2|msgs|--scenario pairs --pairs 10 --payload 1024 --qos 2"
    "latency 1k/s QoS 1|lat|--scenario latency --rate 1000 --qos 1"
    "latency 20k/s QoS 1|lat|--scenario latency --rate 20000 --qos 1"
    "backlog 10→offline 64 B QoS 1|backlog|--scenario backlog --publishers 10 --payload 64 --qos 1 --max-messages $BACKLOG --drain 30"
    "storm mTLS 1.3|conn|tls --tls-version 1.3 --scenario storm --connections 8"
    "idle 1000 TCP|mem|--scenario idle --connections 1000"
    "idle 1000 mTLS|mem|tls --scenario idle --connections 1000"
)

wanted=("$@")
selected() {
    ((${#wanted[@]} == 0)) && return 0
    local w
    for w in "${wanted[@]}"; do
        [[ $1 == "$w"* ]] && return 0
    done
    return 1
}

# Reads the JSON lines of one --compare run ($1) and appends one row to the figures table ($5)
# and one to the per-broker-CPU-second table ($6).
row() { # $1 json file, $2 mode, $3 name, $4 figure kind, $5 table, $6 cpu table
    python3 - "$1" "$2" "$3" "$4" >>"$5" 3>>"$6" <<'EOF'
import json, os, sys
path, mode, name, kind = sys.argv[1:5]
cpu_out = os.fdopen(3, "w")
lines = [json.loads(l) for l in open(path) if l.startswith('{')]
if not lines or not lines[-1].get("compare"):
    print(f"| {mode} | {name} | (no result) | | | | |")
    print(f"| {mode} | {name} | (no result) | | | | |", file=cpu_out)
    sys.exit(0)
cmp = lines[-1]
runs = lines[:-1]
a, b, r = cmp["a"], cmp["b"], cmp["ratio_a_over_b"]
def fmt(v, unit=""):
    if v is None:
        return "-"
    return f"{v:,.0f}{unit}" if abs(v) >= 100 else f"{v:,.2f}{unit}"
def median(runs_, key):
    vals = sorted(x.get(key) or 0 for x in runs_)
    n = len(vals)
    if n == 0:
        return 0
    return vals[n // 2] if n % 2 else (vals[n // 2 - 1] + vals[n // 2]) / 2
ra = [x for x in runs if x["target"] == a["target"]]
rb = [x for x in runs if x["target"] == b["target"]]
if kind in ("msgs", "mb"):
    key = "msgs_per_s_delivered"
    ta, tb = fmt(a[key], "/s"), fmt(b[key], "/s")
    if kind == "mb":
        ta += f" ({median(ra, 'mb_per_s_delivered'):,.0f} MB/s)"
        tb += f" ({median(rb, 'mb_per_s_delivered'):,.0f} MB/s)"
    ratio = r.get(key)
elif kind == "lat":
    ta = f"{a['p50_us']:,.0f} / {a['p99_us']:,.0f} µs"
    tb = f"{b['p50_us']:,.0f} / {b['p99_us']:,.0f} µs"
    ratio = r.get("p99_us")
elif kind == "conn":
    ta, tb = fmt(a["connects_per_s"], "/s"), fmt(b["connects_per_s"], "/s")
    ratio = r.get("connects_per_s")
elif kind == "backlog":
    ta = f"store {fmt(a['msgs_per_s_stored'], '/s')}, drain {fmt(a['msgs_per_s_drained'], '/s')}"
    tb = f"store {fmt(b['msgs_per_s_stored'], '/s')}, drain {fmt(b['msgs_per_s_drained'], '/s')}"
    ratio = None
else:
    # The first round only: each broker is freshly started, while a later round reuses the
    # memory the connections of the round before freed (its growth reads near zero).
    def first(runs_):
        mem = [x for x in runs_ if x.get("memory") and x.get("round") == 1]
        return mem[0]["memory"]["bytes_per_connection"] if mem else None
    fa, fb = first(ra), first(rb)
    ta = fmt(None if fa is None else fa / 1024, " KiB")
    tb = fmt(None if fb is None else fb / 1024, " KiB")
    ratio = None if not fa or not fb else fa / fb
rs = "-" if ratio is None else f"{ratio:.2f}"
if kind == "backlog":
    f2 = lambda v: "-" if v is None else f"{v:.2f}"
    rs = f"{f2(r.get('msgs_per_s_stored'))} / {f2(r.get('msgs_per_s_drained'))}"
    name += (f" (dup {sum(x['duplicates'] for x in ra)} / {sum(x['duplicates'] for x in rb)},"
             f" reordered {sum(x['out_of_order'] for x in ra)} / {sum(x['out_of_order'] for x in rb)})")
print(f"| {mode} | {name} | {ta} | {tb} | {rs} | {a['lost']} / {b['lost']} | {a['errors']} / {b['errors']} |")

# Per broker CPU second: delivered messages (storm: connects) per second of the broker's CPU
# over the measured phase, the broker's CPU seconds and the tool's CPU (% of one core).
if kind == "conn":
    key, unit = "connects_per_broker_cpu_s", ""
elif kind == "mem":
    key, unit = None, ""
else:
    key, unit = "msgs_per_broker_cpu_s", ""
if key:
    pa, pb, pr = fmt(a.get(key), unit), fmt(b.get(key), unit), r.get(key)
    prs = "-" if pr is None else f"{pr:.2f}"
else:
    pa = pb = prs = "-"
cpu = f"{median(ra, 'broker_cpu_s'):.2f} / {median(rb, 'broker_cpu_s'):.2f}"
tool = f"{median(ra, 'tool_cpu_pct'):.0f} / {median(rb, 'tool_cpu_pct'):.0f} %"
print(f"| {mode} | {name} | {pa} | {pb} | {prs} | {cpu} | {tool} |", file=cpu_out)
EOF
}

table=$tmp/table.md
{
    echo "| mode | scenario | thinggate (A) | mosquitto (B) | A/B | lost A / B | errors A / B |"
    echo "|---|---|---|---|---|---|---|"
} >"$table"
cpu_table=$tmp/cpu-table.md
{
    echo "| mode | scenario | thinggate (A) per broker CPU s | mosquitto (B) per broker CPU s | A/B |" \
        "broker CPU s A / B | tool CPU A / B (% of a core) |"
    echo "|---|---|---|---|---|---|---|"
} >"$cpu_table"

for mode in $MODES; do
    pin_tool=()
    threads=()
    if [[ $mode == pinned ]]; then
        pin_tool=(taskset -c 1)
        threads=(--threads 1)
    elif [[ -n ${UNPINNED_THREADS:-} ]]; then
        threads=(--threads "$UNPINNED_THREADS")
    fi
    i=0
    for s in "${scenarios[@]}"; do
        IFS='|' read -r name kind args <<<"$s"
        i=$((i + 1))
        selected "$name" || continue
        read -ra argv <<<"$args"
        out=$raw/$mode-$i.json
        if [[ -n ${FROM_RAW:-} ]]; then
            # Only the tables, from the JSON lines of an earlier run kept in RAW_DIR.
            [[ -f $out ]] && row "$out" "$mode" "$name" "$kind" "$table" "$cpu_table"
            continue
        fi
        echo "== $mode: $name" >&2
        # Fresh brokers for every scenario: memory and queues left by one must not count in the next.
        storage=memory
        [[ $kind == backlog ]] && storage=persistent
        start_brokers "$mode" "$storage"
        targets=(--target "127.0.0.1:$tg_tcp" --target "127.0.0.1:$mq_tcp")
        if [[ ${argv[0]} == tls ]]; then
            argv=("${argv[@]:1}")
            targets=(--target "127.0.0.1:$tg_tls" --target "127.0.0.1:$mq_tls"
                --tls --cafile "$ca" --cert "$cert" --key "$key")
        fi
        "${pin_tool[@]}" "$bench" --compare --rounds "$ROUNDS" --duration "$DURATION" --quiet \
            "${threads[@]}" "${targets[@]}" --broker-pid "$tg_pid" --broker-pid "$mq_pid" \
            "${argv[@]}" >"$out" || echo "   (a run reported errors; see the table)" >&2
        stop_brokers
        row "$out" "$mode" "$name" "$kind" "$table" "$cpu_table"
    done
done

echo
echo "thinggate-bench --compare, DURATION=${DURATION}s per run, ROUNDS=$ROUNDS (medians)," \
    "$(date -u +%Y-%m-%dT%H:%MZ), $ncpu cpus, $(uname -r)"
echo "brokers: thinggate $(git rev-parse --short HEAD 2>/dev/null || echo '?') ($BUILD)," \
    "$("$mosquitto_bin" -h 2>/dev/null | head -1 || true)"
echo "pinned: brokers on cpu 0 (thinggate 1 shard), the tool on cpu 1 with 1 thread;" \
    "unpinned: thinggate shards = ${UNPINNED_SHARDS:-0} (0 = one per core), mosquitto 1 thread," \
    "the tool ${UNPINNED_THREADS:-one per core} thread(s)"
echo "limits on both: in-flight $INFLIGHT, queued $QUEUED, max packet $MAX_PACKET;" \
    "both in memory (thinggate persistence \"memory\", mosquitto persistence false)"
echo "backlog row: $BACKLOG QoS 1 messages to an offline persistent session, both queues" \
    "raised to hold them; thinggate persistence \"rocksdb\", durability \"wal\" (each message" \
    "is in RocksDB's write-ahead log before its PUBACK: it survives a crash of the process);" \
    "mosquitto persistence true, which writes its database only every autosave_interval" \
    "(default 1800 s) and at exit: a message it acknowledged is not durable (lost on a crash)."
echo "store = messages acknowledged (stored) per second while the subscriber is offline;" \
    "drain = messages per second from the reconnect's CONNACK to the last delivery;" \
    "A/B = store / drain"
echo
cat "$table"
echo
echo "Per broker CPU second: delivered messages (storm: connects) per second of broker CPU" \
    "(utime + stime of /proc/<pid>/stat over the measured phase); the tool's CPU near 100 % of" \
    "its core(s) means the tool, not the broker, may be the limit."
echo
cat "$cpu_table"
