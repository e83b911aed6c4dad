#!/usr/bin/env python3
#
# virtio-vsock-user functional tests: links
#
# Links between the devices of two QEMUs (-object vsock-user-link).
#
# Two QEMUs, each a TCG guest with a virtio-vsock-user device, linked over
# a Unix socket in the test's directory; their guests talk AF_VSOCK to
# each other:
#
#   links-vsock-test-microvm  the kernel's vsock_test (tools/testing/vsock),
#   links-vsock-test-pc       server in one guest, client in the other, one
#                             round per SOCK_STREAM test, then
#                             vsock_diag_test; every round must pass on both
#                             sides; per-test results and the duration go to
#                             the log.  Control channel: virtio-net over
#                             -netdev dgram between the two QEMUs.
#   links-vsock-test-tcp-microvm   the same over a TCP link on 127.0.0.1
#   links-vsock-test-tls-microvm   ... and over TCP with tls-creds-psk (the
#                             server's link takes a socket the test listens
#                             on, addr=fd:N: no port is picked and freed)
#   links-validation-microvm  the test itself is the other end of the link:
#                             a spoofed src_cid is dropped, a foreign
#                             dst_cid gets an RST back, both counted; 64 KiB
#                             packets reach the guest intact (split into its
#                             rx buffers); oversized len, garbage, a frame
#                             before the hello and a duplicate CID end the
#                             link, QEMU keeps running; a peer that stops
#                             reading makes the guest's stream end with
#                             ECONNRESET, and the heartbeat still works
#   links-kill-microvm        SIGKILL of one QEMU mid-stream (both ways): the
#                             other guest's streams are reset, its connection
#                             to a host socket stays open, the heartbeat
#                             works, and once the killed QEMU is back a new
#                             connection crosses the link
#   links-server-restart-microvm  the listening QEMU killed and started
#                             again: the connecting one reconnects (timer)
#                             and a stream crosses
#   links-reset-microvm       system_reset of a guest with a connection over
#                             the link (the test is the other end): the
#                             other end gets its RST, the link stays up and
#                             the rebooted guest connects again; savevm +
#                             loadvm: the other end gets that one's RST
#   links-two-enclaves-microvm  one parent VM, two enclaves (CIDs 16, 17):
#                             each reaches the parent, enclave to enclave is
#                             refused by the parent with RST (no relay-cids)
#   links-relay-microvm       the same with relay-cids on the parent's links:
#                             1 MiB from enclave 16 to enclave 17
#   links-relay-bounds-microvm  the test plays enclave 17: a relayed stream
#                             it stops reading is reset (max-queued), and
#                             closing its link resets the relayed stream
#   links-fd-microvm          addr=fd:N, listening and connected sockets
#                             inherited from the test
# The tests whose other end is the test itself pretending to be a QEMU
# (hello timeouts, connections next to a working link) are in
# test_vsock_user_links_peers.py, the links over TLS in
# test_vsock_user_links_tls.py, those with -M nitro-enclave machines in
# test_vsock_user_links_nitro.py; the helpers are in ../vsock_user_link.py.
#
# Copyright (c) 2026 The virtio-vsock-user authors
#
# SPDX-License-Identifier: GPL-2.0-or-later

import hashlib
import os
import re
import socket
import struct
import sys
import time

import vsock_user as vsu
import vsock_user_host as hs
from vsock_user_link import (HDR, HELLO_MAGIC, OP_CREDIT_UPDATE, OP_REQUEST,
                             OP_RESPONSE, OP_RST, OP_RW, OP_SHUTDOWN,
                             closed_by_qemu, expect_same_stream, fake_connect,
                             fake_up, frame, guest_args, hello, link_args,
                             link_stat, machine_devices, net_args, obj_stat,
                             read_frame, recv_exact, relay_parent_args,
                             wait_link, wait_obj)


SUITE_RE = re.compile(r"^SUITE-RESULT (\d+) (ok|FAIL) rc=(\d+) secs=([0-9.]+) "
                      r"(.*)$", re.M)
EXCLUDED_RE = re.compile(r"^SUITE-EXCLUDED (\d+) (.*)$", re.M)
# vsock_test tests not run, by id: (name, why).  The name is checked
# against vsock_test --list, so a renumbered suite fails loudly.
SUITE_EXCLUDE = {}
# How many tests vsock_test and vsock_diag_test have in the guest kernel's
# tools/testing/vsock, by kernel series (tests/guest/build-kernel.sh builds
# Debian's linux-source-6.12): every one must have run and passed, so a
# test that did not run is a failure, not a smaller total.  Another
# kernel needs its counts here first.
SUITE_COUNTS = {"6.12": (26, 3)}
KERNEL_RE = re.compile(r"Linux version (\d+\.\d+)\.\S+")


# ---- the kernel's vsock_test ------------------------------------------------


