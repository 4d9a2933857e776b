#!/usr/bin/env python3
"""handshake-cpu.py — CPU seconds per full (or resumed) mutual-TLS handshake, broker and client.

Starts, pinned to cpu 0, the release thinggate (one shard; one listener with client_auth =
"ca-file" and one with client_auth = "registry", the dev PKI registered plus an allow-all policy
so the load tool's random client ids may connect) and Debian's mosquitto (require_certificate);
then runs connection storms against each of them interleaved (A B C A B C ...), the client pinned
to cpu 1, and reads the broker's CPU time (utime + stime of /proc/<pid>/stat) before and after
each storm and the client's CPU time (wait4 rusage). Each storm iteration: TCP connect, TLS 1.3
handshake with the client certificate (ECDSA P-256), MQTT 3.1.1 CONNECT/CONNACK, DISCONNECT,
close.

Clients:
  bench   thinggate-bench --scenario storm (full handshakes only; the figure of bench-compare.sh)
  py      a small client of this script (N processes): full handshakes, or with --resume
          stateful resumption (each process keeps the session of its previous connection)

Usage:
  scripts/handshake-cpu.py [--client bench|py] [--resume] [--duration 5] [--rounds 2]
                           [--connections 8] [--targets tg-ca,tg-registry,mosquitto]
                           [--thinggate PATH]  (A/B: --thinggate-b PATH adds target tg-ca-b ...)
Prints one line per run and a median table. Loopback only.
"""
import argparse
import json
import os
import resource
import shutil
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time

HZ = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # fields[0] is state (field 3); utime is field 14, stime field 15
    return (int(fields[11]) + int(fields[12])) / HZ


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def wait_port(port, deadline=15):
    end = time.time() + deadline
    while time.time() < end:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port}")


# --- the small client -------------------------------------------------------------------------

def mqtt_connect(client_id):
    cid = client_id.encode()
    var = b"\x00\x04MQTT\x04\x02\x00\x3c" + len(cid).to_bytes(2, "big") + cid
    return bytes([0x10, len(var)]) + var


def recv_exact(s, n):
    out = b""
    while len(out) < n:
        chunk = s.recv(n - len(out))
        if not chunk:
            raise ConnectionError("closed")
        out += chunk
    return out


def py_worker(index, port, pki, resume, duration, start_at, result_fd):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.maximum_version = ssl.TLSVersion.TLSv1_3
    ctx.load_verify_locations(f"{pki}/ca.pem")
    ctx.load_cert_chain(f"{pki}/bench-device.pem", f"{pki}/bench-device.key")
    ctx.check_hostname = False
    session = None
    done = resumed = errors = 0
    while time.time() < start_at:
        time.sleep(0.001)
    end = start_at + duration
    cid = f"bench-device-{index}"
    while time.time() < end:
        try:
            raw = socket.create_connection(("127.0.0.1", port))
            raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            s = ctx.wrap_socket(raw, session=session if resume else None)
            s.sendall(mqtt_connect(cid))
            ack = recv_exact(s, 4)
            if ack[0] != 0x20 or ack[3] != 0:
                raise ConnectionError(f"CONNACK {ack.hex()}")
            if s.session_reused:
                resumed += 1
            if resume:
                session = s.session
            s.sendall(b"\xe0\x00")
            s.close()
            done += 1
        except (OSError, ssl.SSLError, ConnectionError) as e:
            errors += 1
            if errors <= 3:
                print(f"py client {index}: {e}", file=sys.stderr)
            session = None
    os.write(result_fd, json.dumps({"done": done, "resumed": resumed, "errors": errors}).encode())
    os._exit(0)


