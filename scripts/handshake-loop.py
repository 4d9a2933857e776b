#!/usr/bin/env python3
"""handshake-loop.py — N sequential mutual-TLS 1.3 connections, each: TCP connect, handshake,
MQTT 3.1.1 CONNECT / CONNACK, DISCONNECT, close (no close_notify). For instruction counts of the
broker's handshake path under callgrind (docs/performance.md, "Handshakes").

Usage: scripts/handshake-loop.py PORT PKI_DIR N [resume|leaf|resume,leaf]
  PKI_DIR holds ca.pem, bench-device.pem, bench-device.key (thinggatectl pki dev --thing
  bench-device). resume: each connection resumes the previous one's session. leaf: the client
  loads no CA (and does not verify the server), so OpenSSL sends its leaf only, as devices do.
Prints "ok <connections acknowledged> reused <resumed>". Loopback only.
"""
import socket, ssl, sys, time
port, pki, n = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
mode = sys.argv[4] if len(sys.argv) > 4 else ""
resume = "resume" in mode
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.minimum_version = ctx.maximum_version = ssl.TLSVersion.TLSv1_3
if "leaf" in mode:
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE  # no CA in the client's store: it sends its leaf only
else:
    ctx.load_verify_locations(f"{pki}/ca.pem")
ctx.load_cert_chain(f"{pki}/bench-device.pem", f"{pki}/bench-device.key")
ctx.check_hostname = False
cid = b"bench-device-x"
var = b"\x00\x04MQTT\x04\x02\x00\x3c" + len(cid).to_bytes(2, "big") + cid
connect = bytes([0x10, len(var)]) + var
sess = None; ok = 0; reused = 0
for i in range(n):
    raw = socket.create_connection(("127.0.0.1", port))
    raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    s = ctx.wrap_socket(raw, session=sess)
    s.sendall(connect)
    ack = s.recv(4)
    if ack == b"\x20\x02\x00\x00": ok += 1
    reused += s.session_reused
    if resume: sess = s.session
    s.sendall(b"\xe0\x00"); s.close()
print(f"ok {ok} reused {reused}")