def suite_links(tmp, transport):
    """The two ends' link (and TLS) arguments for @transport: "unix", "tcp"
    or "tls" (TCP with tls-creds-psk), and the fds the server inherits.
    Over TCP the server's link takes a socket the test bound and listens
    on (addr=fd:N), so no port is chosen and given back."""
    if transport == "unix":
        link = os.path.join(tmp, "l.sock")
        return (link_args(link, True, [6]),
                link_args(link, False, [5], ",reconnect-ms=100"), None)
    lsock, port = hs.tcp_listen_fd()
    sa = ["-object", "vsock-user-link,id=l0,vsock=%s,addr=fd:%d,server=on,"
          "cids=6" % (hs.DEV_ID, lsock.fileno())]
    sb = ["-object", "vsock-user-link,id=l0,vsock=%s,addr=127.0.0.1:%d,"
          "cids=5,reconnect-ms=100" % (hs.DEV_ID, port)]
    if transport == "tls":
        psk = os.path.join(tmp, "psk")
        os.mkdir(psk)
        with open(os.path.join(psk, "keys.psk"), "w") as f:
            f.write("qemu:%s\n" % os.urandom(32).hex())
        sa = ["-object", "tls-creds-psk,id=tls0,endpoint=server,dir=%s" %
              psk] + sa
        sa[-1] += ",tls-creds=tls0"
        sb = ["-object", "tls-creds-psk,id=tls0,endpoint=client,dir=%s,"
              "username=qemu" % psk] + sb
        sb[-1] += ",tls-creds=tls0"
    return sa, sb, lsock


def check_suite(r, tmp, machine, transport="unix"):
    dev, net = machine_devices(machine)
    r.need_device(dev)
    r.need_device(net)
    da, db = os.path.join(tmp, "server"), os.path.join(tmp, "client")
    os.mkdir(da)
    os.mkdir(db)
    link_a, link_b, lsock = suite_links(tmp, transport)
    na, nb = os.path.join(tmp, "na.sock"), os.path.join(tmp, "nb.sock")
    # The server guest leaves only once the host listens on uds_19998:
    # its link counters are read before that, never from a QEMU that is
    # already on its way out.
    uds = os.path.join(tmp, "a.hs")
    common = {"tests": "all", "diag": "1", "port": "20000",
              "timeout": "1700",
              "exclude": ",".join(str(t) for t in SUITE_EXCLUDE) or "none"}
    t0 = time.monotonic()
    a = hs.Guest(r, da, machine, "vsock-suite",
                 link_a +
                 guest_args(machine, 5, extra=",uds-path=" + uds) +
                 net_args(machine, na, nb, 1),
                 params=dict(common, role="server", ip="10.0.9.1/24",
                             peerip="10.0.9.2", peercid="6",
                             holdport="19998"),
                 timeout=1800,
                 pass_fds=(lsock.fileno(),) if lsock else ())
    if lsock:
        lsock.close()
    b = hs.Guest(r, db, machine, "vsock-suite",
                 link_b +
                 guest_args(machine, 6) + net_args(machine, nb, na, 2),
                 params=dict(common, role="client", ip="10.0.9.2/24",
                             peerip="10.0.9.1", peercid="5"),
                 timeout=1800)
    # what crossed the link, read while both QEMUs still run
    b.wait_for(r"SUITE-DURATION", timeout=1700)
    crossed = {k: link_stat(a, k) for k in
               ("tx-packets", "rx-packets", "tx-bytes", "rx-bytes",
                "refused", "garbage")}
    go = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    go.bind(uds + "_19998")
    go.listen(1)
    ba = a.finish()
    bb = b.finish()
    go.close()
    elapsed = time.monotonic() - t0
    res = {}
    for side, boot in (("server", ba), ("client", bb)):
        for m in SUITE_RE.finditer(boot.serial):
            res.setdefault(int(m.group(1)), {"name": m.group(5)})[side] = \
                (m.group(2), m.group(4))
    excluded = EXCLUDED_RE.findall(bb.serial)
    print("#   vsock_test on %s over a vsock-user-link (%s), one round per "
          "test (%.0f s):" % (machine, transport, elapsed))
    failed = []
    for tid in sorted(res):
        t = res[tid]
        sv, cl = t.get("server", ("none", "?")), t.get("client", ("none", "?"))
        ok = sv[0] == "ok" and cl[0] == "ok"
        if not ok:
            failed.append("%d %s" % (tid, t["name"]))
        print("#     %2d %-48s %s (server %s, client %s, %s s)" %
              (tid, t["name"], "ok" if ok else "FAIL", sv[0], cl[0], cl[1]))
    for tid, name in excluded:
        want, why = SUITE_EXCLUDE.get(int(tid), (None, "not in the list"))
        if want != name:
            raise vsu.Fail("vsock_test %s is %r, the exclusion list says "
                           "%r" % (tid, name, want))
        print("#     %2s %-48s excluded: %s" % (tid, name, why))
    m = re.search(r"^DIAG-RESULT (\S+) .*passed=(\d+)", bb.serial, re.M)
    diag = m.group(0) if m else "no DIAG-RESULT"
    print("#   vsock_diag_test: %s" % diag)
    m = re.search(r"^SUITE-DURATION ([0-9.]+)", bb.serial, re.M)
    print("#   suite duration in the client guest: %s s" %
          (m.group(1) if m else "?"))
    print("#   the server's link: %s" %
          ", ".join("%s %d" % kv for kv in crossed.items()))
    if not crossed["tx-packets"] or not crossed["rx-packets"] or \
            crossed["refused"] or crossed["garbage"]:
        raise vsu.Fail("link counters %s: expected traffic both ways, no "
                       "refused or garbage frames" % crossed)
    if not res:
        raise vsu.Fail("no vsock_test result: %s / %s" % (
            vsu.guest_failure_hint(ba.serial),
            vsu.guest_failure_hint(bb.serial)))
    if failed:
        raise vsu.Fail("vsock_test failed: %s" % "; ".join(failed))
    m = KERNEL_RE.search(bb.serial)
    series = m.group(1) if m else None
    if series not in SUITE_COUNTS:
        raise vsu.Fail("guest kernel %s: no vsock_test and vsock_diag_test "
                       "counts for it in SUITE_COUNTS" % series)
    n_suite, n_diag = SUITE_COUNTS[series]
    ran = set(res) | {int(tid) for tid, _ in excluded}
    if ran != set(range(n_suite)):
        raise vsu.Fail("vsock_test of Linux %s has tests 0..%d; results "
                       "for %s" % (series, n_suite - 1, sorted(ran)))
    if not re.search(r"^DIAG-RESULT ok .*passed=%d\b" % n_diag, bb.serial,
                     re.M):
        raise vsu.Fail("vsock_diag_test of Linux %s: %s, expected ok with "
                       "passed=%d" % (series, diag, n_diag))
    r.expect_pass(ba, "vsock-suite")
    r.expect_pass(bb, "vsock-suite")
    nseq = sum(1 for t in res.values()
               if t["name"].startswith("SOCK_SEQPACKET"))
    return "%s link: %d vsock_test tests passed (%d SOCK_SEQPACKET), %d " \
        "excluded, %s, %.0f s" % (transport, len(res), nseq, len(excluded),
                                  diag, elapsed)


