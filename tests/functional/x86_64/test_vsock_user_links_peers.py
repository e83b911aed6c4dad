#!/usr/bin/env python3
#
# virtio-vsock-user functional tests: link peers
#
# Links whose other end is the test itself, pretending to be a QEMU.
#
# The fake peer's helpers are in ../vsock_user_link.py.
#
#   links-hello-timeout-microvm  hello-timeout-ms: a silent peer, half a
#                             hello and a silent server are dropped; then a
#                             real peer works
#   links-candidates-microvm  connections to a listening link that has one:
#                             a second peer with a good hello (the other
#                             QEMU restarted) replaces the first; then, with
#                             a stream open over the link, a silent peer,
#                             garbage, refused hellos and a flood of more
#                             connections than the link keeps waiting are
#                             all dropped (the oldest pushed out first), the
#                             counters say so, and the stream ends intact
#
# Copyright (c) 2026 The virtio-vsock-user authors
#
# SPDX-License-Identifier: GPL-2.0-or-later

import hashlib
import os
import re
import socket
import sys
import time

import vsock_user as vsu
import vsock_user_host as hs
from vsock_user_link import (HDR, HELLO_MAGIC, OP_REQUEST, OP_RESPONSE, OP_RST,
                             OP_RW, OP_SHUTDOWN, closed_by_qemu, fake_connect,
                             fake_up, frame, guest_args, hello, link_args,
                             link_stat, read_frame, wait_link, wait_obj)


# hw/virtio/vsock-user/vsock-user-link-int.h
LINK_MAX_CANDIDATES = 4


def open_stream(s, sport, dport, timeout=60):
    """REQUEST from 6:SPORT to the guest's DPORT over the fake link until
    the guest, once it listens, answers with a RESPONSE."""
    s.sendall(frame(6, sport, 5, dport, OP_REQUEST))
    end = time.monotonic() + timeout
    while True:
        h, _ = read_frame(s)
        if h[6] == OP_RESPONSE and h[2] == dport and h[3] == sport:
            return
        if h[6] == OP_RST and h[0] == 5 and h[2] == dport:
            # the guest did not listen yet: try again
            time.sleep(0.2)
            s.sendall(frame(6, sport, 5, dport, OP_REQUEST))
        if time.monotonic() > end:
            raise vsu.Fail("no RESPONSE from the guest over the link")


def send_rw(s, sport, dport, data):
    """DATA as RW frames of at most 64 KiB, the most a frame may carry."""
    for off in range(0, len(data), 65536):
        s.sendall(frame(6, sport, 5, dport, OP_RW, data[off:off + 65536]))


def expect_hello(s):
    h, payload = read_frame(s)
    if h[0] != 5 or h[2] != HELLO_MAGIC:
        raise vsu.Fail("unexpected first frame from QEMU: %r" % (h,))


def still_open(s, secs=0.3):
    """Nothing from QEMU for SECS and the socket not closed."""
    s.settimeout(secs)
    try:
        return bool(s.recv(1, socket.MSG_PEEK))
    except socket.timeout:
        return True
    except OSError:
        return False


