#!/usr/bin/env python3
#
# virtio-vsock-user functional tests: SOCK_SEQPACKET
#
# SOCK_SEQPACKET through the host endpoints, with real guests.
#
# The guest runs tests/guest/scenarios/seqpacket (the guest program
# vsock-seqpacket, tests/guest/src/vsock-seqpacket.c); this module plays
# the host peers over Unix SOCK_SEQPACKET sockets (never host AF_VSOCK):
#
#   seqpacket-host-microvm   four connections, each carrying messages of
#   seqpacket-host-pc        1, 3733, 65536, 65537 and 200000 bytes both
#                            ways, the receiver sleeping before every
#                            message: guest -> host through uds-path
#                            (PATH_<port>) and a connect=...,type=seqpacket
#                            forward, host -> guest through PATH.seqpacket
#                            (CONNECT line) and a listen=...,type=seqpacket
#                            forward; every message checked (length and
#                            content) and counted at both ends, then
#                            MSG_TRUNC in the guest (plain and with the
#                            MSG_TRUNC flag), and a host message larger than
#                            the guest's buffer ending its connection
#   seqpacket-socat-microvm  the socat command lines of the docs, both
#                            directions, as written there
#   seqpacket-off-microvm    seqpacket=off: the guest's SEQPACKET connect()
#                            fails with ESOCKTNOSUPPORT, no PATH.seqpacket,
#                            streams still work
#
# Message i of size n is pattern(i, n): byte k = (131 k + 29 i + 7 n) mod 251,
# as in vsock-seqpacket.c.
#
# Copyright (c) 2026 The virtio-vsock-user authors
#
# SPDX-License-Identifier: GPL-2.0-or-later

import os
import re
import select
import shlex
import shutil
import socket
import subprocess
import time

import vsock_user as vsu
from vsock_user_host import (PARENT_CID, Guest, device_arg, start_thread,
                             check_errors, unix_listener)


SIZES = [1, 3733, 65536, 65537, 200000]
# received by the guest after SIZES: half buffers (vsock-seqpacket's Nt,
# NT), then a message that shows the truncated ones left nothing behind
EXTRA = [3733, 65536, 100]
EXTRA_ARG = "3733t,65536T,100"
HOST_DELAY_S = 0.2      # the host receiver sleeps before each message
GUEST_DELAY_MS = 200
OVERSIZE = 300000       # > the guest's 256 KiB vsock buffer
_BASE = bytes((131 * k) % 251 for k in range(251))


