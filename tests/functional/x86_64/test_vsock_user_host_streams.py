#!/usr/bin/env python3
#
# virtio-vsock-user functional tests: host streams
#
# Host endpoint stream semantics with real guests.
#
# Each test boots one guest that runs a tests/guest/scenarios/hs-* script
# built on the guest program vsock-rr (tests/guest/src/vsock-rr.c), while
# this module plays the host peers over Unix and TCP loopback sockets
# (never host AF_VSOCK) and reads the device's counters over QMP:
#
#   hs-rr-microvm      request / SHUT_WR / response, 50 rounds on each of
#   hs-rr-pc           uds-path, connect= forward, CONNECT (every other round
#                      pipelined: CONNECT line, request and SHUT_WR in one go)
#                      and listen= forward; exact bytes, each round < 1 s
#   hs-many-microvm    200 connections open at once each way: device counters
#                      exactly 200 while open, 0 afterwards
#   host-endpoints-microvm  4 MiB (VSOCK_USER_HOST_BYTES) each way through
#                      uds-path and both kinds of forward, SHA-256 on both
#                      sides, a slow host reader for backpressure
#   hs-stream-pc       the same four streams on -M pc with
#                      virtio-vsock-user-pci
#
# The helpers are in ../vsock_user_host.py (test_vsock_user_host_faults.py
# has the peer-death and reboot tests).
#
# Copyright (c) 2026 The virtio-vsock-user authors
#
# SPDX-License-Identifier: GPL-2.0-or-later

import errno
import hashlib
import json
import os
import random
import re
import select
import socket
import subprocess
import sys
import threading
import time

import vsock_user as vsu
from vsock_user_host import *  # noqa: F401,F403  (the shared helpers)


def check_rr_microvm(r, tmp):
    return check_rr(r, tmp, "microvm")


def check_rr_pc(r, tmp):
    return check_rr(r, tmp, "pc")


# ---- 2. 200 concurrent connections ------------------------------------------

def check_many_microvm(r, tmp):
    """200 connections open at once each way; counters back to 0."""
    r.need_device("virtio-vsock-user")
    n = 100                                 # per path, 2 paths per way
    uds = os.path.join(tmp, "v.sock")
    fwd = os.path.join(tmp, "fwd8200.sock")
    l_tcp, tport = tcp_listen_fd()
    l_hybrid = unix_listener(uds + "_5200")
    l_fwd = unix_listener(fwd)
    l_sync = unix_listener(uds + "_5299")
    devices = [
        "-object", "vsock-user-forward,id=f1,guest-port=8200,"
        "connect=unix:%s" % fwd,
        "-object", "vsock-user-forward,id=f2,guest-port=6201,"
        "listen=fd:%d" % l_tcp.fileno(),
        "-device", "virtio-vsock-user,id=%s,guest-cid=16,parent-cid=%d,"
        "uds-path=%s" % (DEV_ID, PARENT_CID, uds),
    ]
    g = Guest(r, tmp, "microvm", "hs-many", devices, timeout=90,
              params={"n": n}, pass_fds=(l_tcp.fileno(),))
    l_tcp.close()
    notes = []
    try:
        # guest -> host: hold all 2n before answering any
        t0 = time.monotonic()
        deadline = t0 + 60
        c_hybrid = accept_n(l_hybrid, n, deadline)
        c_fwd = accept_n(l_fwd, n, deadline)
        # QEMU's connect returns in a worker thread; the bridge appears
        # once the main loop has taken the result, a moment after our
        # accept() (under load, more than a moment)
        g.wait_stats({"connections": 2 * n, "host-sockets": 2 * n},
                     timeout=30)
        serve_many(c_hybrid, n, "guest->host uds-path")
        serve_many(c_fwd, n, "guest->host forward")
        if g.wait_for(r"VSOCKTEST-G2H-DONE rc=(\d+)").group(1) != "0":
            raise vsu.Fail("guest->host: guest clients failed: %s" %
                           vsu.guest_failure_hint(g.serial()))
        g.wait_stats({"connections": 0, "host-sockets": 0})
        notes.append("guest->host %d in %.1f s" % (2 * n,
                                                   time.monotonic() - t0))

        # host -> guest: open all 2n, then exchange
        g.wait_for(r"VSOCKTEST-H2G-READY")
        t0 = time.monotonic()
        socks = [hybrid_connect(uds, 6200) for _ in range(n)]
        socks += [tcp_connect(tport) for _ in range(n)]
        g.wait_for(r"VSOCKTEST-H2G-ACCEPTED", timeout=60)
        got = g.stats()
        if got != {"connections": 2 * n, "host-sockets": 2 * n}:
            raise vsu.Fail("host->guest, %d open: device counters %s" %
                           (2 * n, got))
        for j, s in enumerate(socks):
            s.settimeout(20)
            s.sendall(request(j % n, 0, 64))
            s.shutdown(socket.SHUT_WR)
        for j, s in enumerate(socks):
            with s:
                want = b"ok " + request(j % n, 0, 64)
                reply = recv_to_eof(s, len(want))
                if reply != want:
                    raise vsu.Fail("host->guest connection %d: reply %r" %
                                   (j, reply[:30]))
        # the guest's last connection waits for this check
        l_sync.settimeout(30)
        sync, _ = l_sync.accept()
        g.wait_stats({"connections": 1, "host-sockets": 1})
        sync.close()
        b = g.finish()
    finally:
        g.kill()
        l_hybrid.close()
        l_fwd.close()
        l_sync.close()
    r.expect_pass(b, "hs-many")
    for port in (5200, 8200):
        if not re.search(r"MANY client port=%d ok=%d " % (port, n), b.serial):
            raise vsu.Fail("no 'MANY client port=%d ok=%d' line" % (port, n))
    for port in (6200, 6201):
        if not re.search(r"MANY server port=%d ok=%d " % (port, n), b.serial):
            raise vsu.Fail("no 'MANY server port=%d ok=%d' line" % (port, n))
    notes.append("host->guest %d in %.1f s" % (2 * n, time.monotonic() - t0))
    return ", ".join(notes) + "; counters 200 while open, then 0"