# ---- a fake peer ------------------------------------------------------------


def check_validation(r, tmp):
    r.need_device("virtio-vsock-user")
    path = os.path.join(tmp, "l.sock")
    g = hs.Guest(r, tmp, "microvm", "link-fake",
                 link_args(path, True, [6], ",max-queued=131072") +
                 guest_args("microvm", 5, parent=3), timeout=600)
    g.wait_for("LINKFAKE-LISTEN")

    # spoofed src_cid: dropped; a dst_cid that is not the guest's (and
    # not relayed): refused with an RST back from that CID
    s = fake_up(g, path)
    s.sendall(frame(7, 1234, 5, 7000, OP_REQUEST))
    s.sendall(frame(6, 1234, 9, 7000, OP_REQUEST))
    wait_link(g, "refused", lambda v: v == 2, what="refused == 2")
    while True:
        h, _ = read_frame(s)
        if h[6] == OP_RST and h[0] == 9 and h[2] == 7000 and h[3] == 1234:
            break

    # a real connection: 2 x 64 KiB packets, then SHUTDOWN
    s.sendall(frame(6, 1234, 5, 7000, OP_REQUEST))
    while True:
        h, _ = read_frame(s)
        if h[6] == OP_RESPONSE and h[2] == 7000 and h[3] == 1234:
            break
        if h[6] == OP_RST and h[0] == 5 and h[2] == 7000:
            raise vsu.Fail("the guest refused the connection over the link")
    data = os.urandom(131072)
    s.sendall(frame(6, 1234, 5, 7000, OP_RW, data[:65536]) +
              frame(6, 1234, 5, 7000, OP_RW, data[65536:]) +
              HDR.pack(6, 5, 1234, 7000, 0, 1, OP_SHUTDOWN, 3, 262144, 0))
    m = g.wait_for(r"STREAM mode=recv bytes=(\d+) sha256=([0-9a-f]+)")
    if m.group(1) != "131072" or \
            m.group(2) != hashlib.sha256(data).hexdigest():
        raise vsu.Fail("the guest got %s bytes, sha256 %s: not what was "
                       "sent" % (m.group(1), m.group(2)))
    # the guest ends the connection (RST, or SHUTDOWN when it still had
    # data to read, which we answer with RST as Linux does): then the link
    # tracks nothing any more
    while True:
        h, _ = read_frame(s)
        if h[2] == 7000 and h[3] == 1234 and h[6] == OP_RST:
            break
        if h[2] == 7000 and h[3] == 1234 and h[6] == OP_SHUTDOWN:
            s.sendall(frame(6, 1234, 5, 7000, OP_RST))
            break
    wait_link(g, "connections", lambda v: v == 0, what="connections == 0")

    # len over 64 KiB: the link ends, QEMU runs on
    s.sendall(frame(6, 1234, 5, 7000, OP_RW, length=65537))
    if not closed_by_qemu(s):
        raise vsu.Fail("QEMU kept a link whose peer sent len 65537")
    s.close()
    wait_link(g, "garbage", lambda v: v == 1, what="garbage == 1")
    # garbage (op 99), then a frame before the hello
    s = fake_up(g, path)
    s.sendall(frame(6, 1234, 5, 7000, 99))
    ok = closed_by_qemu(s)
    s.close()
    s = fake_connect(path)
    s.sendall(frame(6, 1234, 5, 7000, OP_REQUEST))
    ok = closed_by_qemu(s) and ok
    s.close()
    if not ok:
        raise vsu.Fail("QEMU kept a link that sent garbage")
    wait_link(g, "garbage", lambda v: v == 3, what="garbage == 3")
    # the same CID at both ends: refused, with both ends named
    s = fake_connect(path)
    read_frame(s)
    s.sendall(hello(5, [5]))
    if not closed_by_qemu(s):
        raise vsu.Fail("QEMU accepted a peer with its own guest's CID")
    s.close()
    msg = "both ends have guest CID 5"
    end = time.monotonic() + 30
    while msg not in vsu.read_text(g.qlog_path):
        if time.monotonic() > end:
            raise vsu.Fail("QEMU did not say '%s'" % msg)
        time.sleep(0.05)

    # a peer that stops reading: the guest's stream to 6:8000 is reset
    s = fake_up(g, path)
    while True:
        h, _ = read_frame(s)
        if h[6] == OP_REQUEST and h[3] == 8000:
            break
    gport = h[2]
    tx0 = link_stat(g, "tx-bytes")
    s.sendall(frame(6, 8000, 5, gport, OP_RESPONSE))
    resets0 = link_stat(g, "resets")
    end = time.monotonic() + 180
    while "KILL port=8000" not in g.serial():
        # grant credit for all that was sent, but never read a byte
        fwd = (link_stat(g, "tx-bytes") - tx0) & 0xffffffff
        s.sendall(frame(6, 8000, 5, gport, OP_CREDIT_UPDATE, fwd_cnt=fwd))
        if time.monotonic() > end:
            raise vsu.Fail("the guest's stream into a stalled link did not "
                           "end")
        time.sleep(0.02)
    g.wait_for(r"KILL port=8000 result=(ECONNRESET|EPIPE)")
    resets = link_stat(g, "resets")
    if resets <= resets0:
        raise vsu.Fail("resets did not count the stalled connection")
    b = g.finish()
    s.close()
    r.expect_pass(b, "link-fake")
    return "refused=2 garbage=3, 128 KiB intact, stalled peer reset " \
        "(resets %d)" % resets