def pattern(i, n):
    c = (29 * i + 7 * n) % 251
    table = bytes((b + c) % 251 if b < 251 else b for b in range(256))
    return (_BASE * (n // 251 + 1))[:n].translate(table)


def seq_socket():
    return socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)


def seq_listener(path):
    s = seq_socket()
    s.bind(path)
    s.listen(8)
    return s


def seq_connect(path, timeout=30):
    end = time.monotonic() + timeout
    while True:
        s = seq_socket()
        s.settimeout(120)
        try:
            s.connect(path)
            return s
        except OSError:
            s.close()
            if time.monotonic() > end:
                raise
            time.sleep(0.05)


def send_all(s, sizes, what):
    for i, n in enumerate(sizes):
        sent = s.send(pattern(i, n))
        if sent != n:
            raise vsu.Fail("%s: message %d of %d bytes: send returned %d" %
                           (what, i, n, sent))


def recv_all(s, sizes, what):
    """Receive len(SIZES) messages slowly; each must be exactly the next."""
    for i, n in enumerate(sizes):
        time.sleep(HOST_DELAY_S)
        data, _, flags, _ = s.recvmsg(n + 4096)
        if flags & socket.MSG_TRUNC:
            raise vsu.Fail("%s: message %d: longer than %d bytes" %
                           (what, i, n + 4096))
        if len(data) != n:
            raise vsu.Fail("%s: message %d is %d bytes, expected %d%s" %
                           (what, i, len(data), n,
                            " (EOF)" if not data else ""))
        if data != pattern(i, n):
            k = next(k for k in range(n) if data[k] != pattern(i, n)[k])
            raise vsu.Fail("%s: message %d of %d bytes differs at byte %d" %
                           (what, i, n, k))


def expect_quiet(s, what, wait=0.5):
    """Nothing more arrives (the peer keeps its end open)."""
    s.settimeout(wait)
    try:
        data = s.recv(65536)
        raise vsu.Fail("%s: unexpected %s after the last message" %
                       (what, "EOF" if not data else
                        "message of %d bytes" % len(data)))
    except socket.timeout:
        pass
    finally:
        s.settimeout(120)


def seq_hybrid_connect(uds, port):
    """Host -> guest through PATH.seqpacket: one CONNECT, one OK message."""
    s = seq_connect(uds + ".seqpacket")
    s.send(b"CONNECT %d\n" % port)
    line = s.recv(64)
    if not re.fullmatch(rb"OK \d+\n", line):
        s.close()
        raise vsu.Fail("CONNECT %d on %s.seqpacket: answer %r" %
                       (port, os.path.basename(uds), line))
    return s


def g2h_peer(lsock, what, res):
    """Server for a guest client: its messages, then ours, then close."""
    try:
        lsock.settimeout(60)
        conn, _ = lsock.accept()
        with conn:
            conn.settimeout(120)
            recv_all(conn, SIZES, what)
            expect_quiet(conn, what)
            send_all(conn, SIZES + EXTRA, what)
        res["done"] = True
    except (OSError, vsu.Fail) as e:
        res["error"] = str(e)


def h2g_peer(g, connect, what, res):
    """Client of a guest server: our messages, then the guest's, close."""
    try:
        g.wait_for(r"VSOCKTEST-H2G-READY")
        with connect() as s:
            send_all(s, SIZES + EXTRA, what)
            recv_all(s, SIZES, what)
            expect_quiet(s, what)
        res["done"] = True
    except (OSError, vsu.Fail) as e:
        res["error"] = str(e)


def oversize_peer(g, uds, port, res):
    """A message the guest's buffer cannot hold ends the connection."""
    try:
        g.wait_for(r"VSOCKTEST-H2G-READY")
        with seq_hybrid_connect(uds, port) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 2 * OVERSIZE)
            s.send(pattern(0, 100))
            s.send(pattern(1, OVERSIZE))
            try:
                s.send(pattern(2, 100))
            except OSError:
                pass                    # already reset: fine as well
            # the device must close our end too
            s.settimeout(60)
            try:
                data = s.recv(65536)
            except ConnectionResetError:
                data = b""
            if data:
                raise vsu.Fail("oversize: the device sent %d bytes" %
                               len(data))
        res["done"] = True
    except (OSError, vsu.Fail) as e:
        res["error"] = str(e)


def check_host(r, tmp, machine):
    r.need_device("virtio-vsock-user-pci" if machine == "pc"
                  else "virtio-vsock-user")
    uds = os.path.join(tmp, "v.sock")
    cfwd = os.path.join(tmp, "c8300.sock")
    lfwd = os.path.join(tmp, "l6301.sock")
    l_hybrid = seq_listener(uds + "_5300")
    l_fwd = seq_listener(cfwd)
    dev, path = device_arg(machine, "guest-cid=16,parent-cid=%d,uds-path=%s"
                           % (PARENT_CID, uds))
    devices = [
        "-object", "vsock-user-forward,id=f1,guest-port=8300,"
        "connect=unix:%s,socket-type=seqpacket" % cfwd,
        "-object", "vsock-user-forward,id=f2,guest-port=6301,"
        "listen=unix:%s,socket-type=seqpacket" % lfwd,
        "-device", dev,
    ]
    g = Guest(r, tmp, machine, "seqpacket", devices, timeout=180,
              dev_path=path,
              params={"connect": "5300,8300", "listen": "6300,6301",
                      "oversize": 6302,
                      "sizes": ",".join(map(str, SIZES)),
                      "extra": EXTRA_ARG, "delay_ms": GUEST_DELAY_MS,
                      "eor": 0})
    names = ("g2h-hybrid", "g2h-forward", "h2g-hybrid", "h2g-forward",
             "oversize")
    res = {k: {} for k in names}
    threads = [
        start_thread(g2h_peer, l_hybrid, "g2h-hybrid", res["g2h-hybrid"]),
        start_thread(g2h_peer, l_fwd, "g2h-forward", res["g2h-forward"]),
        start_thread(h2g_peer, g, lambda: seq_hybrid_connect(uds, 6300),
                     "h2g-hybrid", res["h2g-hybrid"]),
        start_thread(h2g_peer, g, lambda: seq_connect(lfwd),
                     "h2g-forward", res["h2g-forward"]),
        start_thread(oversize_peer, g, uds, 6302, res["oversize"]),
    ]
    try:
        b = g.finish()
    finally:
        g.kill()
        for t in threads:
            t.join(timeout=10)
        l_hybrid.close()
        l_fwd.close()
    check_errors(res)
    r.expect_pass(b, "seqpacket")
    nbytes = sum(SIZES)
    for port in (5300, 8300, 6300, 6301):
        for line in ("SEQPACKET send port=%d n=%d bytes=%d" %
                     (port, len(SIZES), nbytes),
                     "SEQPACKET recv port=%d n=%d bytes=%d" %
                     (port, len(SIZES) + len(EXTRA),
                      nbytes + sum(EXTRA)),
                     "SEQPACKET eof port=%d" % port):
            if line not in b.serial:
                raise vsu.Fail("no '%s' line from the guest" % line)
    # the oversize connection: the first message, then EOF, nothing else
    for line in ("SEQPACKET recv port=6302 n=1 bytes=100",
                 "SEQPACKET eof port=6302"):
        if line not in b.serial:
            raise vsu.Fail("oversize: no '%s' line from the guest" % line)
    trunc = re.findall(r"SEQ recv i=(\d+) size=(\d+) ret=(\d+) "
                       r"flags=(\S*)", b.serial)
    if len(trunc) != 4 * (len(SIZES) + len(EXTRA)) + 1:
        raise vsu.Fail("the guest received %d messages, expected %d" %
                       (len(trunc), 4 * (len(SIZES) + len(EXTRA)) + 1))
    return ("4 connections x %d messages each way (%d bytes), every one "
            "exact; MSG_TRUNC both ways; a %d-byte host message reset its "
            "connection" % (len(SIZES), nbytes, OVERSIZE))


