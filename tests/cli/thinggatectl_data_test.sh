#!/usr/bin/env bash
# Drives the real `thinggatectl data` commands on a RocksDB data dir written by make_data_dir
# (tests/cli/make_data_dir.cpp, which lists the records it writes): stats counts, export JSON
# (parsed by python3, records present, no secret), compact, checkpoint (opens, same stats),
# refusal of a foreign dir, a locked dir and an existing checkpoint target, usage errors exit 2.
# Usage: thinggatectl_data_test.sh THINGGATECTL MAKE_DATA_DIR
set -euo pipefail
ctl=$1
helper=$2
dir=$(mktemp -d)
hold_pid=
cleanup() {
    if [ -n "$hold_pid" ]; then kill "$hold_pid" 2>/dev/null || true; wait "$hold_pid" 2>/dev/null || true; fi
    rm -rf "$dir"
}
trap cleanup EXIT
failures=0
check() { # check "description" command...
    local what=$1; shift
    if "$@" >"$dir/out" 2>&1; then echo "ok   $what"; else echo "FAIL $what"; cat "$dir/out"; failures=$((failures + 1)); fi
}
refuse() { # refuse EXPECTED_EXIT "description" PATTERN command...: exit code and message
    local want=$1 what=$2 pattern=$3; shift 3
    set +e; "$@" >"$dir/out" 2>&1; local got=$?; set -e
    if [ "$got" = "$want" ] && grep -q -- "$pattern" "$dir/out"; then echo "ok   $what"
    else echo "FAIL $what (exit $got, wanted $want and '$pattern')"; cat "$dir/out"; failures=$((failures + 1)); fi
}
stat_of() { # stat_of DIR LABEL: the value of one line of `data stats`
    "$ctl" data stats --data-dir "$1" | sed -n "s/^$2: *//p"
}

data=$dir/data
check "helper writes the data dir" "$helper" write "$data"

check "data stats" "$ctl" data stats --data-dir "$data"
cp "$dir/out" "$dir/stats"
expect() { # expect LABEL VALUE-PREFIX
    check "stats: $1 = $2" bash -c "grep -Eq '^$1: +$2' '$dir/stats'"
}
expect "schema version" 1
expect "created at" "20[0-9][0-9]-[0-9]{2}-[0-9]{2}T"
expect "last heartbeat" "2023-11-14T22:15:00.000Z"
expect sessions 2
expect subscriptions 3
expect queued 2
expect "in flight" 1
expect "incoming qos 2" 1
expect retained 2
expect registry "3 \(thing 1, certificate 1, operator_account 1\)"
expect jobs "1 \(job 1\)"
expect streams 0
expect "firmware files" 1
expect "size on disk" "[1-9][0-9]* bytes"

check "data export --out" "$ctl" data export --data-dir "$data" --out "$dir/all.json"
check "export is one JSON document with the records" python3 - "$dir/all.json" <<'EOF'
import base64, json, sys
with open(sys.argv[1]) as f:
    d = json.load(f)
assert d["format"] == "thinggate-data-export" and d["format_version"] == 1, d["format"]
assert d["schema_version"] == 1
assert list(d)[:8] == ["format", "format_version", "schema_version", "data_dir", "created_at",
                       "last_heartbeat", "exported_at", "kind"], list(d)
counts = {k: len(d[k]) for k in ("sessions", "subscriptions", "queued", "inflight",
                                 "incoming_qos2", "retained", "registry", "firmware_files")}
assert counts == {"sessions": 2, "subscriptions": 3, "queued": 2, "inflight": 1,
                  "incoming_qos2": 1, "retained": 2, "registry": 4, "firmware_files": 1}, counts