# ---- SIGKILL of one QEMU -----------------------------------------------------

def check_kill(r, tmp, machine):
    dev, _ = machine_devices(machine)
    r.need_device(dev)
    da, db, db2 = (os.path.join(tmp, d) for d in ("a", "b", "b2"))
    for d in (da, db, db2):
        os.mkdir(d)
    link = os.path.join(tmp, "l.sock")
    hold = os.path.join(tmp, "hold.sock")
    lsock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    lsock.bind(hold)
    lsock.listen(4)
    lsock.settimeout(60)
    a = hs.Guest(r, da, machine, "link-kill-a",
                 link_args(link, True, [6]) + guest_args(machine, 5, 3) +
                 ["-object", "vsock-user-forward,id=f0,guest-port=8600,"
                  "connect=unix:" + hold], timeout=240)
    b_args = (link_args(link, False, [5], ",reconnect-ms=100") +
              guest_args(machine, 6))
    b = hs.Guest(r, db, machine, "link-kill-b", b_args, timeout=240)
    a.wait_for("KILL-A-HOLD")
    conn, _ = lsock.accept()
    conn.settimeout(30)
    if recv_exact(conn, 6) != b"hello\n":
        raise vsu.Fail("no hello from the guest's host connection")
    conn.sendall(b"hello\n")
    a.wait_for("KILL-A-READY")
    # both streams flowing through the link
    wait_link(a, "tx-bytes", lambda v: v > (1 << 20), timeout=60,
              what="1 MiB sent")
    wait_link(a, "rx-bytes", lambda v: v > (1 << 20), timeout=60,
              what="1 MiB received")
    b.proc.kill()
    b.proc.wait()
    t_kill = time.monotonic()
    a.wait_for(r"KILL port=5601 result=(\S+)", timeout=20)
    a.wait_for("KILL-A-AFTER", timeout=30)
    reset_s = time.monotonic() - t_kill
    m = re.search(r"RX exit=(\d+)", a.serial())
    if not m or m.group(1) != "2":
        raise vsu.Fail("the stream from the killed guest did not end short "
                       "(exit %s, expected 2)" %
                       (m.group(1) if m else "?"))
    # the connection to the host socket is still open: the device has it,
    # established and shut down in neither direction, and bytes the host
    # sends now reach the guest (rx-bytes grows by exactly them)
    before = host_conn(a, 8600)
    if before["state"] != "established" or before["endpoint"] != "forward" \
            or any(before["shutdown-from-guest"].values()) \
            or any(before["shutdown-to-guest"].values()):
        raise vsu.Fail("the host connection after the kill: %s" % before)
    conn.sendall(b"still here\n")
    end = time.monotonic() + 30
    while host_conn(a, 8600)["rx-bytes"] != before["rx-bytes"] + 11:
        if time.monotonic() > end:
            raise vsu.Fail("11 bytes from the host did not reach the guest "
                           "after the kill: %s" % host_conn(a, 8600))
        time.sleep(0.05)
    conn.setblocking(False)
    try:
        got = conn.recv(1)
        raise vsu.Fail("the host connection %s after the kill" %
                       ("was closed" if got == b"" else "got %r" % got))
    except BlockingIOError:
        pass
    conn.settimeout(30)
    if a.stat("host-sockets") != 1:
        raise vsu.Fail("host-sockets is %s after the kill, expected 1" %
                       a.stat("host-sockets"))
    # the other QEMU comes back: a new connection crosses the link
    b2 = hs.Guest(r, db2, machine, "link-kill-b", b_args,
                  params={"phase": "2"}, timeout=240)
    a.wait_for("KILL-A-RECONNECTED", timeout=120)
    reconnects = link_stat(a, "reconnects")
    resets = link_stat(a, "resets")
    ba = a.finish()
    bb2 = b2.finish()
    conn.close()
    lsock.close()
    r.expect_pass(ba, "link-kill-a")
    r.expect_pass(bb2, "link-kill-b")
    if reconnects < 1:
        raise vsu.Fail("reconnects is %s, expected >= 1" % reconnects)
    return "streams reset %.2f s after the kill (resets %d), host " \
        "connection kept, reconnected" % (reset_s, resets)