def check_host_microvm(r, tmp):
    return check_host(r, tmp, "microvm")


def check_host_pc(r, tmp):
    return check_host(r, tmp, "pc")


# The socat lines of docs/system/devices/virtio/vsock-user-endpoints.rst,
# as written there (the paths aside).  Host -> guest messages are written
# to socat's stdin one at a time, each at most PIPE_BUF bytes, so that
# each is one read() and so one message.
SOCAT_G2H = "socat -u -b 262144 UNIX-LISTEN:{path}_5000,type=5 STDOUT"
SOCAT_H2G = "socat -b 262144 - UNIX-CONNECT:{path}.seqpacket,type=5"
SOCAT_SIZES = [1, 100, 3733, 4096]


def read_pipe(f, done, timeout):
    """Read the unbuffered pipe F until done(data), EOF or TIMEOUT s."""
    data = b""
    end = time.monotonic() + timeout
    while not done(data):
        left = end - time.monotonic()
        if left <= 0 or not select.select([f], [], [], left)[0]:
            break
        d = os.read(f.fileno(), 65536)
        if not d:
            break
        data += d
    return data


def check_socat_microvm(r, tmp):
    """The docs' socat examples, both directions, against a real guest."""
    r.need_device("virtio-vsock-user")
    if not shutil.which("socat"):
        raise vsu.Skip("socat not installed (Debian package 'socat')")
    uds = os.path.join(tmp, "v.sock")
    out_path = os.path.join(tmp, "g2h.bin")
    with open(out_path, "wb") as out:
        g2h = subprocess.Popen(shlex.split(SOCAT_G2H.format(path=uds)),
                               stdin=subprocess.DEVNULL, stdout=out,
                               stderr=subprocess.DEVNULL)
    r.procs.append(g2h)
    end = time.monotonic() + 10
    while not os.path.exists(uds + "_5000"):
        if g2h.poll() is not None or time.monotonic() > end:
            raise vsu.Fail("socat did not listen on %s_5000" %
                           os.path.basename(uds))
        time.sleep(0.05)
    sizes = ",".join(map(str, SOCAT_SIZES))
    dev, path = device_arg("microvm", "guest-cid=16,parent-cid=%d,"
                           "uds-path=%s" % (PARENT_CID, uds))
    g = Guest(r, tmp, "microvm", "seqpacket", ["-device", dev], timeout=120,
              dev_path=path,
              params={"connect": 5000, "listen": 6000, "delay_ms": 0,
                      "csteps": "send:" + sizes,
                      "lsteps": "recv:%s+send:%s+eof" % (sizes, sizes)})
    h2g = None
    try:
        g.wait_for(r"VSOCKTEST-H2G-READY")
        h2g = subprocess.Popen(shlex.split(SOCAT_H2G.format(path=uds)),
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL, bufsize=0)
        r.procs.append(h2g)
        h2g.stdin.write(b"CONNECT 6000\n")
        h2g.stdin.flush()
        line = read_pipe(h2g.stdout, lambda d: d.endswith(b"\n"), 60)
        if not re.fullmatch(rb"OK \d+\n", line):
            raise vsu.Fail("socat CONNECT 6000: answer %r" % line)
        for i, n in enumerate(SOCAT_SIZES):
            time.sleep(0.3)         # socat's previous read() is over
            h2g.stdin.write(pattern(i, n))
            h2g.stdin.flush()
        want = b"".join(pattern(i, n) for i, n in enumerate(SOCAT_SIZES))
        got = read_pipe(h2g.stdout, lambda d: len(d) >= len(want), 60)
        if got != want:
            raise vsu.Fail("guest -> socat: %d bytes, expected the %d of "
                           "the guest's messages" % (len(got), len(want)))
        h2g.stdin.close()           # socat shuts down: the guest's EOF
        b = g.finish()
        g2h.wait(timeout=30)
    finally:
        g.kill()
    r.expect_pass(b, "seqpacket")
    with open(out_path, "rb") as f:
        data = f.read()
    if data != want:
        raise vsu.Fail("socat UNIX-LISTEN wrote %d bytes, expected the %d "
                       "of the guest's messages" % (len(data), len(want)))
    for line in ("SEQPACKET send port=5000 n=4 bytes=%d" % len(want),
                 "SEQPACKET recv port=6000 n=4 bytes=%d" % len(want),
                 "SEQPACKET eof port=6000"):
        if line not in b.serial:
            raise vsu.Fail("no '%s' line from the guest" % line)
    return "both socat lines of the docs work; %d messages each way" % \
        len(SOCAT_SIZES)