# ---- 3. peers killed mid-transfer -------------------------------------------

# A host peer that reads LIMIT bytes from the first client of the listening
# socket it inherits, then SIGKILLs itself with the connection open.
def check_stream_pc(r, tmp):
    """host-endpoints-microvm's four streams on -M pc, PCI transport."""
    return check_host_streams(r, tmp, "pc", seed=11)


# ---- 4. SHA-256 streams through uds-path and forwards -----------------------
# VSOCK_USER_HOST_BYTES sets the stream size (default 4 MiB for make check;
# 67108864 for the full 64 MiB run, which needs a larger timeout under TCG).

def _host_sink(lsock, result, slow):
    """Accept one connection, hash everything until EOF."""
    try:
        conn, _ = lsock.accept()
        h = hashlib.sha256()
        n = 0
        conn.settimeout(120)
        while True:
            data = conn.recv(65536)
            if not data:
                break
            h.update(data)
            n += len(data)
            if slow and n < 2 * 1024 * 1024:
                time.sleep(0.005)   # a slow reader: backpressure
        conn.close()
        result.update(bytes=n, sha256=h.hexdigest())
    except OSError as e:
        result["error"] = str(e)


def _wait_serial(path, marker, deadline):
    while time.monotonic() < deadline:
        if marker in vsu.read_text(path):
            return True
        time.sleep(0.1)
    return False


def _host_source(connect, data, result, serial, hybrid_port=None):
    """Send DATA to a guest listener once the guest says it listens."""
    deadline = time.monotonic() + 60
    try:
        if not _wait_serial(serial, "VSOCKTEST-H2G-READY", deadline):
            result["error"] = "guest never listened"
            return
        s = connect()
        s.settimeout(120)
        if hybrid_port is not None:
            s.sendall(b"CONNECT %d\n" % hybrid_port)
            line = b""
            while not line.endswith(b"\n"):
                c = s.recv(1)
                if not c:
                    result["error"] = "closed before OK"
                    return
                line += c
            if not line.startswith(b"OK "):
                result["error"] = "bad answer %r" % line
                return
            result["ok_line"] = line.decode().strip()
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)
        s.recv(1)
        s.close()
        result.update(bytes=len(data),
                      sha256=hashlib.sha256(data).hexdigest())
    except OSError as e:
        result["error"] = str(e)


