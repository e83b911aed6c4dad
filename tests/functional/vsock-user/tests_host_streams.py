"""Host endpoint stream semantics with real guests (issue 7, "Tests").

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
  hs-kill-microvm    host peers SIGKILLed mid-transfer -> the guest writer
                     gets EPIPE/ECONNRESET, the guest reader EOF; guest
                     processes SIGKILLed -> the host sees EOF or reset; all
                     within 2 s
  hs-reboot-microvm  guest "reboot -f", then QMP system_reset, each with 17
                     connections open (4 per path + control): QEMU's
                     sockets back to the baseline and counters to 0 within
                     2 s, Unix peers see EOF, TCP peers ECONNRESET; all fds
                     equal to the baseline once the last boot idles
  hs-stream-pc       the SHA-256 streams of host-endpoints-microvm on -M pc
                     with virtio-vsock-user-pci

Message format shared with vsock-rr: request(tag, i, size) and "ok " +
request as the reply.
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

run = None      # the runner module, set by tests()

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
            raise run.Fail("CONNECT %d: closed after %r" % (port, line))
        line += c
    if not re.fullmatch(rb"OK \d+\n", line):
        s.close()
        raise run.Fail("CONNECT %d: answer %r" % (port, line))
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


def free_tcp_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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
                    raise run.Fail("no QMP socket at %s" % path)
                time.sleep(0.05)
        self.f = self.sock.makefile("rwb")
        self._read()                     # greeting
        self.cmd("qmp_capabilities")

    def _read(self):
        line = self.f.readline()
        if not line:
            raise run.Fail("QMP connection closed")
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
                raise run.Fail("QMP %s: %s" % (name, r["error"]["desc"]))

    def close(self):
        try:
            self.f.close()
            self.sock.close()
        except OSError:
            pass


class Guest:
    """One QEMU running a scenario, with QMP, driven by the host side.

    Unlike Runner.boot() this returns at once so the test can act while
    the guest runs; finish() waits and returns a run.Boot.
    """

    def __init__(self, r, tmp, machine, scenario, devices, params=None,
                 timeout=60, no_reboot=True, paused=False,
                 dev_path="/machine/peripheral/" + DEV_ID):
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
                    run.DEBUG_EXIT + r.fw_args +
                    ["-kernel", r.args.kernel, "-initrd", r.args.initramfs,
                     "-append", cmdline] + list(devices))
        with open(os.path.join(tmp, "cmdline.txt"), "w") as f:
            f.write(" ".join(run.shell_quote(a) for a in self.cmd) + "\n")
        self.qlog_path = os.path.join(tmp, "qemu.log")
        self.t0 = time.monotonic()
        with open(self.qlog_path, "w") as qlog:
            self.proc = subprocess.Popen(self.cmd, stdin=subprocess.DEVNULL,
                                         stdout=qlog,
                                         stderr=subprocess.STDOUT)
        r.procs.append(self.proc)        # killed by stop_peers() at the end
        self.qmp = Qmp(self.qmp_path, self.deadline)

    def serial(self):
        return run.read_text(self.serial_path)

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
                raise run.Fail("guest finished before /%s/: %s" % (
                    pattern, run.guest_failure_hint(self.serial())))
            if self.proc.poll() is not None:
                raise run.Fail("QEMU exited (%s) before /%s/ on the serial "
                               "console" % (self.proc.returncode, pattern))
            if time.monotonic() > end:
                raise run.Fail("timeout waiting for /%s/ on the serial "
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
                raise run.Fail("cannot read the device counters (QEMU "
                               "exit status %s): %s" % (self.proc.poll(), e))
            if got == want:
                return
            if time.monotonic() > end:
                raise run.Fail("device counters %s, expected %s" % (got, want))
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
        """Wait for QEMU to exit; a run.Boot for Runner.expect_pass()."""
        b = run.Boot()
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
        b.qemu_log = run.read_text(self.qlog_path)
        m = None
        for m in run.RESULT_RE.finditer(b.serial):
            pass
        if m and m.group(1) == self.scenario:
            b.result = m.group(2)
            b.rc = int(m.group(3)) if m.group(3) else 0
        return b

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.qmp.close()


def check_errors(results):
    for name, res in results.items():
        if "error" in res:
            raise run.Fail("%s: %s" % (name, res["error"]))
        if not res.get("done"):
            raise run.Fail("%s: host side did not finish" % name)


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
    except (OSError, run.Fail) as e:
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
    tport = free_tcp_port()
    l_hybrid = unix_listener(uds + "_5100")
    l_fwd = unix_listener(fwd)
    dev, path = device_arg(machine, "guest-cid=16,parent-cid=%d,uds-path=%s"
                           % (PARENT_CID, uds))
    devices = [
        "-object", "vsock-user-forward,id=f1,guest-port=8100,"
        "connect=unix:%s" % fwd,
        "-object", "vsock-user-forward,id=f2,guest-port=6101,"
        "listen=tcp:127.0.0.1:%d" % tport,
        "-device", dev,
    ]
    g = Guest(r, tmp, machine, "hs-rr", devices, timeout=60, dev_path=path,
              params={"rounds": rounds, "size": size, "big": big})
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
            raise run.Fail("%s: no 'RR %s port=%d rounds=%d' line" %
                           (name, role, port, rounds))
        guest_max = float(m.group(2)) / 1000
        host_max = res[name]["max"]
        if max(guest_max, host_max) >= ROUND_LIMIT_S:
            raise run.Fail("%s: slowest round took %.3f s (guest) / %.3f s "
                           "(host), limit %.3g s: a stall" %
                           (name, guest_max, host_max, ROUND_LIMIT_S))
        notes.append("%s max %.0f ms" % (name, max(guest_max, host_max)
                                          * 1000))
    return "%d rounds x 4 paths: %s" % (rounds, ", ".join(notes))


def test_rr_microvm(r, tmp):
    return check_rr(r, tmp, "microvm")


def test_rr_pc(r, tmp):
    return check_rr(r, tmp, "pc")


# ---- 2. 200 concurrent connections ------------------------------------------

def accept_n(lsock, n, deadline):
    conns = []
    while len(conns) < n:
        lsock.settimeout(max(0.1, deadline - time.monotonic()))
        try:
            c, _ = lsock.accept()
        except socket.timeout:
            raise run.Fail("accepted %d of %d guest connections" %
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
                raise run.Fail("%s: bad request %r" % (what, got[:30]))
            tags.add(tag)
            c.sendall(b"ok " + got)
    if tags != set(range(n)):
        raise run.Fail("%s: request tags %d..%d, not 0..%d" %
                       (what, min(tags), max(tags), n - 1))


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
        got = g.stats()
        if got != {"connections": 2 * n, "host-sockets": 2 * n}:
            raise run.Fail("guest->host, %d open: device counters %s" %
                           (2 * n, got))
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
        raise run.Fail("%s never finished its transfer" % what)
    if p.returncode != -9:
        raise run.Fail("%s exited with %s, not SIGKILL" % (what,
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
    except (OSError, run.Fail) as e:
        res["error"] = str(e)


def test_kill_microvm(r, tmp):
    """Host peer killed -> guest write fails; guest killed -> host sees it."""
    r.need_device("virtio-vsock-user")
    limit = 1024 * 1024
    uds = os.path.join(tmp, "v.sock")
    l_tcp = tcp_listener()
    tcp_peer_port = l_tcp.getsockname()[1]
    tport = free_tcp_port()
    p_hybrid = spawn_killer(r, tmp, unix_listener(uds + "_5300"), limit,
                            "killer-5300")
    p_tcp = spawn_killer(r, tmp, l_tcp, limit, "killer-8300")
    l_reader = unix_listener(uds + "_5301")
    devices = [
        "-object", "vsock-user-forward,id=f1,guest-port=8300,"
        "connect=tcp:127.0.0.1:%d" % tcp_peer_port,
        "-object", "vsock-user-forward,id=f2,guest-port=6300,"
        "listen=tcp:127.0.0.1:%d" % tport,
        "-device", "virtio-vsock-user,id=%s,guest-cid=16,parent-cid=%d,"
        "uds-path=%s" % (DEV_ID, PARENT_CID, uds),
    ]
    g = Guest(r, tmp, "microvm", "hs-kill", devices, timeout=60,
              params={"bytes": limit})
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
            raise run.Fail("port 6301: the guest reader of a killed host "
                           "writer saw %s" % m.group(0))
        if seen >= KILL_LIMIT_S + 0.5:
            raise run.Fail("port 6301: the guest reader noticed the dead "
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
                raise run.Fail("port %d: guest write after the host peer "
                               "died: %s, expected EPIPE or ECONNRESET" %
                               (port, result))
            if int(m.group(2)) < limit:
                raise run.Fail("port %d: guest wrote %s bytes, the peer "
                               "read %d" % (port, m.group(2), limit))
            if stall >= KILL_LIMIT_S or seen >= KILL_LIMIT_S + 0.5:
                raise run.Fail("port %d: the guest noticed the dead peer "
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
            raise run.Fail("host reader of the killed guest writer: %s" %
                           res_reader["result"])
        if res_reader["result"] == "EOF" and \
                res_reader["bytes"] != int(m.group(1)):
            raise run.Fail("host read %d bytes then EOF; the guest wrote %s"
                           % (res_reader["bytes"], m.group(1)))
        late = res_reader["end"] - max(t_marker, res_reader["last_data"])
        if late >= KILL_LIMIT_S:
            raise run.Fail("host reader saw %s %.2f s after the guest "
                           "writer died" % (res_reader["result"], late))
        notes.append("5301: %s after %d bytes" % (res_reader["result"],
                                                  res_reader["bytes"]))

        # guest reader killed
        g.wait_for(r"SUICIDE mode=recv port=6300 bytes=%d" % limit)
        t_marker = time.monotonic()
        threads[1].join(timeout=KILL_LIMIT_S + 5)
        check_errors({"writer 6300": res_writer})
        if res_writer["result"] not in ("EPIPE", "ECONNRESET"):
            raise run.Fail("host writer to the killed guest reader: %s" %
                           res_writer["result"])
        late = res_writer["end"] - t_marker
        if late >= KILL_LIMIT_S:
            raise run.Fail("host writer saw %s %.2f s after the guest "
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
            raise run.Fail("control connection closed after %r" % line)
        reply += d
    if reply != b"rc=0\n":
        raise run.Fail("guest command %r: %r" % (line, reply))


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
        raise run.Fail("no hello from the guest")
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


def test_reboot_microvm(r, tmp):
    """Guest reboot -f, then QMP system_reset, with 17 connections open."""
    r.need_device("virtio-vsock-user")
    n = 4
    uds = os.path.join(tmp, "v.sock")
    fwd = os.path.join(tmp, "fwd8401.sock")
    tport = free_tcp_port()
    l_ctl = unix_listener(uds + "_5400")
    l_hybrid = unix_listener(uds + "_5401")
    l_fwd = unix_listener(fwd)
    devices = [
        "-object", "vsock-user-forward,id=f1,guest-port=8401,"
        "connect=unix:%s" % fwd,
        "-object", "vsock-user-forward,id=f2,guest-port=6402,"
        "listen=tcp:127.0.0.1:%d" % tport,
        "-device", "virtio-vsock-user,id=%s,guest-cid=16,parent-cid=%d,"
        "uds-path=%s" % (DEV_ID, PARENT_CID, uds),
    ]
    g = Guest(r, tmp, "microvm", "hs-reboot", devices, timeout=60,
              no_reboot=False, paused=True)
    notes = []
    try:
        if g.stats() != {"connections": 0, "host-sockets": 0}:
            raise run.Fail("counters before boot: %s" % g.stats())
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
                raise run.Fail("cycle %d, %d open: counters %s" %
                               (k, total, got))
            fds, socks = g.fds()
            if (fds, socks) != (base + total, base_socks + total):
                raise run.Fail("cycle %d: QEMU has %d fds (%d sockets) with "
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
                    raise run.Fail("%s: 2 s later QEMU has %d sockets "
                                   "(baseline %d), counters %s" %
                                   (how, g.fds()[1], base_socks,
                                    g.stats()))
                time.sleep(0.01)
            dt = max(t_fds, t_stats, t_peer)
            ends = [peer_end(s) for s in unix_socks + [ctl]]
            tends = [peer_end(s) for s in tcp_socks]
            if set(ends) != {"EOF"} or set(tends) != {"ECONNRESET"}:
                raise run.Fail("%s: Unix peers saw %s (expected EOF), TCP "
                               "peers saw %s (expected ECONNRESET)" %
                               (how, sorted(set(ends)),
                                sorted(set(tends))))
            notes.append("%s: %d sockets -> %d in %.0f ms" %
                         (how, base_socks + total, base_socks,
                          dt * 1000))
        g.wait_for(r"VSOCKTEST-IDLE", count=1)
        if g.fds() != (base, base_socks) or \
                g.stats() != {"connections": 0, "host-sockets": 0}:
            raise run.Fail("after the last boot: %d fds, %d sockets "
                           "(baseline %d, %d), counters %s" %
                           (g.fds() + (base, base_socks, g.stats())))
        if len(re.findall(r"VSOCKTEST-START", g.serial())) != 3:
            raise run.Fail("expected 3 boots, saw %d" %
                           len(re.findall(r"VSOCKTEST-START", g.serial())))
        g.qmp.cmd("quit")
        g.proc.wait(timeout=10)
    finally:
        g.kill()
        for s in (l_ctl, l_hybrid, l_fwd):
            s.close()
    return "; ".join(notes) + "; idle: %d fds as before" % base


# ---- 5. pc variant of the SHA-256 streams -----------------------------------

def test_stream_pc(r, tmp):
    """host-endpoints-microvm's four streams on -M pc, PCI transport."""
    return run.check_host_streams(r, tmp, "pc", seed=11)


def tests(runner_module):
    global run
    run = runner_module
    return [
        ("hs-rr-microvm", test_rr_microvm),
        ("hs-rr-pc", test_rr_pc),
        ("hs-many-microvm", test_many_microvm),
        ("hs-kill-microvm", test_kill_microvm),
        ("hs-reboot-microvm", test_reboot_microvm),
        ("hs-stream-pc", test_stream_pc),
    ]