def check_off_microvm(r, tmp):
    """seqpacket=off: no feature, no PATH.seqpacket, streams as before."""
    r.need_device("virtio-vsock-user")
    uds = os.path.join(tmp, "v.sock")
    l_stream = unix_listener(uds + "_5300")
    dev, path = device_arg("microvm", "guest-cid=16,parent-cid=%d,"
                           "uds-path=%s,seqpacket=off" % (PARENT_CID, uds))
    g = Guest(r, tmp, "microvm", "seqpacket-off", ["-device", dev],
              timeout=90, dev_path=path, params={"port": 5300})
    res = {}

    def accept_one():
        try:
            l_stream.settimeout(60)
            c, _ = l_stream.accept()
            c.close()
            res["done"] = True
        except OSError as e:
            res["error"] = str(e)

    t = start_thread(accept_one)
    try:
        g.wait_for(r"VSOCKTEST-START")
        seq_path_exists = os.path.exists(uds + ".seqpacket")
        b = g.finish()
    finally:
        g.kill()
        t.join(timeout=10)
        l_stream.close()
    r.expect_pass(b, "seqpacket-off")
    check_errors({"stream accept": res})
    if seq_path_exists:
        raise vsu.Fail("seqpacket=off, but %s.seqpacket exists" %
                       os.path.basename(uds))
    m = re.search(r"CONNECT cid=%d port=5300 result=(\S+)" % PARENT_CID,
                  b.serial)
    if not m or m.group(1) != "ESOCKTNOSUPPORT":
        raise vsu.Fail("guest SEQPACKET connect: %s, expected "
                       "ESOCKTNOSUPPORT" % (m.group(1) if m else "no line"))
    if "CONNECT cid=%d port=5300 result=OK" % PARENT_CID not in b.serial:
        raise vsu.Fail("the guest's stream connect to 5300 failed")
    return "SEQPACKET connect: ESOCKTNOSUPPORT; stream connect: OK"


class VsockUserSeqpacket(vsu.VsockUserTest):

    def test_seqpacket_host_microvm(self):
        self.note(check_host_microvm(self, self.tmp))

    def test_seqpacket_host_pc(self):
        self.note(check_host_pc(self, self.tmp))

    def test_seqpacket_socat_microvm(self):
        self.note(check_socat_microvm(self, self.tmp))

    def test_seqpacket_off_microvm(self):
        self.note(check_off_microvm(self, self.tmp))


if __name__ == '__main__':
    vsu.VsockUserTest.main()