def check_host_streams(r, tmp, machine, seed=7):
    """64 MiB-class streams through uds-path and vsock-user-forward."""
    device = "virtio-vsock-user-pci" if machine == "pc" else \
        "virtio-vsock-user"
    r.need_device(device)
    nbytes = int(os.environ.get("VSOCK_USER_HOST_BYTES", 4 * 1024 * 1024))
    uds = os.path.join(tmp, "v.sock")
    fwd = os.path.join(tmp, "fwd.sock")
    serial = os.path.join(tmp, "serial.log")
    l_tcp, tport = tcp_listen_fd()
    l_hybrid = socket.socket(socket.AF_UNIX)
    l_hybrid.bind(uds + "_5000")
    l_hybrid.listen(4)
    l_fwd = socket.socket(socket.AF_UNIX)
    l_fwd.bind(fwd)
    l_fwd.listen(4)
    rnd = random.Random(seed)
    data1 = rnd.randbytes(nbytes)
    data2 = rnd.randbytes(nbytes)
    res = {k: {} for k in ("g2h-hybrid", "g2h-forward", "h2g-hybrid",
                           "h2g-forward")}

    def unix_to(path):
        def f():
            s = socket.socket(socket.AF_UNIX)
            s.connect(path)
            return s
        return f

    threads = [
        threading.Thread(target=_host_sink,
                         args=(l_hybrid, res["g2h-hybrid"], True)),
        threading.Thread(target=_host_sink,
                         args=(l_fwd, res["g2h-forward"], False)),
        threading.Thread(target=_host_source,
                         args=(unix_to(uds), data1, res["h2g-hybrid"],
                               serial, 6000)),
        threading.Thread(target=_host_source,
                         args=(lambda: socket.create_connection(
                               ("127.0.0.1", tport)), data2,
                               res["h2g-forward"], serial)),
    ]
    for t in threads:
        t.daemon = True
        t.start()
    devices = [
        "-object", "vsock-user-forward,id=f1,guest-port=8000,"
        "connect=unix:%s" % fwd,
        "-object", "vsock-user-forward,id=f2,guest-port=6001,"
        "listen=fd:%d" % l_tcp.fileno(),
        "-device", "%s,guest-cid=16,parent-cid=3,uds-path=%s" %
        (device, uds),
    ]
    timeout = 90 + nbytes // (1024 * 1024) * 4
    b = r.boot(tmp, machine, "host-endpoints", devices, timeout=timeout,
               params={"bytes": nbytes}, pass_fds=(l_tcp.fileno(),))
    l_tcp.close()
    for t in threads:
        t.join(timeout=10)
    l_hybrid.close()
    l_fwd.close()
    r.expect_pass(b, "host-endpoints")
    notes = []
    for name, prefix in (("g2h-hybrid", "G2H-HYBRID"),
                         ("g2h-forward", "G2H-FORWARD"),
                         ("h2g-hybrid", "H2G-HYBRID"),
                         ("h2g-forward", "H2G-FORWARD")):
        host = res[name]
        if "error" in host or "sha256" not in host:
            raise vsu.Fail("%s: host side: %s" % (name, host.get("error",
                                                              "no result")))
        guest_sha = vsu.guest_value(b.serial, prefix, "sha256")
        if guest_sha != host["sha256"] or host["bytes"] != nbytes:
            raise vsu.Fail("%s: guest sha256 %s, host sha256 %s bytes %d" %
                       (name, guest_sha, host["sha256"], host["bytes"]))
        notes.append("%s %s MiB/s" % (name, vsu.guest_value(b.serial, prefix,
                                                         "mib_per_s")))
    if os.path.exists(uds):
        raise vsu.Fail("%s left behind after QEMU exited" % uds)
    return "%d bytes each way, sha256 equal: %s" % (nbytes,
                                                    ", ".join(notes))


def check_host_endpoints_microvm(r, tmp):
    return check_host_streams(r, tmp, "microvm")


class VsockUserHostStreams(vsu.VsockUserTest):

    def test_host_endpoints_microvm(self):
        self.note(check_host_endpoints_microvm(self, self.tmp))

    def test_hs_rr_microvm(self):
        self.note(check_rr_microvm(self, self.tmp))

    def test_hs_rr_pc(self):
        self.note(check_rr_pc(self, self.tmp))

    def test_hs_many_microvm(self):
        self.note(check_many_microvm(self, self.tmp))

    def test_hs_stream_pc(self):
        self.note(check_stream_pc(self, self.tmp))


if __name__ == '__main__':
    vsu.VsockUserTest.main()
