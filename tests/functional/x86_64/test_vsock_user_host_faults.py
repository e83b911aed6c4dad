#!/usr/bin/env python3
#
# virtio-vsock-user functional tests: host peer faults
#
# Host endpoints when peers die or the guest reboots, with real guests.
#
# The helpers are in ../vsock_user_host.py.
#
#   hs-kill-microvm    host peers SIGKILLed mid-transfer -> the guest writer
#                      gets EPIPE/ECONNRESET, the guest reader EOF; guest
#                      processes SIGKILLed -> the host sees EOF or reset; all
#                      within 2 s
#   hs-reboot-microvm  guest "reboot -f", then QMP system_reset, each with 17
#                      connections open (4 per path + control): QEMU's
#                      sockets back to the baseline and counters to 0 within
#                      2 s, Unix peers see EOF, TCP peers ECONNRESET; all fds
#                      equal to the baseline once the last boot idles
#
# Copyright (c) 2026 The virtio-vsock-user authors
#
# SPDX-License-Identifier: GPL-2.0-or-later

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

import vsock_user as vsu
from vsock_user_host import *  # noqa: F401,F403  (the shared helpers)


PEER_KILLER = r"""
import os, signal, socket, sys
lsock = socket.socket(fileno=int(sys.argv[1]))
conn, _ = lsock.accept()
n = 0
while n < int(sys.argv[2]):
    d = conn.recv(65536)
    if not d:
        sys.exit(3)
    n += len(d)
os.kill(os.getpid(), signal.SIGKILL)
"""


# A host client that CONNECTs to a guest port through uds-path, writes
# LIMIT bytes, then SIGKILLs itself with the connection open.
WRITER_KILLER = r"""
import os, signal, socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(30)
s.connect(sys.argv[1])
s.sendall(b"CONNECT %s\n" % sys.argv[2].encode())
line = b""
while not line.endswith(b"\n"):
    c = s.recv(1)
    if not c:
        sys.exit(3)
    line += c
if not line.startswith(b"OK "):
    sys.exit(4)
s.sendall(b"w" * int(sys.argv[3]))
os.kill(os.getpid(), signal.SIGKILL)
"""


def spawn_killer(r, tmp, lsock, limit, name, script=PEER_KILLER, args=()):
    log = open(os.path.join(tmp, name + ".log"), "w")
    fds = [lsock.fileno()] if lsock else []
    p = subprocess.Popen([sys.executable, "-c", script] +
                         [str(fd) for fd in fds] + list(args) + [str(limit)],
                         pass_fds=fds, stdin=subprocess.DEVNULL,
                         stdout=log, stderr=subprocess.STDOUT)
    log.close()
    if lsock:
        lsock.close()
    r.procs.append(p)
    return p