def check_hello_timeout(r, tmp):
    """Silent and half-hello peers are dropped; a real peer then works."""
    r.need_device("virtio-vsock-user")
    path = os.path.join(tmp, "l.sock")
    cpath = os.path.join(tmp, "c.sock")
    # the other end of l1 (server=off) is this listener, which never talks
    lsock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    lsock.bind(cpath)
    lsock.listen(4)
    lsock.settimeout(60)
    timeout_ms = 1500
    g = hs.Guest(r, tmp, "microvm", "link-recv",
                 link_args(path, True, [6],
                           ",hello-timeout-ms=%d" % timeout_ms) +
                 ["-object", "vsock-user-link,id=l1,vsock=%s,addr=unix:%s,"
                  "cids=7,hello-timeout-ms=%d,reconnect-ms=100" %
                  (hs.DEV_ID, cpath, timeout_ms)] +
                 guest_args("microvm", 5),
                 params={"port": 7000, "bytes": 65536}, timeout=240)
    # 1. a peer that connects and says nothing
    s = fake_connect(path)
    t0 = time.monotonic()
    if not closed_by_qemu(s, timeout=60):
        raise vsu.Fail("QEMU kept a silent peer for 60 s")
    silent_s = time.monotonic() - t0
    s.close()
    if silent_s < timeout_ms / 1000.0 * 0.9:
        raise vsu.Fail("silent peer dropped after %.2f s, before "
                       "hello-timeout-ms" % silent_s)
    wait_link(g, "hello-timeouts", lambda v: v == 1, what="1 timeout")
    # 2. a peer that sends 20 bytes of its hello, then nothing
    s = fake_connect(path)
    read_frame(s)
    s.sendall(hello(6, [5])[:20])
    if not closed_by_qemu(s, timeout=60):
        raise vsu.Fail("QEMU kept a peer with half a hello for 60 s")
    s.close()
    wait_link(g, "hello-timeouts", lambda v: v == 2, what="2 timeouts")
    if link_stat(g, "garbage") != 0:
        raise vsu.Fail("a hello timeout was counted as garbage")
    # 3. the connecting link's peer accepts and stays silent: dropped,
    # and QEMU connects again
    c1, _ = lsock.accept()
    c1.settimeout(60)
    if not closed_by_qemu(c1, timeout=60):
        raise vsu.Fail("QEMU's connecting link kept a silent server")
    c1.close()
    c2, _ = lsock.accept()
    wait_obj(g, "l1", "hello-timeouts", lambda v: v >= 1, what="l1 timeout")
    # 4. a real peer: the link comes up and stays up past the timeout,
    # and a stream crosses it
    s = fake_up(g, path)
    time.sleep(timeout_ms / 1000.0 * 2)
    if link_stat(g, "state") != "up":
        raise vsu.Fail("a link that completed its hello was dropped")
    open_stream(s, 1234, 7000)
    data = os.urandom(65536)
    s.sendall(frame(6, 1234, 5, 7000, OP_RW, data) +
              HDR.pack(6, 5, 1234, 7000, 0, 1, OP_SHUTDOWN, 3, 262144, 0))
    b = g.finish()
    s.close()
    c2.close()
    lsock.close()
    r.expect_pass(b, "link-recv")
    m = re.search(r"STREAM mode=recv bytes=(\d+) sha256=([0-9a-f]+)",
                  b.serial)
    if not m or m.group(2) != hashlib.sha256(data).hexdigest():
        raise vsu.Fail("the guest did not get the 64 KiB intact")
    return "silent peer dropped after %.2f s, half hello dropped, silent " \
        "server dropped and reconnected; then a real peer: 64 KiB intact" \
        % silent_s