def host_conn(g, port):
    """The one connection of G's device whose QEMU end is PORT."""
    infos = g.qmp.cmd("query-vsock-user", port=port)
    conns = [c for i in infos for c in i["connections"]
             if c["local-port"] == port]
    if len(conns) != 1:
        raise vsu.Fail("%d connections on port %d, expected 1: %s" %
                       (len(conns), port, conns))
    return conns[0]


def check_server_restart(r, tmp):
    """The connecting side reconnects once the listening QEMU is back."""
    r.need_device("virtio-vsock-user")
    da, da2, db = (os.path.join(tmp, d) for d in ("a1", "a2", "b"))
    for d in (da, da2, db):
        os.mkdir(d)
    link = os.path.join(tmp, "l.sock")
    a_args = link_args(link, True, [6]) + guest_args("microvm", 5)
    # the first server guest listens on the wrong port: b's stream is
    # refused and retried until the second one listens on the right one
    a1 = hs.Guest(r, da, "microvm", "link-recv", a_args,
                  params={"port": 5701, "bytes": 1 << 20}, timeout=120)
    b = hs.Guest(r, db, "microvm", "link-send",
                 link_args(link, False, [5], ",reconnect-ms=100") +
                 guest_args("microvm", 6),
                 params={"peercid": 5, "port": 5700, "bytes": 1 << 20},
                 timeout=180)
    wait_link(b, "state", lambda v: v == "up", what="up")
    a1.proc.kill()
    a1.proc.wait()
    wait_link(b, "state", lambda v: v != "up", what="not up")
    a2 = hs.Guest(r, da2, "microvm", "link-recv", a_args,
                  params={"port": 5700, "bytes": 1 << 20}, timeout=120)
    wait_link(b, "reconnects", lambda v: v >= 1, what="reconnects >= 1")
    bb = b.finish()
    ba = a2.finish()
    r.expect_pass(bb, "link-send")
    r.expect_pass(ba, "link-recv")
    return "reconnected after the listening QEMU restarted; 1 MiB crossed"


# ---- guest reset ------------------------------------------------------------