def wait_killed(g, p, what):
    """Wait for the self-killing peer P; its time of death."""
    try:
        p.wait(timeout=max(1, g.deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        raise vsu.Fail("%s never finished its transfer" % what)
    if p.returncode != -9:
        raise vsu.Fail("%s exited with %s, not SIGKILL" % (what,
                                                          p.returncode))
    return time.monotonic()


def read_until_end(lsock, res):
    """Accept one connection, read until EOF or an error."""
    try:
        lsock.settimeout(60)
        conn, _ = lsock.accept()
        conn.settimeout(30)
        n = 0
        with conn:
            while True:
                try:
                    d = conn.recv(65536)
                except OSError as e:
                    res["result"] = err_name(e)
                    break
                if not d:
                    res["result"] = "EOF"
                    break
                n += len(d)
                res["last_data"] = time.monotonic()
        res.update(done=True, bytes=n, end=time.monotonic())
    except OSError as e:
        res["error"] = err_name(e)


def write_until_error(g, connect, res):
    """Write to a guest reader until the connection fails."""
    try:
        g.wait_for(r"VSOCKTEST-H2G-READY")
        buf = b"w" * 65536
        n = 0
        with connect() as s:
            s.settimeout(30)
            while True:
                try:
                    n += s.send(buf)
                except OSError as e:
                    res["result"] = err_name(e)
                    break
        res.update(done=True, bytes=n, end=time.monotonic())
    except (OSError, vsu.Fail) as e:
        res["error"] = str(e)


def check_kill_microvm(r, tmp):
    """Host peer killed -> guest write fails; guest killed -> host sees it."""
    r.need_device("virtio-vsock-user")
    limit = 1024 * 1024
    uds = os.path.join(tmp, "v.sock")
    l_tcp = tcp_listener()
    tcp_peer_port = l_tcp.getsockname()[1]
    l_fwd_tcp, tport = tcp_listen_fd()
    p_hybrid = spawn_killer(r, tmp, unix_listener(uds + "_5300"), limit,
                            "killer-5300")
    p_tcp = spawn_killer(r, tmp, l_tcp, limit, "killer-8300")
    l_reader = unix_listener(uds + "_5301")
    devices = [
        "-object", "vsock-user-forward,id=f1,guest-port=8300,"
        "connect=tcp:127.0.0.1:%d" % tcp_peer_port,
        "-object", "vsock-user-forward,id=f2,guest-port=6300,"
        "listen=fd:%d" % l_fwd_tcp.fileno(),
        "-device", "virtio-vsock-user,id=%s,guest-cid=16,parent-cid=%d,"
        "uds-path=%s" % (DEV_ID, PARENT_CID, uds),
    ]
    g = Guest(r, tmp, "microvm", "hs-kill", devices, timeout=60,
              params={"bytes": limit}, pass_fds=(l_fwd_tcp.fileno(),))
    l_fwd_tcp.close()
    res_reader, res_writer = {}, {}
    threads = [start_thread(read_until_end, l_reader, res_reader),
               start_thread(write_until_error, g,
                            lambda: tcp_connect(tport), res_writer)]
    notes = []
    try:
        # host writer dies while the guest reads
        g.wait_for(r"VSOCKTEST-H2G-READY")
        p = spawn_killer(r, tmp, None, limit, "killer-6301",
                         WRITER_KILLER, (uds, "6301"))
        t_dead = wait_killed(g, p, "host writer to port 6301")
        m = g.wait_for(r"STREAM mode=recv bytes=(\d+) |"
                       r"read after (\d+) bytes: .*\((\w+)\)",
                       timeout=KILL_LIMIT_S + 3)
        seen = time.monotonic() - t_dead
        result = "EOF" if m.group(1) else m.group(3)
        if result not in ("EOF", "ECONNRESET") or \
                (result == "EOF" and int(m.group(1)) != limit):
            raise vsu.Fail("port 6301: the guest reader of a killed host "
                           "writer saw %s" % m.group(0))
        if seen >= KILL_LIMIT_S + 0.5:
            raise vsu.Fail("port 6301: the guest reader noticed the dead "
                           "host writer after %.2f s" % seen)
        notes.append("6301: %s" % result)

        # host peers die while the guest writes
        for port, p in ((5300, p_hybrid), (8300, p_tcp)):
            t_dead = wait_killed(g, p, "host reader of port %d" % port)
            m = g.wait_for(r"KILL port=%d result=(\S+) bytes=(\d+) "
                           r"stall_ms=([0-9.]+) read=(\S+)" % port,
                           timeout=KILL_LIMIT_S + 3)
            seen = time.monotonic() - t_dead
            result, stall = m.group(1), float(m.group(3)) / 1000
            if result not in ("EPIPE", "ECONNRESET"):
                raise vsu.Fail("port %d: guest write after the host peer "
                               "died: %s, expected EPIPE or ECONNRESET" %
                               (port, result))
            if int(m.group(2)) < limit:
                raise vsu.Fail("port %d: guest wrote %s bytes, the peer "
                               "read %d" % (port, m.group(2), limit))
            if stall >= KILL_LIMIT_S or seen >= KILL_LIMIT_S + 0.5:
                raise vsu.Fail("port %d: the guest noticed the dead peer "
                               "after %.2f s (stall %.2f s)" %
                               (port, seen, stall))
            notes.append("%d: %s (read %s) %.0f ms" %
                         (port, result, m.group(4), stall * 1000))

        # guest writer killed
        m = g.wait_for(r"SUICIDE mode=send port=5301 bytes=(\d+)")
        t_marker = time.monotonic()
        threads[0].join(timeout=KILL_LIMIT_S + 5)
        check_errors({"reader 5301": res_reader})
        if res_reader["result"] not in ("EOF", "ECONNRESET"):
            raise vsu.Fail("host reader of the killed guest writer: %s" %
                           res_reader["result"])
        if res_reader["result"] == "EOF" and \
                res_reader["bytes"] != int(m.group(1)):
            raise vsu.Fail("host read %d bytes then EOF; the guest wrote %s"
                           % (res_reader["bytes"], m.group(1)))
        late = res_reader["end"] - max(t_marker, res_reader["last_data"])
        if late >= KILL_LIMIT_S:
            raise vsu.Fail("host reader saw %s %.2f s after the guest "
                           "writer died" % (res_reader["result"], late))
        notes.append("5301: %s after %d bytes" % (res_reader["result"],
                                                  res_reader["bytes"]))

        # guest reader killed
        g.wait_for(r"SUICIDE mode=recv port=6300 bytes=%d" % limit)
        t_marker = time.monotonic()
        threads[1].join(timeout=KILL_LIMIT_S + 5)
        check_errors({"writer 6300": res_writer})
        if res_writer["result"] not in ("EPIPE", "ECONNRESET"):
            raise vsu.Fail("host writer to the killed guest reader: %s" %
                           res_writer["result"])
        late = res_writer["end"] - t_marker
        if late >= KILL_LIMIT_S:
            raise vsu.Fail("host writer saw %s %.2f s after the guest "
                           "reader died" % (res_writer["result"], late))
        notes.append("6300: %s" % res_writer["result"])
        g.wait_for(r"K6301 exit=0")
        g.wait_stats({"connections": 0, "host-sockets": 0})
        b = g.finish()
    finally:
        g.kill()
        l_reader.close()
    r.expect_pass(b, "hs-kill")
    return "; ".join(notes)


# ---- 4. reboot with open connections ----------------------------------------

def ctl_run(c, line):
    c.sendall(line.encode() + b"\n")
    reply = b""
    while not reply.endswith(b"\n"):
        d = c.recv(1)
        if not d:
            raise vsu.Fail("control connection closed after %r" % line)
        reply += d
    if reply != b"rc=0\n":
        raise vsu.Fail("guest command %r: %r" % (line, reply))


def hold_accept(lsock, n, out, res):
    try:
        lsock.settimeout(30)
        for _ in range(n):
            c, _ = lsock.accept()
            c.settimeout(10)
            c.sendall(b"hello\n")
            if recv_exact(c, 6) != b"hello\n":
                raise OSError(errno.EPROTO, "no hello")
            out.append(c)
        res["done"] = True
    except OSError as e:
        res["error"] = err_name(e)


def hello(s):
    s.settimeout(10)
    s.sendall(b"hello\n")
    if recv_exact(s, 6) != b"hello\n":
        raise vsu.Fail("no hello from the guest")
    return s


def peer_end(s):
    """How a host socket ended: EOF, an errno name or timeout."""
    s.settimeout(5)
    try:
        d = s.recv(100)
        return "EOF" if not d else "DATA"
    except OSError as e:
        return err_name(e)
    finally:
        s.close()


def check_reboot_microvm(r, tmp):
    """Guest reboot -f, then QMP system_reset, with 17 connections open."""
    r.need_device("virtio-vsock-user")
    n = 4
    uds = os.path.join(tmp, "v.sock")
    fwd = os.path.join(tmp, "fwd8401.sock")
    l_tcp, tport = tcp_listen_fd()
    l_ctl = unix_listener(uds + "_5400")
    l_hybrid = unix_listener(uds + "_5401")
    l_fwd = unix_listener(fwd)
    devices = [
        "-object", "vsock-user-forward,id=f1,guest-port=8401,"
        "connect=unix:%s" % fwd,
        "-object", "vsock-user-forward,id=f2,guest-port=6402,"
        "listen=fd:%d" % l_tcp.fileno(),
        "-device", "virtio-vsock-user,id=%s,guest-cid=16,parent-cid=%d,"
        "uds-path=%s" % (DEV_ID, PARENT_CID, uds),
    ]
    g = Guest(r, tmp, "microvm", "hs-reboot", devices, timeout=60,
              no_reboot=False, paused=True, pass_fds=(l_tcp.fileno(),))
    l_tcp.close()
    notes = []
    try:
        if g.stats() != {"connections": 0, "host-sockets": 0}:
            raise vsu.Fail("counters before boot: %s" % g.stats())
        g.qmp.cmd("cont")
        cycles = ("guest reboot -f", "QMP system_reset")
        base = None
        for k, how in enumerate(cycles):
            l_ctl.settimeout(30)
            ctl, _ = l_ctl.accept()
            ctl.settimeout(20)
            if base is None:
                # QEMU opens a few eventfds while the guest boots; the
                # baseline is taken with only the control connection
                # open, and checked again once the last boot idles.
                g.wait_stats({"connections": 1, "host-sockets": 1})
                base, base_socks = g.fds()
                base -= 1
                base_socks -= 1
            g2h_hybrid, g2h_fwd = [], []
            res = {"5401": {}, "8401": {}}
            th = [start_thread(hold_accept, l_hybrid, n, g2h_hybrid,
                               res["5401"]),
                  start_thread(hold_accept, l_fwd, n, g2h_fwd,
                               res["8401"])]
            ctl_run(ctl, "vsock-rr hold-client %d 5401 %d &" %
                    (PARENT_CID, n))
            ctl_run(ctl, "vsock-rr hold-client %d 8401 %d &" %
                    (PARENT_CID, n))
            ctl_run(ctl, "vsock-rr hold-server 6401 %d &" % n)
            ctl_run(ctl, "vsock-rr hold-server 6402 %d &" % n)
            g.wait_for(r"HOLD listening port=6401", count=k + 1)
            g.wait_for(r"HOLD listening port=6402", count=k + 1)
            h2g_hybrid = [hello(hybrid_connect(uds, 6401))
                          for _ in range(n)]
            tcp_socks = [hello(tcp_connect(tport)) for _ in range(n)]
            for port in (5401, 8401, 6401, 6402):
                g.wait_for(r"HOLD port=%d n=%d" % (port, n), count=k + 1)
            for t in th:
                t.join(timeout=10)
            check_errors(res)
            unix_socks = g2h_hybrid + g2h_fwd + h2g_hybrid
            total = 4 * n + 1
            got = g.stats()
            if got != {"connections": total, "host-sockets": total}:
                raise vsu.Fail("cycle %d, %d open: counters %s" %
                               (k, total, got))
            fds, socks = g.fds()
            if (fds, socks) != (base + total, base_socks + total):
                raise vsu.Fail("cycle %d: QEMU has %d fds (%d sockets) with "
                               "%d connections open, baseline %d (%d)" %
                               (k, fds, socks, total, base, base_socks))
            t0 = time.monotonic()
            if k == len(cycles) - 1:
                # the next boot finds no control socket and idles
                l_ctl.close()
                os.unlink(uds + "_5400")
                g.qmp.cmd("system_reset")
            else:
                ctl.sendall(b"reboot -f\n")
            end = t0 + KILL_LIMIT_S
            t_fds = t_stats = t_peer = None
            while None in (t_fds, t_stats, t_peer):
                now = time.monotonic()
                # Sockets only: QEMU closes and reopens a few eventfds
                # across the machine reset itself; all fds are compared
                # once the last boot idles.
                if t_fds is None and g.fds()[1] == base_socks:
                    t_fds = now - t0
                if t_stats is None and g.stats() == {"connections": 0,
                                                     "host-sockets": 0}:
                    t_stats = now - t0
                if t_peer is None and \
                        select.select(tcp_socks, [], [], 0)[0]:
                    t_peer = now - t0
                if now > end:
                    raise vsu.Fail("%s: 2 s later QEMU has %d sockets "
                                   "(baseline %d), counters %s" %
                                   (how, g.fds()[1], base_socks,
                                    g.stats()))
                time.sleep(0.01)
            dt = max(t_fds, t_stats, t_peer)
            ends = [peer_end(s) for s in unix_socks + [ctl]]
            tends = [peer_end(s) for s in tcp_socks]
            if set(ends) != {"EOF"} or set(tends) != {"ECONNRESET"}:
                raise vsu.Fail("%s: Unix peers saw %s (expected EOF), TCP "
                               "peers saw %s (expected ECONNRESET)" %
                               (how, sorted(set(ends)),
                                sorted(set(tends))))
            notes.append("%s: %d sockets -> %d in %.0f ms" %
                         (how, base_socks + total, base_socks,
                          dt * 1000))
        g.wait_for(r"VSOCKTEST-IDLE", count=1)
        if g.fds() != (base, base_socks) or \
                g.stats() != {"connections": 0, "host-sockets": 0}:
            raise vsu.Fail("after the last boot: %d fds, %d sockets "
                           "(baseline %d, %d), counters %s" %
                           (g.fds() + (base, base_socks, g.stats())))
        if len(re.findall(r"VSOCKTEST-START", g.serial())) != 3:
            raise vsu.Fail("expected 3 boots, saw %d" %
                           len(re.findall(r"VSOCKTEST-START", g.serial())))
        g.qmp.cmd("quit")
        g.proc.wait(timeout=10)
    finally:
        g.kill()
        for s in (l_ctl, l_hybrid, l_fwd):
            s.close()
    return "; ".join(notes) + "; idle: %d fds as before" % base


# ---- 5. pc variant of the SHA-256 streams -----------------------------------


class VsockUserHostFaults(vsu.VsockUserTest):

    def test_hs_kill_microvm(self):
        self.note(check_kill_microvm(self, self.tmp))

    def test_hs_reboot_microvm(self):
        self.note(check_reboot_microvm(self, self.tmp))


if __name__ == '__main__':
    vsu.VsockUserTest.main()
