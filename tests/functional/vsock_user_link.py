# Two QEMUs and a link: helpers of virtio-vsock-user's link tests
#
# The link's wire format as a test peer speaks it (frames, the hello),
# the -object vsock-user-link and -device arguments of a linked guest,
# waits on a link object's QOM properties over QMP, and the check that a
# stream crossed a link intact.  Used by x86_64/test_vsock_user_links*.py.
#
# Copyright (c) 2026 The virtio-vsock-user authors
#
# SPDX-License-Identifier: GPL-2.0-or-later

import re
import socket
import struct
import time

import vsock_user as vsu
import vsock_user_host as hs


HDR = struct.Struct("<QQIIIHHIII")


HELLO_MAGIC = 0x4b4e4c56


OP_REQUEST, OP_RESPONSE, OP_RST, OP_SHUTDOWN, OP_RW, OP_CREDIT_UPDATE = \
    1, 2, 3, 4, 5, 6


def machine_devices(machine):
    if machine == "microvm":
        return "virtio-vsock-user", "virtio-net-device"
    return "virtio-vsock-user-pci", "virtio-net-pci"


def link_args(link_path, server, cids, extra=""):
    return ["-object",
            "vsock-user-link,id=l0,vsock=%s,addr=unix:%s,server=%s,%s%s" %
            (hs.DEV_ID, link_path, "on" if server else "off",
             ",".join("cids=%d" % c for c in cids), extra)]


def guest_args(machine, cid, parent=2, extra=""):
    dev, _ = machine_devices(machine)
    return ["-device", "%s,id=%s,guest-cid=%d,parent-cid=%d%s" %
            (dev, hs.DEV_ID, cid, parent, extra)]


def net_args(machine, mine, theirs, k):
    _, net = machine_devices(machine)
    return ["-netdev", "dgram,id=n0,local.type=unix,local.path=%s,"
            "remote.type=unix,remote.path=%s" % (mine, theirs),
            "-device", "%s,netdev=n0,mac=52:54:00:12:34:%02x" % (net, k)]


def link_stat(g, name):
    return g.qmp.cmd("qom-get", path="/objects/l0", property=name)


def wait_link(g, prop, pred, timeout=60, what=""):
    end = time.monotonic() + timeout
    while True:
        v = link_stat(g, prop)
        if pred(v):
            return v
        if time.monotonic() > end:
            raise vsu.Fail("link %s is %r, waited for %s" % (prop, v, what))
        time.sleep(0.05)


def expect_same_stream(r, sender, receiver, scenarios=("link-send",
                                                      "link-recv")):
    """The sending guest passed its scenario (link-send), the receiving one
    its own (link-recv), and both counted the same bytes and sha256."""
    r.expect_pass(sender, scenarios[0])
    r.expect_pass(receiver, scenarios[1])
    sent = re.search(r"STREAM mode=send bytes=(\d+) sha256=(\w+)",
                     sender.serial)
    got = re.search(r"STREAM mode=recv bytes=(\d+) sha256=(\w+)",
                    receiver.serial)
    if not sent or not got or sent.groups() != got.groups():
        raise vsu.Fail("sent %s, received %s" % (
            sent.groups() if sent else None, got.groups() if got else None))


def frame(src, sport, dst, dport, op, payload=b"", buf_alloc=262144,
          fwd_cnt=0, type_=1, length=None):
    return HDR.pack(src, dst, sport, dport,
                    len(payload) if length is None else length, type_, op, 0,
                    buf_alloc, fwd_cnt) + payload


def hello(cid, cids):
    return HDR.pack(cid, 0, HELLO_MAGIC, 1, 8 * len(cids), 0, 0, 0, 0, 0) + \
        b"".join(struct.pack("<Q", c) for c in cids)


def recv_exact(s, n):
    data = b""
    while len(data) < n:
        d = s.recv(n - len(data))
        if not d:
            raise EOFError
        data += d
    return data


def read_frame(s):
    h = HDR.unpack(recv_exact(s, HDR.size))
    return h, recv_exact(s, h[4]) if h[4] else b""


def closed_by_qemu(s, timeout=60):
    """True once QEMU closed the link (whatever it sent before)."""
    s.settimeout(timeout)
    try:
        while s.recv(65536):
            pass
        return True
    except socket.timeout:
        return False
    except OSError:
        return True


def fake_connect(path, deadline=20):
    end = time.monotonic() + deadline
    while True:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.connect(path)
            s.settimeout(20)
            return s
        except OSError:
            s.close()
            if time.monotonic() > end:
                raise vsu.Fail("cannot connect to the link at %s" % path)
            time.sleep(0.05)


def fake_up(g, path):
    """Connect, check QEMU's hello, answer ours; the link is up."""
    s = fake_connect(path)
    h, payload = read_frame(s)
    if h[0] != 5 or h[2] != HELLO_MAGIC or payload != struct.pack("<Q", 6):
        raise vsu.Fail("unexpected hello from QEMU: %r %r" % (h, payload))
    s.sendall(hello(6, [5]))
    wait_link(g, "state", lambda v: v == "up", what="up")
    return s


def relay_parent_args(l16, l17, relay):
    """A parent's two listening links, to enclaves 16 and 17 at Unix
    paths L16 and L17; with RELAY, each may relay to the other."""
    return ["-object", "vsock-user-link,id=l0,vsock=%s,addr=unix:%s,"
            "server=on,cids=16%s" % (hs.DEV_ID, l16,
                                     ",relay-cids=17" if relay else ""),
            "-object", "vsock-user-link,id=l1,vsock=%s,addr=unix:%s,"
            "server=on,cids=17%s" % (hs.DEV_ID, l17,
                                     ",relay-cids=16" if relay else "")]


def obj_stat(g, obj, name):
    return g.qmp.cmd("qom-get", path="/objects/" + obj, property=name)


def wait_obj(g, obj, prop, pred, timeout=60, what=""):
    end = time.monotonic() + timeout
    while True:
        v = obj_stat(g, obj, prop)
        if pred(v):
            return v
        if time.monotonic() > end:
            raise vsu.Fail("%s %s is %r, waited for %s" % (obj, prop, v, what))
        time.sleep(0.05)