def check_reset(r, tmp):
    """A device reset sends the other end an RST per crossed connection."""
    r.need_device("virtio-vsock-user")
    path = os.path.join(tmp, "l.sock")
    g = hs.Guest(r, tmp, "microvm", "link-hold",
                 link_args(path, True, [6]) + guest_args("microvm", 5),
                 timeout=120, no_reboot=False)
    s = fake_up(g, path)

    def until(pred):
        while True:
            h, payload = read_frame(s)
            if pred(h, payload):
                return h, payload

    def hold():
        h, _ = until(lambda h, p: h[6] == OP_REQUEST and h[3] == 8100)
        gport = h[2]
        s.sendall(frame(6, 8100, 5, gport, OP_RESPONSE))
        until(lambda h, p: h[6] == OP_RW and p == b"hello\n")
        s.sendall(frame(6, 8100, 5, gport, OP_RW, b"hello\n"))
        return gport

    gport = hold()
    g.wait_for(r"HOLD port=8100 n=1")
    if link_stat(g, "connections") != 1:
        raise vsu.Fail("connections is %s with one open, expected 1" %
                       link_stat(g, "connections"))
    g.qmp.cmd("system_reset")
    t0 = time.monotonic()
    until(lambda h, p: h[6] == OP_RST and h[2] == gport and h[3] == 8100)
    rst_s = time.monotonic() - t0
    # the link stays up: the rebooted guest connects again
    gport2 = hold()
    g.wait_for(r"HOLD port=8100 n=1", count=2)
    # savevm + loadvm replace the guest's state: its connection is reset
    # at the other end too (snapshots need a qcow2 node: made over QMP)
    disk = os.path.join(tmp, "snap.qcow2")
    open(disk, "w").close()
    g.qmp.cmd("blockdev-add", driver="file", filename=disk,
              **{"node-name": "f"})
    g.qmp.cmd("blockdev-create", **{"job-id": "mk"},
              options={"driver": "qcow2", "file": "f", "size": 16 << 20})
    end = time.monotonic() + 20
    while not any(j["status"] == "concluded"
                  for j in g.qmp.cmd("query-jobs")):
        if time.monotonic() > end:
            raise vsu.Fail("qcow2 creation did not finish")
        time.sleep(0.05)
    g.qmp.cmd("job-dismiss", id="mk")
    g.qmp.cmd("blockdev-add", driver="qcow2", file="f",
              **{"node-name": "snap"})
    for hmp in ("savevm s1", "loadvm s1"):
        out = g.qmp.cmd("human-monitor-command", **{"command-line": hmp})
        if out.strip():
            raise vsu.Fail("%s: %s" % (hmp, out.strip()))
    until(lambda h, p: h[6] == OP_RST and h[2] == gport2 and h[3] == 8100)
    state = link_stat(g, "state")
    g.qmp.cmd("quit")
    g.proc.wait(timeout=30)
    s.close()
    if state != "up":
        raise vsu.Fail("link %s after the guest reset, expected up" % state)
    return "RST for guest port %d %.2f s after system_reset; reconnected " \
        "from port %d, its RST after loadvm" % (gport, rst_s, gport2)


# ---- the documented topologies ----------------------------------------------

def check_two_enclaves(r, tmp):
    """One parent VM, two enclaves; enclave-to-enclave refused."""
    r.need_device("virtio-vsock-user")
    dirs = [os.path.join(tmp, d) for d in ("parent", "e16", "e17")]
    for d in dirs:
        os.mkdir(d)
    l16, l17 = (os.path.join(tmp, "enc%d.sock" % c) for c in (16, 17))
    parent = hs.Guest(r, dirs[0], "microvm", "link-parent2",
                      ["-object", "vsock-user-link,id=l0,vsock=%s,addr=unix:"
                       "%s,server=on,cids=16" % (hs.DEV_ID, l16),
                       "-object", "vsock-user-link,id=l1,vsock=%s,addr=unix:"
                       "%s,server=on,cids=17" % (hs.DEV_ID, l17)] +
                      guest_args("microvm", 3), params={"linger": 120},
                      timeout=300)
    enclaves = []
    for d, cid, path, other in ((dirs[1], 16, l16, 17),
                                (dirs[2], 17, l17, 16)):
        enclaves.append(hs.Guest(
            r, d, "microvm", "link-enclave",
            # the enclave's link carries the other enclave's CID too: the
            # parent, which does not relay, refuses with RST
            link_args(path, False, [3, other], ",reconnect-ms=100") +
            guest_args("microvm", cid, parent=3),
            params={"port": 5000 + cid, "other": other}, timeout=180))
    boots = [g.finish() for g in enclaves]
    for b in boots:
        r.expect_pass(b, "link-enclave")
    m = parent.wait_for(r"PARENT2-DONE rc=(\d+)")
    refused = [obj_stat(parent, obj, "refused") for obj in ("l0", "l1")]
    relayed = [obj_stat(parent, obj, "relayed") for obj in ("l0", "l1")]
    parent.qmp.cmd("quit")
    parent.proc.wait(timeout=30)
    if m.group(1) != "0":
        raise vsu.Fail("the parent did not get both streams: %s" %
                       vsu.guest_failure_hint(parent.serial()))
    if refused != [1, 1] or relayed != [0, 0]:
        raise vsu.Fail("parent links: refused %s, relayed %s; expected one "
                       "refusal each, nothing relayed" % (refused, relayed))
    return "64 KiB from each enclave to the parent; 16 <-> 17 refused by " \
        "the parent with RST (refused 1 + 1)"