def check_candidates(r, tmp):
    """A listening link with a connection: a new one replaces it only
    with a good hello, and whatever else connects leaves it alone."""
    r.need_device("virtio-vsock-user")
    path = os.path.join(tmp, "l.sock")
    timeout_ms = 4000
    nbytes = 256 * 1024
    g = hs.Guest(r, tmp, "microvm", "link-recv",
                 link_args(path, True, [6],
                           ",hello-timeout-ms=%d" % timeout_ms) +
                 guest_args("microvm", 5),
                 params={"port": 7000, "bytes": nbytes}, timeout=240)
    # 1. the other QEMU "restarts": a second connection is a candidate
    # until its hello, then it replaces the first
    s0 = fake_up(g, path)
    s1 = fake_connect(path)
    expect_hello(s1)
    if not still_open(s0) or link_stat(g, "state") != "up":
        raise vsu.Fail("a connection without a hello touched the link")
    s1.sendall(hello(6, [5]))
    if not closed_by_qemu(s0, timeout=20):
        raise vsu.Fail("the old connection stayed after a new one's hello")
    s0.close()
    wait_link(g, "reconnects", lambda v: v == 1, what="the replacement")
    # 2. a stream over the new connection, half of it sent
    open_stream(s1, 1234, 7000)
    data = os.urandom(nbytes)
    send_rw(s1, 1234, 7000, data[:nbytes // 2])
    # 3. strangers, while the stream is open
    silent = fake_connect(path)
    expect_hello(silent)
    t_silent = time.monotonic()
    garbage = fake_connect(path)
    expect_hello(garbage)
    garbage.sendall(b"\xff" * HDR.size)
    if not closed_by_qemu(garbage, timeout=20):
        raise vsu.Fail("QEMU kept a peer that sent garbage")
    garbage.close()
    wait_link(g, "garbage", lambda v: v == 1, what="garbage counted")
    for cid, cids in ((9, [5]), (5, [5]), (6, [7])):
        # a CID the link does not carry, ours, one that does not carry us
        p = fake_connect(path)
        expect_hello(p)
        p.sendall(hello(cid, cids))
        if not closed_by_qemu(p, timeout=20):
            raise vsu.Fail("QEMU kept a peer whose hello it refuses "
                           "(CID %d, cids %s)" % (cid, cids))
        p.close()
    # more connections than the link keeps waiting: the oldest (silent)
    # is pushed out long before its hello-timeout-ms
    flood = [fake_connect(path) for _ in range(LINK_MAX_CANDIDATES)]
    for p in flood:
        expect_hello(p)
    if not closed_by_qemu(silent, timeout=timeout_ms / 1000.0):
        raise vsu.Fail("%d newer connections did not push out the oldest" %
                       LINK_MAX_CANDIDATES)
    pushed_s = time.monotonic() - t_silent
    silent.close()
    if pushed_s >= timeout_ms / 1000.0:
        raise vsu.Fail("the oldest went after %.1f s, by its timeout" %
                       pushed_s)
    for p in flood:
        if not closed_by_qemu(p, timeout=60):
            raise vsu.Fail("QEMU kept a silent connection past "
                           "hello-timeout-ms")
        p.close()
    wait_link(g, "hello-timeouts", lambda v: v == LINK_MAX_CANDIDATES,
              what="one hello timeout per flood connection")
    # (resets is not asked: the first REQUEST may have met the guest's
    # driver starting, whose device reset counts one)
    got = {k: link_stat(g, k) for k in ("state", "reconnects", "garbage")}
    if got != {"state": "up", "reconnects": 1, "garbage": 1}:
        raise vsu.Fail("link after the strangers: %s, expected up, 1 "
                       "reconnect, 1 garbage" % got)
    if not still_open(s1):
        raise vsu.Fail("the link's connection was closed by a stranger")
    # 4. the rest of the stream: every byte over the same connection
    send_rw(s1, 1234, 7000, data[nbytes // 2:])
    s1.sendall(HDR.pack(6, 5, 1234, 7000, 0, 1, OP_SHUTDOWN, 3, 262144, 0))
    b = g.finish()
    s1.close()
    r.expect_pass(b, "link-recv")
    m = re.search(r"STREAM mode=recv bytes=(\d+) sha256=([0-9a-f]+)",
                  b.serial)
    if not m or m.group(2) != hashlib.sha256(data).hexdigest():
        raise vsu.Fail("the guest did not get the %d bytes intact" % nbytes)
    return "a good hello replaced the link's connection (reconnects 1); " \
        "then garbage, 3 refused hellos and %d + 1 silent peers dropped " \
        "(the oldest pushed out after %.2f s), the link untouched, " \
        "%d KiB intact" % (LINK_MAX_CANDIDATES, pushed_s, nbytes // 1024)


class VsockUserLinksPeers(vsu.VsockUserTest):

    def test_links_hello_timeout_microvm(self):
        self.note(check_hello_timeout(self, self.tmp))

    def test_links_candidates_microvm(self):
        self.note(check_candidates(self, self.tmp))


if __name__ == '__main__':
    vsu.VsockUserTest.main()
