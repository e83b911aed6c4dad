# Host-side helpers of virtio-vsock-user's functional tests
#
# Host peers over Unix and TCP loopback sockets (never host AF_VSOCK), the
# device's QMP, a Guest booted with a tests/guest/scenarios script that
# runs while the test acts, and the request/response rounds shared with
# the guest program vsock-rr (tests/guest/src/vsock-rr.c):
# request(tag, i, size), and "ok " + request as the reply.  Used by the
# host stream, host fault and link tests (x86_64/test_vsock_user_*.py).
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


PARENT_CID = 3
DEV_ID = "vsock0"
ROUND_LIMIT_S = 1.0     # one request/response round; a stall is 2 s or more
KILL_LIMIT_S = 2.0      # peer death to the other side noticing it


# ---- helpers ----------------------------------------------------------------

def request(tag, i, size):
    head = b"req %d %d " % (tag, i)
    n = max(size, len(head) + 1)
    body = bytes(97 + (i + k) % 26 for k in range(n - len(head) - 1))
    return head + body + b"\n"


def round_size(i, size, big):
    return big if big and i % 10 == 9 else size


def recv_to_eof(s, limit):
    """Everything until EOF; more than LIMIT bytes is returned as is."""
    chunks = []
    n = 0
    while n <= limit:
        d = s.recv(65536)
        if not d:
            break
        chunks.append(d)
        n += len(d)
    return b"".join(chunks)


def recv_exact(s, n):
    data = b""
    while len(data) < n:
        d = s.recv(n - len(data))
        if not d:
            break
        data += d
    return data


def err_name(e):
    if isinstance(e, socket.timeout):
        return "timeout"
    return errno.errorcode.get(e.errno, str(e)) if e.errno else str(e)


def hybrid_connect(uds, port, timeout=30, early=None):
    """Host -> guest through uds-path: CONNECT, expect "OK <n>".

    EARLY: bytes sent in the same write as the CONNECT line, followed by
    shutdown(SHUT_WR), all before the answer (pipelined client).
    """
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(timeout)
    s.connect(uds)
    s.sendall(b"CONNECT %d\n" % port + (early or b""))
    if early is not None:
        s.shutdown(socket.SHUT_WR)
    line = b""
    while not line.endswith(b"\n") and len(line) < 40:
        c = s.recv(1)
        if not c:
            s.close()
            raise vsu.Fail("CONNECT %d: closed after %r" % (port, line))
        line += c
    if not re.fullmatch(rb"OK \d+\n", line):
        s.close()
        raise vsu.Fail("CONNECT %d: answer %r" % (port, line))
    return s


def unix_listener(path, backlog=256):
    s = socket.socket(socket.AF_UNIX)
    s.bind(path)
    s.listen(backlog)
    return s


def tcp_listener():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(256)
    return s