# ---- relaying between two enclaves ------------------------------------------

def check_relay(r, tmp):
    """relay-cids on the parent's links: enclave 16 streams to 17."""
    r.need_device("virtio-vsock-user")
    dirs = [os.path.join(tmp, d) for d in ("parent", "e16", "e17")]
    for d in dirs:
        os.mkdir(d)
    l16, l17 = (os.path.join(tmp, "enc%d.sock" % c) for c in (16, 17))
    nbytes = 1 << 20
    parent = hs.Guest(r, dirs[0], "microvm", "link-idle",
                      relay_parent_args(l16, l17, True) +
                      guest_args("microvm", 3), timeout=300)
    e17 = hs.Guest(r, dirs[2], "microvm", "link-recv",
                   link_args(l17, False, [3, 16], ",reconnect-ms=100") +
                   guest_args("microvm", 17, parent=3),
                   params={"port": 5800, "bytes": nbytes}, timeout=300)
    e16 = hs.Guest(r, dirs[1], "microvm", "link-send",
                   link_args(l16, False, [3, 17], ",reconnect-ms=100") +
                   guest_args("microvm", 16, parent=3),
                   params={"peercid": 17, "port": 5800, "bytes": nbytes},
                   timeout=300)
    b16 = e16.finish()
    b17 = e17.finish()
    relayed = (obj_stat(parent, "l0", "relayed"),
               obj_stat(parent, "l1", "relayed"))
    parent.qmp.cmd("quit")
    parent.proc.wait(timeout=30)
    expect_same_stream(r, b16, b17)
    if not relayed[0] or not relayed[1]:
        raise vsu.Fail("relayed counters %s: expected frames both ways" %
                       (relayed,))
    return "1 MiB from enclave 16 to enclave 17 through the parent, " \
        "sha256 equal; relayed %d + %d frames" % relayed


def check_relay_bounds(r, tmp):
    """Relayed traffic keeps the link rules: a stalled far end resets the
    relayed stream (max-queued of the link it leaves by), and the loss of
    the far link resets the relayed connections at the near end."""
    r.need_device("virtio-vsock-user")
    dirs = [os.path.join(tmp, d) for d in ("parent", "e16")]
    for d in dirs:
        os.mkdir(d)
    l16, l17 = (os.path.join(tmp, "enc%d.sock" % c) for c in (16, 17))
    parent = hs.Guest(r, dirs[0], "microvm", "link-idle",
                      ["-object", "vsock-user-link,id=l0,vsock=%s,addr=unix:"
                       "%s,server=on,cids=16,relay-cids=17" % (hs.DEV_ID, l16),
                       "-object", "vsock-user-link,id=l1,vsock=%s,addr=unix:"
                       "%s,server=on,cids=17,relay-cids=16,max-queued=131072"
                       % (hs.DEV_ID, l17)] +
                      guest_args("microvm", 3), timeout=300)
    e16 = hs.Guest(r, dirs[1], "microvm", "link-relay-stall",
                   link_args(l16, False, [3, 17], ",reconnect-ms=100") +
                   guest_args("microvm", 16, parent=3), timeout=300)
    # the test is enclave 17
    s = fake_connect(l17)
    h, payload = read_frame(s)
    if h[0] != 3 or h[2] != HELLO_MAGIC or payload != struct.pack("<Q", 17):
        raise vsu.Fail("unexpected hello from the parent: %r %r" %
                       (h, payload))
    s.sendall(hello(17, [3, 16]))
    wait_obj(parent, "l1", "state", lambda v: v == "up", what="l1 up")

    def accept(port):
        while True:
            h, _ = read_frame(s)
            if h[6] == OP_REQUEST and h[0] == 16 and h[3] == port:
                s.sendall(frame(17, port, 16, h[2], OP_RESPONSE))
                return h[2]

    # 1. grant credit for all that was relayed, but never read a byte
    gport = accept(8000)
    tx0 = obj_stat(parent, "l1", "tx-bytes")
    resets0 = obj_stat(parent, "l1", "resets")
    end = time.monotonic() + 180
    while "KILL port=8000" not in e16.serial():
        fwd = (obj_stat(parent, "l1", "tx-bytes") - tx0) & 0xffffffff
        s.sendall(frame(17, 8000, 16, gport, OP_CREDIT_UPDATE, fwd_cnt=fwd))
        if time.monotonic() > end:
            raise vsu.Fail("the relayed stream into a stalled link did not "
                           "end")
        time.sleep(0.02)
    e16.wait_for(r"KILL port=8000 result=(ECONNRESET|EPIPE)")
    resets = obj_stat(parent, "l1", "resets")
    if resets <= resets0:
        raise vsu.Fail("l1 resets did not count the stalled relayed stream")
    # 2. read again; a second stream, then enclave 17's link goes
    accept(8001)
    wait_obj(parent, "l1", "connections", lambda v: v == 1,
             what="one relayed connection")
    s.close()
    m = e16.wait_for(r"RELAY-STALL-DONE rc=(\d+)")
    l0_state = obj_stat(parent, "l0", "state")
    l0_conns = obj_stat(parent, "l0", "connections")
    for g in (e16, parent):
        g.qmp.cmd("quit")
        g.proc.wait(timeout=30)
    if m.group(1) != "0":
        raise vsu.Fail("enclave 16: %s" %
                       vsu.guest_failure_hint(e16.serial()))
    if l0_state != "up" or l0_conns != 0:
        raise vsu.Fail("the parent's link to 16 is %s with %d connections "
                       "after 17's went, expected up with 0" %
                       (l0_state, l0_conns))
    return "stalled far end: relayed stream reset (l1 resets %d); far link " \
        "closed: relayed stream reset, the near link stays up" % resets