def run_py(port, pki, resume, duration, n):
    """Forks n client processes pinned to cpu 1; returns (handshakes, resumed, errors, cpu s)."""
    start_at = time.time() + 0.3
    kids = []
    for i in range(n):
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(r)
            if hasattr(os, "sched_setaffinity") and os.cpu_count() > 1:
                os.sched_setaffinity(0, {1})
            py_worker(i, port, pki, resume, duration, start_at, w)
        os.close(w)
        kids.append((pid, r))
    total = {"done": 0, "resumed": 0, "errors": 0}
    cpu = 0.0
    for pid, r in kids:
        data = b""
        while chunk := os.read(r, 4096):
            data += chunk
        os.close(r)
        _, _, ru = os.wait4(pid, 0)
        cpu += ru.ru_utime + ru.ru_stime
        for k, v in json.loads(data or b'{"done":0,"resumed":0,"errors":1}').items():
            total[k] += v
    return total["done"], total["resumed"], total["errors"], cpu


def run_bench(bench, port, pki, duration, n):
    cmd = ["taskset", "-c", "1", bench, "--scenario", "storm", "--connections", str(n),
           "--threads", "1", "--duration", str(duration), "--tls", "--tls-version", "1.3",
           "--quiet", "--target", f"127.0.0.1:{port}",
           "--cafile", f"{pki}/ca.pem", "--cert", f"{pki}/bench-device.pem",
           "--key", f"{pki}/bench-device.key"]
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = p.communicate()
    # rusage of that child only: wait4 inside communicate() already reaped it, so use the
    # difference of RUSAGE_CHILDREN around the call (taken by the caller).
    line = next((l for l in out.decode().splitlines() if l.startswith("{")), None)
    if line is None:
        raise RuntimeError(f"thinggate-bench printed no result: {err.decode()[-500:]}")
    j = json.loads(line)
    return j["connects"], 0, j["errors"], j["connect_s"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build/release")
    ap.add_argument("--thinggate", default=None, help="daemon binary (default BUILD/tools/thinggate)")
    ap.add_argument("--thinggate-b", default=None, help="second daemon binary: adds -b targets")
    ap.add_argument("--client", choices=["bench", "py"], default="bench")
    ap.add_argument("--resume", action="store_true", help="py client: stateful resumption")
    ap.add_argument("--duration", type=float, default=5)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--connections", type=int, default=8)
    ap.add_argument("--targets", default="tg-ca,tg-registry,mosquitto")
    ap.add_argument("--keep", action="store_true", help="keep the temp dir")
    a = ap.parse_args()

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    build = os.path.join(root, a.build) if not os.path.isabs(a.build) else a.build
    tg_bins = {"": a.thinggate or f"{build}/tools/thinggate"}
    if a.thinggate_b:
        tg_bins["-b"] = a.thinggate_b
    ctl = f"{build}/tools/thinggatectl"
    bench = f"{build}/tools/thinggate-bench"
    if a.resume and a.client != "py":
        sys.exit("--resume needs --client py")

    tmp = tempfile.mkdtemp(prefix="handshake-cpu-")
    procs = []
    try:
        subprocess.run([ctl, "pki", "dev", "--dir", f"{tmp}/data", "--thing", "bench-device"],
                       check=True, stdout=subprocess.DEVNULL)
        pki = f"{tmp}/data/pki"
        with open(f"{tmp}/registry.json", "w") as f:
            json.dump({
                "format": "thinggate-registry", "version": 1,
                "policies": [{"name": "bench-all", "document": {
                    "Version": "2012-10-17",
                    "Statement": [{"Effect": "Allow", "Action": "iot:*", "Resource": "*"}]}}],
                "certificates": [{"pem_file": f"{pki}/bench-device.pem", "status": "ACTIVE",
                                  "policies": ["bench-all"]}],
            }, f)
        ports = {}
        for suffix, binary in tg_bins.items():
            ca_port, reg_port = free_port(), free_port()
            data = f"{tmp}/tg{suffix}"
            shutil.copytree(f"{tmp}/data", data)
            with open(f"{tmp}/thinggate{suffix}.toml", "w") as f:
                f.write(f"""log_level = "warn"
shards = 1
data_dir = '{data}'
persistence = "memory"
registry_file = '{tmp}/registry.json'

[dev]
pki = true
thing = "bench-device"

[[listener]]
name = "tls-ca"
type = "tls"
address = "127.0.0.1"
port = {ca_port}
client_auth = "ca-file"

[[listener]]
name = "tls-registry"
type = "tls"
address = "127.0.0.1"
port = {reg_port}
""")
            log = open(f"{tmp}/thinggate{suffix}.log", "w")
            p = subprocess.Popen(["taskset", "-c", "0", binary, "--config",
                                  f"{tmp}/thinggate{suffix}.toml"], stderr=log, stdout=log)
            procs.append(p)
            ports[f"tg-ca{suffix}"] = (p.pid, ca_port)
            ports[f"tg-registry{suffix}"] = (p.pid, reg_port)
        mq_port = free_port()
        with open(f"{tmp}/mosquitto.conf", "w") as f:
            f.write(f"""user {os.environ.get('USER') or subprocess.check_output(['id', '-un']).decode().strip()}
per_listener_settings false
allow_anonymous true
persistence false
set_tcp_nodelay true
connection_messages false
log_dest stderr
log_type error
log_type warning
listener {mq_port} 127.0.0.1
cafile {pki}/ca.pem
certfile {pki}/server.pem
keyfile {pki}/server.key
require_certificate true
""")
        mq = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        p = subprocess.Popen(["taskset", "-c", "0", mq, "-c", f"{tmp}/mosquitto.conf"],
                             stderr=open(f"{tmp}/mosquitto.log", "w"))
        procs.append(p)
        ports["mosquitto"] = (p.pid, mq_port)
        for _, port in ports.values():
            wait_port(port)
        time.sleep(0.5)

        targets = []
        for t in a.targets.split(","):
            targets.append(t)
            if "-b" in tg_bins and t.startswith("tg-"):
                targets.append(t + "-b")
        rows = {t: [] for t in targets}
        for rnd in range(a.rounds):
            for t in targets:
                pid, port = ports[t]
                b0 = cpu_seconds(pid)
                c0 = resource.getrusage(resource.RUSAGE_CHILDREN)
                w0 = time.monotonic()
                if a.client == "bench":
                    n, resumed, errors, storm_s = run_bench(bench, port, pki, a.duration,
                                                             a.connections)
                    c1 = resource.getrusage(resource.RUSAGE_CHILDREN)
                    client_cpu = (c1.ru_utime + c1.ru_stime) - (c0.ru_utime + c0.ru_stime)
                else:
                    n, resumed, errors, client_cpu = run_py(port, pki, a.resume, a.duration,
                                                            a.connections)
                    storm_s = a.duration
                wall = time.monotonic() - w0
                b1 = cpu_seconds(pid)
                broker_cpu = b1 - b0
                r = {"round": rnd, "target": t, "handshakes": n, "resumed": resumed,
                     "errors": errors, "per_s": n / storm_s if storm_s else 0,
                     "broker_cpu_s": broker_cpu, "broker_util": broker_cpu / wall,
                     "broker_us_per_hs": 1e6 * broker_cpu / n if n else 0,
                     "hs_per_broker_cpu_s": n / broker_cpu if broker_cpu else 0,
                     "client_cpu_s": client_cpu, "client_util": client_cpu / wall,
                     "client_us_per_hs": 1e6 * client_cpu / n if n else 0}
                rows[t].append(r)
                print(json.dumps({k: round(v, 3) if isinstance(v, float) else v
                                  for k, v in r.items()}), flush=True)
        print(f"\n| target | handshakes/s | broker µs CPU / handshake | handshakes per broker "
              f"CPU-s | broker core busy | client µs CPU / handshake | client core busy | "
              f"resumed | errors |")
        print("|---|---|---|---|---|---|---|---|---|")
        for t in targets:
            rs = rows[t]
            med = lambda k: statistics.median(x[k] for x in rs)
            print(f"| {t} | {med('per_s'):,.0f} | {med('broker_us_per_hs'):,.0f} | "
                  f"{med('hs_per_broker_cpu_s'):,.0f} | {100 * med('broker_util'):.0f} % | "
                  f"{med('client_us_per_hs'):,.0f} | {100 * med('client_util'):.0f} % | "
                  f"{sum(x['resumed'] for x in rs)} | {sum(x['errors'] for x in rs)} |")
    finally:
        for p in procs:
            p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
        if a.keep:
            print(f"kept {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