s = {x["client_id"]: x for x in d["sessions"]}
assert s["sensor-1"]["expiry_interval"] == 3600
assert s["sensor-1"]["disconnected_at"] == "2023-11-14T22:13:20.250Z"
assert s["sensor-1"]["will"]["topic"] == "status/sensor-1"
assert base64.b64decode(s["sensor-1"]["will"]["payload_base64"]) == b"offline"
assert s["sensor-1"]["will"]["user_properties"] == [{"key": "site", "value": "north"}]
assert s["legacy-2"]["protocol_level"] == 4 and s["legacy-2"]["will"] is None
subs = sorted((x["client_id"], x["filter"], x["subscription_id"]) for x in d["subscriptions"])
assert ("sensor-1", "cmd/sensor-1/#", 12) in subs and ("sensor-1", "$share/g/jobs/+", 0) in subs
q = d["queued"]
assert [x["seq"] for x in q] == [3, 4], q
assert q[0]["delivery"]["message"]["topic"] == "cmd/sensor-1/reboot"
assert base64.b64decode(q[0]["delivery"]["message"]["correlation_data_base64"]) == b"\x01\x02\xff"
assert q[0]["delivery"]["subscription_ids"] == [12]
f = d["inflight"][0]
assert f["packet_id"] == 42 and f["state"] == "wait_pubrec", f
assert d["incoming_qos2"] == [{"client_id": "sensor-1", "packet_id": 9}]
r = {x["topic"]: x for x in d["retained"]}
assert base64.b64decode(r["firmware/latest"]["payload_base64"]) == b"\x00\x01\x02\x80\xfe"
assert base64.b64decode(r["status/sensor-1"]["payload_base64"]) == b"online"
assert r["status/sensor-1"]["payload_format_indicator"] == 1
reg = {(x["kind"], x["name"]): x for x in d["registry"]}
assert base64.b64decode(reg[("certificate", "3f2a")]["value_base64"]).startswith(b"-----BEGIN CERT")
acct = reg[("operator_account", "admin")]
assert acct["value_base64"] is None and acct["value_omitted"] is True and acct["size"] == 11
assert reg[("job", "job-1")]["family"] == "jobs"
assert d["firmware_files"] == [{"kind": "firmware_file", "name": "fw-1.0.bin", "size": 4096}]
EOF
check "export never holds the operator account's secret" bash -c "! grep -q SECRET '$dir/all.json' && ! grep -q \"$(printf SECRET-HASH | base64)\" '$dir/all.json'"
check "export to stdout, --kind sessions" bash -c "'$ctl' data export --data-dir '$data' --kind sessions > '$dir/sessions.json'"
check "--kind sessions holds only sessions" python3 -c "
import json, sys
d = json.load(open(sys.argv[1]))
assert d['kind'] == 'sessions' and len(d['sessions']) == 2
assert not any(k in d for k in ('subscriptions', 'queued', 'retained', 'registry')), list(d)
" "$dir/sessions.json"
check "--kind messages holds queued, inflight, incoming_qos2" bash -c "'$ctl' data export --data-dir '$data' --kind messages | python3 -c '
import json, sys
d = json.load(sys.stdin)
assert (len(d[\"queued\"]), len(d[\"inflight\"]), len(d[\"incoming_qos2\"])) == (2, 1, 1)
assert \"sessions\" not in d'"

check "data compact" "$ctl" data compact --data-dir "$data"
check "stats unchanged after compact" bash -c "[ \"\$('$ctl' data stats --data-dir '$data' | grep -E '^(sessions|queued|retained|registry):')\" = \"\$(grep -E '^(sessions|queued|retained|registry):' '$dir/stats')\" ]"

check "data checkpoint" "$ctl" data checkpoint --data-dir "$data" --out "$dir/backup"
"$ctl" data stats --data-dir "$dir/backup" | grep -Ev '^(data dir|size on disk):' >"$dir/backup.stats" || true
"$ctl" data stats --data-dir "$data" | grep -Ev '^(data dir|size on disk):' >"$dir/data.stats" || true
check "the checkpoint opens with the same stats" diff "$dir/data.stats" "$dir/backup.stats"
check "the checkpoint exports the same sessions" bash -c "diff <('$ctl' data export --data-dir '$data' --kind sessions | grep -Ev '\"(data_dir|exported_at)\"') <('$ctl' data export --data-dir '$dir/backup' --kind sessions | grep -Ev '\"(data_dir|exported_at)\"')"
refuse 1 "checkpoint refuses an existing --out" "already exists" "$ctl" data checkpoint --data-dir "$data" --out "$dir/backup"

mkdir "$dir/foreign"; echo "not a database" >"$dir/foreign/notes.txt"
refuse 1 "a foreign dir is refused, naming it" "$dir/foreign.*not a thinggate data dir" "$ctl" data stats --data-dir "$dir/foreign"
check "the foreign dir is left as it was" bash -c "[ \"\$(ls '$dir/foreign')\" = notes.txt ]"
refuse 1 "a missing dir is refused (not created)" "no such directory" "$ctl" data export --data-dir "$dir/missing"
check "the missing dir was not created" test ! -e "$dir/missing"
mkdir "$dir/empty"
refuse 1 "an empty dir is refused (no database created)" "creating one is off" "$ctl" data stats --data-dir "$dir/empty"

# Hold the lock in a background helper; it prints "locked" once the store is open.
coproc holder { exec "$helper" hold "$data"; }
hold_pid=$holder_PID
line=
read -r -t 60 line <&"${holder[0]}" || true
check "the helper holds the data dir open" test "$line" = locked
refuse 1 "a locked dir: stats says it is in use" "the data dir is in use (is thinggate running?)" "$ctl" data stats --data-dir "$data"
refuse 1 "a locked dir: export too" "the data dir is in use (is thinggate running?)" "$ctl" data export --data-dir "$data"
refuse 1 "a locked dir: compact too" "the data dir is in use (is thinggate running?)" "$ctl" data compact --data-dir "$data"
kill "$hold_pid"; wait "$hold_pid" 2>/dev/null || true; hold_pid=
check "stats works again once the lock is released" "$ctl" data stats --data-dir "$data"

refuse 2 "stats without --data-dir names the option" "--data-dir" "$ctl" data stats
refuse 2 "a bad --kind names the option" "--kind" "$ctl" data export --data-dir "$data" --kind everything
refuse 2 "checkpoint without --out names the option" "--out" "$ctl" data checkpoint --data-dir "$data"
refuse 2 "an unknown option is a usage error" "--bogus" "$ctl" data compact --data-dir "$data" --bogus
refuse 2 "an unknown command is a usage error" "unknown command 'frobnicate'" "$ctl" data frobnicate
refuse 2 "data without a command is a usage error" "usage: thinggatectl data" "$ctl" data
check "data --help" bash -c "'$ctl' data --help | grep -q checkpoint"
for c in stats export compact checkpoint; do
    check "data $c --help" bash -c "'$ctl' data $c --help | grep -q -- --data-dir"
done
check "thinggatectl --help lists data" bash -c "'$ctl' --help | grep -q '^  data '"

if [ "$failures" -ne 0 ]; then echo "$failures check(s) failed"; exit 1; fi
echo "thinggatectl data: all checks passed"