def tcp_listen_fd():
    """A TCP socket listening on 127.0.0.1 and its port, for QEMU to listen
    on as addr=fd:N or listen=fd:N (pass it with pass_fds, close it here
    once QEMU started): no port is found free, closed and bound again by
    QEMU, and a peer may connect at once, before QEMU accepts."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    s.listen(128)
    return s, s.getsockname()[1]


def tcp_connect(port, timeout=30):
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    return s


def start_thread(fn, *args):
    t = threading.Thread(target=fn, args=args, daemon=True)
    t.start()
    return t


class Qmp:
    def __init__(self, path, deadline):
        self.sock = None
        while True:
            try:
                s = socket.socket(socket.AF_UNIX)
                s.settimeout(20)
                s.connect(path)
                self.sock = s
                break
            except OSError:
                s.close()
                if time.monotonic() > deadline:
                    raise vsu.Fail("no QMP socket at %s" % path)
                time.sleep(0.05)
        self.f = self.sock.makefile("rwb")
        self._read()                     # greeting
        self.cmd("qmp_capabilities")

    def _read(self):
        line = self.f.readline()
        if not line:
            raise vsu.Fail("QMP connection closed")
        return json.loads(line)

    def cmd(self, name, **args):
        msg = {"execute": name}
        if args:
            msg["arguments"] = args
        self.f.write(json.dumps(msg).encode() + b"\n")
        self.f.flush()
        while True:
            r = self._read()
            if "return" in r:
                return r["return"]
            if "error" in r:
                raise vsu.Fail("QMP %s: %s" % (name, r["error"]["desc"]))

    def close(self):
        try:
            self.f.close()
            self.sock.close()
        except OSError:
            pass


class Guest:
    """One QEMU running a scenario, with QMP, driven by the host side.

    Unlike VsockUserTest.boot() this returns at once so the test can act while
    the guest runs; finish() waits and returns a vsu.Boot.
    """

    def __init__(self, r, tmp, machine, scenario, devices, params=None,
                 timeout=60, no_reboot=True, paused=False,
                 dev_path="/machine/peripheral/" + DEV_ID, pass_fds=()):
        self.r = r
        self.scenario = scenario
        self.dev_path = dev_path
        self.serial_path = os.path.join(tmp, "serial.log")
        self.qmp_path = os.path.join(tmp, "qmp.sock")
        self.deadline = time.monotonic() + timeout
        margs, cmdline = r.machine_args(machine)
        cmdline += " vsocktest.scenario=%s" % scenario
        for k, v in (params or {}).items():
            cmdline += " vsocktest.%s=%s" % (k, v)
        self.cmd = ([r.qemu] + margs +
                    ["-accel", r.accel or "tcg", "-m", "256M", "-smp", "1",
                     "-nodefaults", "-no-user-config", "-display", "none",
                     "-serial", "file:" + self.serial_path,
                     "-qmp", "unix:%s,server=on,wait=off" % self.qmp_path] +
                    (["-no-reboot"] if no_reboot else []) +
                    (["-S"] if paused else []) +
                    vsu.DEBUG_EXIT + r.fw_args +
                    ["-kernel", r.args.kernel, "-initrd", r.args.initramfs,
                     "-append", cmdline] + list(devices))
        with open(os.path.join(tmp, "cmdline.txt"), "w") as f:
            f.write(" ".join(vsu.shell_quote(a) for a in self.cmd) + "\n")
        self.qlog_path = os.path.join(tmp, "qemu.log")
        self.t0 = time.monotonic()
        with open(self.qlog_path, "w") as qlog:
            self.proc = subprocess.Popen(self.cmd, stdin=subprocess.DEVNULL,
                                         stdout=qlog,
                                         stderr=subprocess.STDOUT,
                                         pass_fds=pass_fds)
        r.procs.append(self.proc)        # killed by stop_peers() at the end
        self.qmp = Qmp(self.qmp_path, self.deadline)

    def serial(self):
        return vsu.read_text(self.serial_path)

    def wait_for(self, pattern, timeout=None, count=1):
        """Wait until PATTERN (a regex) matched COUNT times; last match."""
        end = self.deadline if timeout is None else \
            min(self.deadline, time.monotonic() + timeout)
        rx = re.compile(pattern)
        while True:
            found = list(rx.finditer(self.serial()))
            if len(found) >= count:
                return found[count - 1]
            if "VSOCKTEST-RESULT" in self.serial() and \
                    "VSOCKTEST-RESULT" not in pattern:
                raise vsu.Fail("guest finished before /%s/: %s" % (
                    pattern, vsu.guest_failure_hint(self.serial())))
            if self.proc.poll() is not None:
                raise vsu.Fail("QEMU exited (%s) before /%s/ on the serial "
                               "console" % (self.proc.returncode, pattern))
            if time.monotonic() > end:
                raise vsu.Fail("timeout waiting for /%s/ on the serial "
                               "console" % pattern)
            time.sleep(0.02)

    def stat(self, name):
        return self.qmp.cmd("qom-get", path=self.dev_path, property=name)

    def stats(self):
        return {k: self.stat(k) for k in ("connections", "host-sockets")}

    def wait_stats(self, want, timeout=5):
        end = time.monotonic() + timeout
        while True:
            try:
                got = self.stats()
            except OSError as e:
                raise vsu.Fail("cannot read the device counters (QEMU "
                               "exit status %s): %s" % (self.proc.poll(), e))
            if got == want:
                return
            if time.monotonic() > end:
                raise vsu.Fail("device counters %s, expected %s" % (got, want))
            time.sleep(0.05)

    def fds(self):
        """QEMU's open file descriptors: (all, sockets)."""
        d = "/proc/%d/fd" % self.proc.pid
        n = sockets = 0
        for name in os.listdir(d):
            try:
                target = os.readlink(os.path.join(d, name))
            except OSError:
                continue
            n += 1
            sockets += target.startswith("socket:")
        return n, sockets

    def finish(self):
        """Wait for QEMU to exit; a vsu.Boot for VsockUserTest.expect_pass()."""
        b = vsu.Boot()
        b.cmd = self.cmd
        try:
            b.status = self.proc.wait(
                timeout=max(1, self.deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            b.timed_out = True
            self.kill()
        self.qmp.close()
        b.elapsed = time.monotonic() - self.t0
        b.serial = self.serial()
        b.qemu_log = vsu.read_text(self.qlog_path)
        b.read_result(self.scenario)
        return b

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.qmp.close()


def check_errors(results):
    for name, res in results.items():
        if "error" in res:
            raise vsu.Fail("%s: %s" % (name, res["error"]))
        if not res.get("done"):
            raise vsu.Fail("%s: host side did not finish" % name)


# ---- 1. request / SHUT_WR / response ----------------------------------------

def rr_server(lsock, tag, rounds, size, big, res):
    """Host server for guest clients: read to EOF, reply, close.

    Big requests are read only after a pause (the SHUT_WR then waits
    behind data the device holds).
    """
    i = 0
    try:
        lsock.settimeout(60)
        worst = 0.0
        for i in range(rounds):
            conn, _ = lsock.accept()
            with conn:
                conn.settimeout(10)
                t0 = time.monotonic()
                want = request(tag, i, round_size(i, size, big))
                if len(want) > size:
                    # let the device buffer guest data and receive the
                    # guest's SHUTDOWN before the host reads any of it
                    time.sleep(0.2)
                got = recv_to_eof(conn, len(want))
                if got != want:
                    res["error"] = ("round %d: request of %d bytes differs "
                                    "from the %d expected" %
                                    (i, len(got), len(want)))
                    return
                conn.sendall(b"ok " + want)
            worst = max(worst, time.monotonic() - t0)
        res.update(done=True, max=worst)
    except OSError as e:
        res["error"] = "round %d: %s" % (i, err_name(e))


def rr_client(g, connect, tag, rounds, size, big, res, pipelined=False):
    """Host client of a guest server: request, SHUT_WR, reply to EOF.

    PIPELINED: connect(early) sends the request and SHUT_WR itself (odd
    rounds), before the connection is even accepted.
    """
    i = 0
    try:
        g.wait_for(r"VSOCKTEST-H2G-READY")
        worst = 0.0
        for i in range(rounds):
            t0 = time.monotonic()
            req = request(tag, i, round_size(i, size, big))
            early = pipelined and i % 2 == 1
            with (connect(req) if early else connect()) as s:
                s.settimeout(10)
                if not early:
                    s.sendall(req)
                    s.shutdown(socket.SHUT_WR)
                got = recv_to_eof(s, len(req) + 3)
            if got != b"ok " + req:
                res["error"] = ("round %d: reply of %d bytes differs from "
                                "the %d expected" % (i, len(got),
                                                     len(req) + 3))
                return
            worst = max(worst, time.monotonic() - t0)
        res.update(done=True, max=worst)
    except (OSError, vsu.Fail) as e:
        res["error"] = "round %d: %s" % (i, err_name(e) if
                                         isinstance(e, OSError) else e)


def device_arg(machine, props):
    """The -device argument and QOM path of the device for MACHINE."""
    if machine == "pc":
        return ("virtio-vsock-user-pci,id=%s,%s" % (DEV_ID, props),
                "/machine/peripheral/%s/virtio-backend" % DEV_ID)
    return ("virtio-vsock-user,id=%s,%s" % (DEV_ID, props),
            "/machine/peripheral/%s" % DEV_ID)


def check_rr(r, tmp, machine):
    """Request / SHUT_WR / response, 50 rounds on each of four paths."""
    r.need_device("virtio-vsock-user-pci" if machine == "pc"
                  else "virtio-vsock-user")
    rounds, size, big = 50, 100, 300000     # big > buf-size (256 KiB)
    uds = os.path.join(tmp, "v.sock")
    fwd = os.path.join(tmp, "fwd8100.sock")
    l_tcp, tport = tcp_listen_fd()
    l_hybrid = unix_listener(uds + "_5100")
    l_fwd = unix_listener(fwd)
    dev, path = device_arg(machine, "guest-cid=16,parent-cid=%d,uds-path=%s"
                           % (PARENT_CID, uds))
    devices = [
        "-object", "vsock-user-forward,id=f1,guest-port=8100,"
        "connect=unix:%s" % fwd,
        "-object", "vsock-user-forward,id=f2,guest-port=6101,"
        "listen=fd:%d" % l_tcp.fileno(),
        "-device", dev,
    ]
    g = Guest(r, tmp, machine, "hs-rr", devices, timeout=60, dev_path=path,
              params={"rounds": rounds, "size": size, "big": big},
              pass_fds=(l_tcp.fileno(),))
    l_tcp.close()
    res = {k: {} for k in ("g2h-hybrid", "g2h-forward", "h2g-hybrid",
                           "h2g-forward")}
    threads = [
        start_thread(rr_server, l_hybrid, 5100, rounds, size, big,
                     res["g2h-hybrid"]),
        start_thread(rr_server, l_fwd, 8100, rounds, size, big,
                     res["g2h-forward"]),
        start_thread(rr_client, g,
                     lambda early=None: hybrid_connect(uds, 6100,
                                                       early=early),
                     6100, rounds, size, big, res["h2g-hybrid"], True),
        start_thread(rr_client, g, lambda: tcp_connect(tport), 6101,
                     rounds, size, big, res["h2g-forward"]),
    ]
    b = g.finish()
    for t in threads:
        t.join(timeout=10)
    l_hybrid.close()
    l_fwd.close()
    r.expect_pass(b, "hs-rr")
    check_errors(res)
    notes = []
    for name, port in (("g2h-hybrid", 5100), ("g2h-forward", 8100),
                       ("h2g-hybrid", 6100), ("h2g-forward", 6101)):
        role = "client" if name.startswith("g2h") else "server"
        m = re.search(r"RR %s port=%d rounds=(\d+) max_ms=([0-9.]+) "
                      r"avg_ms=([0-9.]+)" % (role, port), b.serial)
        if not m or int(m.group(1)) != rounds:
            raise vsu.Fail("%s: no 'RR %s port=%d rounds=%d' line" %
                           (name, role, port, rounds))
        guest_max = float(m.group(2)) / 1000
        host_max = res[name]["max"]
        if max(guest_max, host_max) >= ROUND_LIMIT_S:
            raise vsu.Fail("%s: slowest round took %.3f s (guest) / %.3f s "
                           "(host), limit %.3g s: a stall" %
                           (name, guest_max, host_max, ROUND_LIMIT_S))
        notes.append("%s max %.0f ms" % (name, max(guest_max, host_max)
                                          * 1000))
    return "%d rounds x 4 paths: %s" % (rounds, ", ".join(notes))


def accept_n(lsock, n, deadline):
    conns = []
    while len(conns) < n:
        lsock.settimeout(max(0.1, deadline - time.monotonic()))
        try:
            c, _ = lsock.accept()
        except socket.timeout:
            raise vsu.Fail("accepted %d of %d guest connections" %
                           (len(conns), n))
        c.settimeout(20)
        conns.append(c)
    return conns


def serve_many(conns, n, what):
    """Read each request to EOF, check the set of tags, reply, close."""
    tags = set()
    for c in conns:
        with c:
            got = recv_to_eof(c, 100)
            m = re.match(rb"req (\d+) 0 ", got)
            tag = int(m.group(1)) if m else -1
            if not m or got != request(tag, 0, 64) or tag in tags:
                raise vsu.Fail("%s: bad request %r" % (what, got[:30]))
            tags.add(tag)
            c.sendall(b"ok " + got)
    if tags != set(range(n)):
        raise vsu.Fail("%s: request tags %d..%d, not 0..%d" %
                       (what, min(tags), max(tags), n - 1))