# ---- fd: addresses ----------------------------------------------------------

def check_fd(r, tmp):
    """addr=fd:N at both ends: an inherited listening socket (server=on)
    and an inherited connected one (server=off, used once)."""
    r.need_device("virtio-vsock-user")
    da, db = (os.path.join(tmp, d) for d in ("a", "b"))
    for d in (da, db):
        os.mkdir(d)
    path = os.path.join(tmp, "l.sock")
    lsock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    lsock.bind(path)
    lsock.listen(4)
    nbytes = 1 << 20
    a = hs.Guest(r, da, "microvm", "link-recv",
                 ["-object", "vsock-user-link,id=l0,vsock=%s,addr=fd:%d,"
                  "server=on,cids=6" % (hs.DEV_ID, lsock.fileno())] +
                 guest_args("microvm", 5),
                 params={"port": 5700, "bytes": nbytes}, timeout=240,
                 pass_fds=(lsock.fileno(),))
    lsock.close()
    # the inherited listener accepts (the test as a peer, which leaves)
    s = fake_up(a, path)
    s.close()
    wait_link(a, "state", lambda v: v == "down", what="down")
    # then a QEMU whose link is a socket the test connected for it
    csock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    csock.connect(path)
    b = hs.Guest(r, db, "microvm", "link-send",
                 ["-object", "vsock-user-link,id=l0,vsock=%s,addr=fd:%d,"
                  "cids=5" % (hs.DEV_ID, csock.fileno())] +
                 guest_args("microvm", 6),
                 params={"peercid": 5, "port": 5700, "bytes": nbytes},
                 timeout=240, pass_fds=(csock.fileno(),))
    csock.close()
    bb = b.finish()
    ba = a.finish()
    expect_same_stream(r, bb, ba)
    return "fd:N listener took a test peer, then a QEMU linked by an " \
        "inherited connected fd:N: 1 MiB, sha256 equal"


class VsockUserLinks(vsu.VsockUserTest):

    def test_links_vsock_test_microvm(self):
        self.note(check_suite(self, self.tmp, "microvm"))

    def test_links_vsock_test_pc(self):
        self.note(check_suite(self, self.tmp, "pc"))

    def test_links_vsock_test_tcp_microvm(self):
        self.note(check_suite(self, self.tmp, "microvm", "tcp"))

    def test_links_vsock_test_tls_microvm(self):
        self.note(check_suite(self, self.tmp, "microvm", "tls"))

    def test_links_validation_microvm(self):
        self.note(check_validation(self, self.tmp))

    def test_links_kill_microvm(self):
        self.note(check_kill(self, self.tmp, "microvm"))

    def test_links_server_restart_microvm(self):
        self.note(check_server_restart(self, self.tmp))

    def test_links_reset_microvm(self):
        self.note(check_reset(self, self.tmp))

    def test_links_two_enclaves_microvm(self):
        self.note(check_two_enclaves(self, self.tmp))

    def test_links_relay_microvm(self):
        self.note(check_relay(self, self.tmp))

    def test_links_relay_bounds_microvm(self):
        self.note(check_relay_bounds(self, self.tmp))

    def test_links_fd_microvm(self):
        self.note(check_fd(self, self.tmp))


if __name__ == '__main__':
    vsu.VsockUserTest.main()
