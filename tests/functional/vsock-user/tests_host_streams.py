"""Host endpoint stream semantics with real guests.

Loaded by run.py (tests(run) -> [(name, fn)]).  Each test boots one guest
that runs a tests/guest/scenarios/hs-* script built on the guest program
vsock-rr (tests/guest/src/vsock-rr.c), while this module plays the host
peers over Unix and TCP loopback sockets (never host AF_VSOCK) and reads
the device's counters over QMP:

  hs-rr-microvm      request / SHUT_WR / response, 50 rounds on each of
  hs-rr-pc           uds-path, connect= forward, CONNECT (every other round
                     pipelined: CONNECT line, request and SHUT_WR in one go)
                     and listen= forward; exact bytes, each round < 1 s
  hs-many-microvm    200 connections open at once each way: device counters
                     exactly 200 while open, 0 afterwards
  hs-stream-pc       the SHA-256 streams of host-endpoints-microvm on -M pc
                     with virtio-vsock-user-pci

The helpers are hostlib's (tests_host_faults.py has the peer-death and
reboot tests); Guest and Qmp stay importable from here.
"""

import errno
import json
import os
import re
import select
import socket
import subprocess
import sys
import threading
import time

from hostlib import *  # noqa: F401,F403  (the shared helpers)
from hostlib import Guest, Qmp  # noqa: F401  (for tests_links.py)
import hostlib

run = None      # the runner module, set by tests()

def test_rr_microvm(r, tmp):
    return check_rr(r, tmp, "microvm")


def test_rr_pc(r, tmp):
    return check_rr(r, tmp, "pc")


# ---- 2. 200 concurrent connections ------------------------------------------

def test_many_microvm(r, tmp):
    """200 connections open at once each way; counters back to 0."""
    r.need_device("virtio-vsock-user")
    n = 100                                 # per path, 2 paths per way
    uds = os.path.join(tmp, "v.sock")
    fwd = os.path.join(tmp, "fwd8200.sock")
    tport = free_tcp_port()
    l_hybrid = unix_listener(uds + "_5200")
    l_fwd = unix_listener(fwd)
    l_sync = unix_listener(uds + "_5299")
    devices = [
        "-object", "vsock-user-forward,id=f1,guest-port=8200,"
        "connect=unix:%s" % fwd,
        "-object", "vsock-user-forward,id=f2,guest-port=6201,"
        "listen=tcp:127.0.0.1:%d" % tport,
        "-device", "virtio-vsock-user,id=%s,guest-cid=16,parent-cid=%d,"
        "uds-path=%s" % (DEV_ID, PARENT_CID, uds),
    ]
    g = Guest(r, tmp, "microvm", "hs-many", devices, timeout=90,
              params={"n": n})
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
            raise run.Fail("guest->host: guest clients failed: %s" %
                           run.guest_failure_hint(g.serial()))
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
            raise run.Fail("host->guest, %d open: device counters %s" %
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
                    raise run.Fail("host->guest connection %d: reply %r" %
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
            raise run.Fail("no 'MANY client port=%d ok=%d' line" % (port, n))
    for port in (6200, 6201):
        if not re.search(r"MANY server port=%d ok=%d " % (port, n), b.serial):
            raise run.Fail("no 'MANY server port=%d ok=%d' line" % (port, n))
    notes.append("host->guest %d in %.1f s" % (2 * n, time.monotonic() - t0))
    return ", ".join(notes) + "; counters 200 while open, then 0"


# ---- 3. peers killed mid-transfer -------------------------------------------

# A host peer that reads LIMIT bytes from the first client of the listening
# socket it inherits, then SIGKILLs itself with the connection open.
def test_stream_pc(r, tmp):
    """host-endpoints-microvm's four streams on -M pc, PCI transport."""
    return run.check_host_streams(r, tmp, "pc", seed=11)


def tests(runner_module):
    global run
    run = hostlib.run = runner_module
    return [
        ("hs-rr-microvm", test_rr_microvm),
        ("hs-rr-pc", test_rr_pc),
        ("hs-many-microvm", test_many_microvm),
        ("hs-stream-pc", test_stream_pc),
    ]
