#!/usr/bin/env python3
"""make bench: virtio-vsock-user next to virtio-serial and virtio-net/slirp.

Boots ONE TCG guest (microvm, acpi=off) with three channels to the host:

  vsock   -device virtio-vsock-user,uds-path=DIR/v.sock (hybrid Unix sockets)
  serial  -device virtio-serial-device + virtserialport on a Unix chardev
  slirp   -netdev user + virtio-net-device (guest TCP to 10.0.2.2 = host
          loopback)

The guest runs /scenarios/bench, i.e. tests/guest/src/vsock-bench.c, which
connects back over vsock to a control socket and executes this driver's
commands.  All timing is done here, on the host side, and the channels are
measured in turns inside the same QEMU run:

  g2h / h2g   BYTES (default 256 MiB; --slirp-bytes for slirp) in CHUNK
              writes; MiB/s from the command to the last byte (g2h) or to
              the guest's one-byte acknowledgement (h2g)
  ping        ROUNDS one-byte round trips started by the host; median, p99
  connrate    vsock only: guest connect() + close() N times, the host
              accepting and closing each; connections/s
  idle        vsock only: N concurrent idle connections; QEMU memory before
              and with them (VmRSS, and the same without guest RAM and the
              TCG code buffer), bytes per connection

For every phase the CPU time of QEMU's main-loop thread (tid == pid), of
its vCPU thread and of the whole process is read from /proc and divided by
the bytes moved.  Every figure is repeated --repeat times; the table shows
the median and the range.  The table goes to stdout and to --out (default
build/bench/results.md), followed by the engine micro-benchmark
(build/unit/vsock-user-engine-bench) and its ratio to memcpy.

Host peers are Python sockets on Unix and TCP loopback only; no host
AF_VSOCK socket is ever opened.  Standard library only.
"""

import argparse
import datetime
import json
import os
import platform
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

import bench_scale
import bench_vhost_user

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
GUEST_DIR = os.path.join(ROOT, "build", "guest")
BUILD_GUEST = os.path.join(ROOT, "tests", "functional", "vsock-user",
                           "build-guest.sh")
ENGINE_BENCH = os.path.join(ROOT, "build", "unit", "vsock-user-engine-bench")
FIRMWARE_DIRS = ["/usr/share/seabios", "/usr/share/qemu"]

CMDLINE = ("console=ttyS0 reboot=t panic=-1 pci=off nomodules "
           "i8042.noaux i8042.nomux i8042.nopnp i8042.dumbkbd "
           "random.trust_cpu=on")
PARENT_CID = 2
GUEST_CID = 16
CTL_PORT = 4999
DATA_PORT = 5000
RATE_PORT = 5001
IDLE_PORT = 5002
MiB = 1024 * 1024
GiB = 1024 * MiB
CHANNELS = ["vsock", "vhost-user", "serial", "slirp"]
MAIN_CHANNELS = ["vsock", "serial", "slirp"]     # the one-QEMU run
NAMES = {"vsock": "vsock-user", "serial": "virtio-serial",
         "slirp": "virtio-net+slirp", "vhost-user": "vhost-device-vsock"}
CLK_TCK = os.sysconf("SC_CLK_TCK")


class BenchError(Exception):
    pass


class Stall(BenchError):
    """A phase made no progress for --stall-timeout seconds: a result of
    the channel under test (recorded as "stalls at N bytes"), not a failure
    of the benchmark."""

    def __init__(self, what, got, want):
        super().__init__("%s: stalls at %d of %d" % (what, got, want))
        self.what, self.got, self.want = what, got, want


def log(msg):
    print(msg, flush=True)


# ---- QEMU process introspection ---------------------------------------------

def thread_cpu(pid, tid):
    """CPU seconds of one thread: schedstat (ns) if the kernel has it, else
    utime+stime from stat (clock ticks)."""
    base = "/proc/%d/task/%d/" % (pid, tid)
    try:
        with open(base + "schedstat") as f:
            return int(f.read().split()[0]) / 1e9
    except (OSError, ValueError, IndexError):
        with open(base + "stat") as f:
            s = f.read()
        fields = s[s.rindex(")") + 2:].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK


def thread_name(pid, tid):
    try:
        with open("/proc/%d/task/%d/comm" % (pid, tid)) as f:
            return f.read().strip()
    except OSError:
        return ""


class CpuSnap:
    """CPU seconds of the main thread, the vCPU thread(s) and all threads
    (QEMU runs with -name debug-threads=on, so vCPU threads are "CPU n/TCG").
    """

    def __init__(self, pid):
        self.t = time.perf_counter()
        self.main = thread_cpu(pid, pid)
        self.vcpu = 0.0
        self.total = 0.0
        for tid in os.listdir("/proc/%d/task" % pid):
            tid = int(tid)
            try:
                t = thread_cpu(pid, tid)
            except OSError:
                continue            # the thread just exited
            self.total += t
            if "/TCG" in thread_name(pid, tid):
                self.vcpu += t

    def minus(self, before):
        return {"wall": self.t - before.t,
                "main": self.main - before.main,
                "vcpu": self.vcpu - before.vcpu,
                "total": self.total - before.total}


def memory(pid, ram_tag):
    """VmRSS, and RSS outside guest RAM and the TCG code buffer (bytes)."""
    with open("/proc/%d/status" % pid) as f:
        vmrss = int(re.search(r"^VmRSS:\s+(\d+) kB", f.read(), re.M)
                    .group(1)) * 1024
    own = guest = tcg = 0
    cur = None
    with open("/proc/%d/smaps" % pid) as f:
        for line in f:
            first = line.split(None, 1)[0]
            if not first.endswith(":"):             # a mapping header
                parts = line.split()
                perms = parts[1]
                path = parts[5] if len(parts) > 5 else ""
                if ram_tag in path:
                    cur = "guest"
                elif not path and "x" in perms:
                    cur = "tcg"
                else:
                    cur = "own"
            elif first == "Rss:":
                kb = int(line.split()[1]) * 1024
                if cur == "guest":
                    guest += kb
                elif cur == "tcg":
                    tcg += kb
                else:
                    own += kb
    return {"vmrss": vmrss, "own": own, "guest": guest, "tcg": tcg}


class Qmp:
    def __init__(self, path, timeout=10):
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.sock = socket.socket(socket.AF_UNIX)
                self.sock.connect(path)
                break
            except OSError:
                self.sock.close()
                if time.monotonic() > deadline:
                    raise BenchError("QMP socket %s never came up" % path)
                time.sleep(0.05)
        self.sock.settimeout(30)
        self.f = self.sock.makefile("rwb")
        self._read()                                 # greeting
        self.cmd("qmp_capabilities")

    def _read(self):
        while True:
            line = self.f.readline()
            if not line:
                raise BenchError("QMP connection closed")
            msg = json.loads(line)
            if "event" not in msg:
                return msg

    def cmd(self, name, **args):
        self.f.write(json.dumps({"execute": name, "arguments": args})
                     .encode() + b"\n")
        self.f.flush()
        msg = self._read()
        if "error" in msg:
            raise BenchError("QMP %s: %s" % (name, msg["error"]))
        return msg["return"]

    def stat(self, prop):
        return self.cmd("qom-get", path="/machine/peripheral/vsock0",
                        property=prop)

    def close(self):
        self.sock.close()


# ---- the bench run ------------------------------------------------------------

def unix_listener(path, backlog):
    s = socket.socket(socket.AF_UNIX)
    s.bind(path)
    s.listen(backlog)
    return s


def recv_exact_count(sock, nbytes, buf):
    mv = memoryview(buf)
    got = 0
    while got < nbytes:
        try:
            n = sock.recv_into(mv, min(len(buf), nbytes - got))
        except socket.timeout:
            raise Stall("receive", got, nbytes)
        if n == 0:
            raise BenchError("data channel EOF after %d of %d bytes"
                             % (got, nbytes))
        got += n
    return got


def percentile(values, p):
    v = sorted(values)
    k = max(0, min(len(v) - 1, int(round(p / 100.0 * len(v) + 0.5)) - 1))
    return v[k]


class Bench:
    def __init__(self, args, tmp):
        self.args = args
        self.tmp = tmp
        self.uds = os.path.join(tmp, "v.sock")
        self.serial_path = os.path.join(tmp, "serial.sock")
        self.qmp_path = os.path.join(tmp, "qmp.sock")
        self.console = os.path.join(tmp, "console.log")
        self.proc = None
        self.qmp = None
        self.ctl = None
        self.ctl_buf = b""
        self.last_reply = ""
        self.serial = None
        self.perf_procs = []
        self.pinned = None
        self.results = []            # dicts: rep, channel, phase, ...
        self.buf = bytearray(1 * MiB)
        self.zeros = memoryview(bytes(max(args.chunk, 65536)))
        big = max([args.idle] + args.scale_idle) + args.conns + 64
        self.l_ctl = unix_listener(self.uds + "_%d" % CTL_PORT, 4)
        self.l_data = unix_listener(self.uds + "_%d" % DATA_PORT, 4)
        self.l_rate = unix_listener(self.uds + "_%d" % RATE_PORT, big)
        self.l_idle = unix_listener(self.uds + "_%d" % IDLE_PORT, big)
        self.l_tcp = socket.create_server(("127.0.0.1", 0), backlog=4)
        self.tcp_port = self.l_tcp.getsockname()[1]

    # -- QEMU --

    has_serial = True

    def device_args(self):
        a = self.args
        return ["-device", "virtio-vsock-user,id=vsock0,guest-cid=%d,"
                "parent-cid=%d,uds-path=%s%s" % (
                    GUEST_CID, PARENT_CID, self.uds,
                    "," + a.device_props if a.device_props else ""),
                "-device", "virtio-serial-device,id=vser0",
                "-chardev", "socket,id=s,path=%s,server=on,wait=off"
                % self.serial_path,
                "-device", "virtserialport,chardev=s,name=bench",
                "-netdev", "user,id=n",
                "-device", "virtio-net-device,netdev=n"]

    def cpu_snap(self):
        return CpuSnap(self.pid)

    def start_qemu(self):
        a = self.args
        fw = []
        for d in FIRMWARE_DIRS:
            if os.path.isdir(d):
                fw += ["-L", d]
        cmd = [a.qemu,
               "-M", "microvm,acpi=off,memory-backend=ram",
               "-object", "memory-backend-memfd,id=ram,size=%s,share=on"
               % a.mem,
               "-accel", "tcg", "-m", a.mem, "-smp", "1",
               "-name", "bench,debug-threads=on",
               "-nodefaults", "-no-user-config", "-display", "none",
               "-no-reboot", "-serial", "file:" + self.console,
               "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04"] + fw + [
               "-kernel", a.kernel, "-initrd", a.initramfs,
               "-append", CMDLINE + " vsocktest.scenario=bench "
               "vsocktest.parent_cid=%d vsocktest.ctl_port=%d"
               % (PARENT_CID, CTL_PORT),
               "-qmp", "unix:%s,server=on,wait=off" % self.qmp_path,
               ] + self.device_args() + a.qemu_arg
        with open(os.path.join(self.tmp, "cmdline.txt"), "w") as f:
            f.write(" ".join(cmd) + "\n")
        self.qlog = open(os.path.join(self.tmp, "qemu.log"), "w")
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                                     stdout=self.qlog,
                                     stderr=subprocess.STDOUT)
        self.pid = self.proc.pid
        self.qmp = Qmp(self.qmp_path)
        if self.has_serial:
            self.serial = socket.socket(socket.AF_UNIX)
            self.serial.connect(self.serial_path)
            self.serial.settimeout(a.timeout)
        self.l_ctl.settimeout(a.boot_timeout)
        try:
            self.ctl, _ = self.l_ctl.accept()
        except socket.timeout:
            raise BenchError("the guest never connected to the control "
                             "port; console:\n%s" % self.console_tail())
        self.ctl.settimeout(a.timeout)
        self.pin_threads()

    def pin_threads(self):
        """--pin: the vCPU thread gets the last CPU to itself; QEMU's other
        threads and this driver (the host peers) share the rest.  Without
        it the three busy threads of a transfer (vCPU, main loop, host peer)
        take turns on two CPUs, and one channel's figure can double from one
        run to the next."""
        self.pinned = None
        cpus = sorted(os.sched_getaffinity(0))
        if not self.args.pin or len(cpus) < 2:
            return
        vcpu_set, rest = {cpus[-1]}, set(cpus[:-1])
        for tid in os.listdir("/proc/%d/task" % self.pid):
            tid = int(tid)
            try:
                os.sched_setaffinity(
                    tid, vcpu_set if "/TCG" in thread_name(self.pid, tid)
                    else rest)
            except OSError:
                pass                    # the thread just exited
        os.sched_setaffinity(0, rest)
        self.pinned = (vcpu_set, rest)

    def console_tail(self, n=15):
        try:
            with open(self.console, errors="replace") as f:
                return "\n".join(f.read().splitlines()[-n:])
        except OSError:
            return ""

    def stop_qemu(self):
        for p in self.perf_procs:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGINT)
                p.wait()
        if self.ctl is not None:
            try:
                self.command("quit")
            except (OSError, BenchError):
                pass
            self.ctl = None
        if self.proc is not None:
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.qmp:
            self.qmp.close()

    # -- control connection --

    def send_cmd(self, line):
        self.ctl.sendall(line.encode() + b"\n")

    def read_reply(self):
        while b"\n" not in self.ctl_buf:
            try:
                d = self.ctl.recv(4096)
            except socket.timeout:
                raise BenchError("no answer from the guest in %ds; "
                                 "console:\n%s" % (self.args.timeout,
                                                   self.console_tail()))
            if not d:
                raise BenchError("guest closed the control connection; "
                                 "console:\n%s" % self.console_tail())
            self.ctl_buf += d
        line, self.ctl_buf = self.ctl_buf.split(b"\n", 1)
        line = line.decode()
        self.last_reply = line
        if not line.startswith("ok"):
            raise BenchError("guest: %s" % line)
        m = re.search(r"guest_ms=([0-9.]+)", line)
        return float(m.group(1)) if m else None

    def command(self, line):
        self.send_cmd(line)
        return self.read_reply()

    # -- phases --

    IRQ_NAME = {"vsock": "vsock", "serial": "console", "slirp": "net"}

    def counters(self, ch):
        """Guest interrupts of CH's device; vsock: device packets too."""
        self.command("irqs")
        m = re.search(r"\b%s=(\d+)" % self.IRQ_NAME[ch], self.last_reply)
        c = {"irqs": int(m.group(1)) if m else None}
        if ch == "vsock":
            c["pkts_to_host"] = self.qmp.stat("tx-packets")
            c["pkts_to_guest"] = self.qmp.stat("rx-packets")
        return c

    @staticmethod
    def counter_delta(after, before):
        return {k: (after[k] - before[k]
                    if after[k] is not None and before[k] is not None
                    else None) for k in after}

    def open_channel(self, ch):
        if ch == "vsock":
            self.send_cmd("open vsock %d %d %d" % (PARENT_CID, DATA_PORT,
                                                   self.args.vsock_bufsize))
            self.l_data.settimeout(self.args.timeout)
            sock, _ = self.l_data.accept()
        elif ch == "slirp":
            self.send_cmd("open tcp 10.0.2.2 %d" % self.tcp_port)
            self.l_tcp.settimeout(self.args.timeout)
            sock, _ = self.l_tcp.accept()
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        else:
            self.send_cmd("open serial bench")
            sock = self.serial
        self.read_reply()
        sock.settimeout(self.args.timeout)
        return sock

    def close_channel(self, ch, sock):
        self.command("close")
        if ch != "serial":
            sock.close()

    def hmp(self, line):
        return self.qmp.cmd("human-monitor-command", **{"command-line": line})

    def perf_start(self, name):
        """Start --profile-cmd and --sync-profile for phase NAME (first run
        only)."""
        a = self.args
        if not a.profile_cmd and not a.sync_profile:
            return None
        os.makedirs(a.profile_dir, exist_ok=True)
        out = os.path.join(a.profile_dir, name)
        p = None
        if a.profile_cmd:
            cmd = a.profile_cmd.format(pid=self.pid, out=out)
            p = subprocess.Popen(cmd, shell=True, stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL,
                                 start_new_session=True)
            self.perf_procs.append(p)
            time.sleep(1.0)
        if a.sync_profile:
            self.hmp("sync-profile reset")
            self.hmp("sync-profile on")
        return (p, out)

    def perf_stop(self, handle):
        if handle is None:
            return
        p, out = handle
        if self.args.sync_profile:
            self.hmp("sync-profile off")
            with open(out + "-sync.txt", "w") as f:
                f.write(self.hmp("info sync-profile 20"))
        if p is not None:
            os.killpg(p.pid, signal.SIGINT)
            p.wait()

    def record(self, rep, ch, phase, cpu, **kw):
        r = {"rep": rep, "channel": ch, "phase": phase}
        r.update(cpu)
        r.update(kw)
        self.results.append(r)
        return r

    def throughput_record(self, rep, ch, phase, cpu, nbytes, k0, **kw):
        """The guest's reply to a transfer, and its record."""
        gms = self.read_reply()
        k = self.counter_delta(self.counters(ch), k0)
        return self.record(rep, ch, phase, cpu, bytes=nbytes,
                           mibs=nbytes / MiB / cpu["wall"], guest_ms=gms,
                           **k, **kw)

    def g2h(self, rep, ch, sock, nbytes, chunk=None, phase="g2h"):
        chunk = chunk or self.args.chunk
        k0 = self.counters(ch)
        perf = self.perf_start("%s-%s" % (ch, phase)) if rep == 0 else None
        c0 = self.cpu_snap()
        self.send_cmd("send %d %d" % (nbytes, chunk))
        recv_exact_count(sock, nbytes, self.buf)
        cpu = self.cpu_snap().minus(c0)
        self.perf_stop(perf)
        return self.throughput_record(rep, ch, phase, cpu, nbytes, k0,
                                      chunk=chunk)

    def h2g(self, rep, ch, sock, nbytes, chunk=None, phase="h2g"):
        chunk = chunk or self.args.chunk
        k0 = self.counters(ch)
        perf = self.perf_start("%s-%s" % (ch, phase)) if rep == 0 else None
        c0 = self.cpu_snap()
        self.send_cmd("recv %d %d" % (nbytes, chunk))
        left = nbytes
        try:
            while left:
                left -= sock.send(self.zeros[:min(left, chunk)])
            ack = sock.recv(1)
        except socket.timeout:
            raise Stall("send", nbytes - left, nbytes)
        cpu = self.cpu_snap().minus(c0)
        self.perf_stop(perf)
        if ack != b"A":
            raise BenchError("%s h2g: bad acknowledgement %r" % (ch, ack))
        return self.throughput_record(rep, ch, phase, cpu, nbytes, k0,
                                      chunk=chunk)

    def ping(self, rep, ch, sock, rounds):
        k0 = self.counters(ch)
        perf = self.perf_start("%s-ping" % ch) if rep == 0 else None
        self.send_cmd("ping %d" % rounds)
        rtts = []
        c0 = self.cpu_snap()
        clock = time.perf_counter_ns
        for i in range(rounds):
            t = clock()
            try:
                sock.sendall(b"p")
                answer = sock.recv(1)
            except socket.timeout:
                raise Stall("ping-pong round", i, rounds)
            if answer != b"p":
                raise BenchError("%s ping: bad answer" % ch)
            rtts.append((clock() - t) / 1000.0)
        cpu = self.cpu_snap().minus(c0)
        self.perf_stop(perf)
        self.read_reply()
        k = self.counter_delta(self.counters(ch), k0)
        return self.record(rep, ch, "ping", cpu, rounds=rounds,
                           median_us=statistics.median(rtts),
                           p99_us=percentile(rtts, 99), **k)

    def serve_conns(self, listener, want, close_on_eof):
        """Accept WANT connections on LISTENER while waiting for the
        guest's reply; close each at its EOF if CLOSE_ON_EOF.  Returns
        (accepted sockets still open, guest_ms, time of completion)."""
        import selectors
        sel = selectors.DefaultSelector()
        listener.setblocking(False)
        sel.register(listener, selectors.EVENT_READ, "listen")
        sel.register(self.ctl, selectors.EVENT_READ, "ctl")
        open_socks = set()
        accepted = closed = 0
        gms = None
        replied = False
        deadline = time.monotonic() + self.args.timeout
        while not (replied and accepted == want and
                   (not close_on_eof or closed == want)):
            if time.monotonic() > deadline:
                raise BenchError("connections: accepted %d closed %d of %d,"
                                 " guest replied: %s; console:\n%s"
                                 % (accepted, closed, want, replied,
                                    self.console_tail()))
            for key, _ in sel.select(timeout=1.0):
                if key.data == "listen":
                    while True:
                        try:
                            s, _ = listener.accept()
                        except BlockingIOError:
                            break
                        accepted += 1
                        s.setblocking(False)
                        open_socks.add(s)
                        if close_on_eof:
                            sel.register(s, selectors.EVENT_READ, "conn")
                elif key.data == "ctl":
                    sel.unregister(self.ctl)
                    self.ctl.settimeout(self.args.timeout)
                    gms = self.read_reply()
                    replied = True
                else:
                    s = key.fileobj
                    try:
                        d = s.recv(4096)
                    except BlockingIOError:
                        continue
                    except OSError:
                        d = b""
                    if not d:
                        sel.unregister(s)
                        s.close()
                        open_socks.discard(s)
                        closed += 1
            t_end = time.perf_counter()
        sel.close()
        listener.setblocking(True)
        self.ctl.settimeout(self.args.timeout)
        return open_socks, gms, t_end

    def connrate(self, rep, n, ch="vsock"):
        c0 = self.cpu_snap()
        self.send_cmd("connrate %d %d %d" % (PARENT_CID, RATE_PORT, n))
        _, gms, _ = self.serve_conns(self.l_rate, n, True)
        cpu = self.cpu_snap().minus(c0)
        return self.record(rep, ch, "connrate", cpu, conns=n,
                           rate=n / cpu["wall"], guest_ms=gms)

    def wait_conns(self, want, timeout=30):
        deadline = time.monotonic() + timeout
        while True:
            n = self.qmp.stat("connections")
            if n == want or time.monotonic() > deadline:
                return n
            time.sleep(0.1)

    def idle(self, rep, n):
        base = self.qmp.stat("connections")
        time.sleep(0.5)
        m0 = memory(self.pid, "/memfd:")
        c0 = self.cpu_snap()
        self.send_cmd("idle %d %d %d" % (PARENT_CID, IDLE_PORT, n))
        socks, gms, _ = self.serve_conns(self.l_idle, n, False)
        cpu = self.cpu_snap().minus(c0)
        conns = self.wait_conns(base + n)
        sockets = self.qmp.stat("host-sockets")
        time.sleep(0.5)
        m1 = memory(self.pid, "/memfd:")
        self.command("release")
        for s in socks:
            s.close()
        after = self.wait_conns(base)
        time.sleep(0.5)
        m2 = memory(self.pid, "/memfd:")
        if conns != base + n:
            raise BenchError("idle: QEMU reports %d connections, wanted %d"
                             % (conns, base + n))
        return self.record(
            rep, "vsock", "idle", cpu, conns=n, host_sockets=sockets,
            conns_after=after - base, guest_ms=gms,
            vmrss_per_conn=(m1["vmrss"] - m0["vmrss"]) / n,
            own_per_conn=(m1["own"] - m0["own"]) / n,
            guest_ram_per_conn=(m1["guest"] - m0["guest"]) / n,
            tcg_per_conn=(m1["tcg"] - m0["tcg"]) / n,
            own_after_release=(m2["own"] - m0["own"]) / n,
            vmrss_before=m0["vmrss"], vmrss_with=m1["vmrss"])

    def run(self):
        a = self.args
        self.start_qemu()
        log("# guest up, control connected (QEMU pid %d)" % self.pid)
        for rep in range(a.repeat):
            # idle first: in run 1 QEMU's heap has not seen connections yet
            if "vsock" in a.channels and a.idle:
                r = self.idle(rep, a.idle)
                log("rep %d vsock   %d idle connections: VmRSS +%.0f B/conn,"
                    " QEMU's own (no guest RAM, no TCG code) +%.0f B/conn, "
                    "guest RAM +%.0f B/conn; %d bridged host sockets"
                    % (rep + 1, a.idle, r["vmrss_per_conn"],
                       r["own_per_conn"], r["guest_ram_per_conn"],
                       r["host_sockets"]))
            if "vsock" in a.channels and a.conns:
                r = self.connrate(rep, a.conns)
                log("rep %d vsock   connect+close %.0f/s (%d in %.2f s)"
                    % (rep + 1, r["rate"], a.conns, r["wall"]))
            for ch in [c for c in a.channels if c in MAIN_CHANNELS]:
                nbytes = a.slirp_bytes if ch == "slirp" else a.bytes
                sock = self.open_channel(ch)
                r1 = self.g2h(rep, ch, sock, nbytes)
                r2 = self.h2g(rep, ch, sock, nbytes)
                r3 = self.ping(rep, ch, sock, a.rounds)
                self.close_channel(ch, sock)
                log("rep %d %-7s g2h %8.1f MiB/s  h2g %8.1f MiB/s  "
                    "ping median %7.1f us p99 %7.1f us  "
                    "main-loop CPU g2h %.2f h2g %.2f s  "
                    "guest IRQs/MiB g2h %s h2g %s%s"
                    % (rep + 1, ch, r1["mibs"], r2["mibs"], r3["median_us"],
                       r3["p99_us"], r1["main"], r2["main"],
                       per_mib(r1, "irqs"), per_mib(r2, "irqs"),
                       "  device packets/MiB g2h %s+%s h2g %s+%s "
                       "(to host+to guest)" % (
                           per_mib(r1, "pkts_to_host"),
                           per_mib(r1, "pkts_to_guest"),
                           per_mib(r2, "pkts_to_host"),
                           per_mib(r2, "pkts_to_guest"))
                       if ch == "vsock" else ""))
            if "vsock" in a.channels:
                self.size_phases(rep)

    def size_phases(self, rep):
        """vsock at the --sizes other than --chunk, to compare with
        vhost-device-vsock where both work."""
        a = self.args
        for size in a.sizes:
            if size == a.chunk:
                continue
            sock = self.open_channel("vsock")
            r1 = self.g2h(rep, "vsock", sock, a.size_bytes, chunk=size,
                          phase="g2h-%d" % size)
            r2 = self.h2g(rep, "vsock", sock, a.size_bytes, chunk=size,
                          phase="h2g-%d" % size)
            self.close_channel("vsock", sock)
            log("rep %d vsock   %d-byte writes: g2h %.1f MiB/s  h2g %.1f "
                "MiB/s" % (rep + 1, size, r1["mibs"], r2["mibs"]))


def per_mib(r, key):
    if r.get(key) is None:
        return "?"
    return "%.1f" % (r[key] * MiB / r["bytes"])


# ---- report -------------------------------------------------------------------

def agg(values, fmt):
    values = [v for v in values if v is not None]
    if not values:
        return "n/a"
    med = statistics.median(values)
    if len(values) == 1:
        return fmt % med
    return (fmt + " (" + fmt + "-" + fmt + ")") % (med, min(values),
                                                    max(values))


def med(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def ratio(a, b):
    if a is None or b is None or b == 0:
        return "n/a"
    return "%.2fx" % (a / b)


def engine_bench():
    if not os.access(ENGINE_BENCH, os.X_OK):
        return None, "engine micro-benchmark not built (make unit)"
    p = subprocess.run([ENGINE_BENCH], capture_output=True, text=True,
                       timeout=600)
    out = p.stdout.strip()
    vals = {}
    for key, pat in (("g2h", r"guest->host.*?([0-9.]+) MiB/s"),
                     ("h2g", r"host->guest.*?([0-9.]+) MiB/s"),
                     ("memcpy", r"memcpy.*?([0-9.]+) MiB/s")):
        m = re.search(pat, out)
        if m:
            vals[key] = float(m.group(1))
    return vals, out


def machine_info(qemu, console):
    ver = subprocess.run([qemu, "--version"], capture_output=True,
                         text=True).stdout.splitlines()
    kernel = "?"
    try:
        with open(console, errors="replace") as f:
            m = re.search(r"Linux version (\S+)", f.read())
            if m:
                kernel = m.group(1)
    except OSError:
        pass
    cpu = "?"
    try:
        with open("/proc/cpuinfo") as f:
            m = re.search(r"^model name\s*:\s*(.*)$", f.read(), re.M)
            if m:
                cpu = m.group(1)
    except OSError:
        pass
    return {"date": datetime.datetime.now().strftime("%Y-%m-%d %H:%M"),
            "qemu": ver[0] if ver else "?", "kernel": kernel,
            "host": "%s %s, %d CPUs (%s), load %.2f" % (
                platform.system(), platform.release(), os.cpu_count(), cpu,
                os.getloadavg()[0])}


def report(bench, args, info, engine):
    res = bench.results
    chans = args.channels

    def vals(ch, phase, key):
        return [r[key] for r in res if r["channel"] == ch and
                r["phase"] == phase]

    def per_gib(r, key):
        return r[key] * GiB / r["bytes"]

    def gib_vals(ch, phase, key):
        return [per_gib(r, key) for r in res if r["channel"] == ch and
                r["phase"] == phase]

    rows = []
    targets = []

    others = [c for c in ("serial", "slirp", "vhost-user") if c in chans]

    def row(label, fmt, getter, ratios=True, phase=None):
        cells = [agg(getter(ch), fmt) for ch in chans]
        for i, ch in enumerate(chans):
            st = stall_of(bench.stalls, ch, phase)
            if cells[i] == "n/a" and st:
                cells[i] = st
        meds = {ch: med(getter(ch)) for ch in chans}
        rs = []
        if ratios and "vsock" in chans:
            for other in others:
                rs.append(ratio(meds["vsock"], meds[other]))
        elif "vsock" in chans:
            rs = [""] * len(others)
        rows.append([label] + cells + rs)
        return meds

    g2h = row("guest->host MiB/s", "%.1f", lambda c: vals(c, "g2h", "mibs"),
              phase="g2h")
    h2g = row("host->guest MiB/s", "%.1f", lambda c: vals(c, "h2g", "mibs"),
              phase="h2g")
    pmed = row("ping-pong median us", "%.0f",
               lambda c: vals(c, "ping", "median_us"), phase="ping")
    row("ping-pong p99 us", "%.0f", lambda c: vals(c, "ping", "p99_us"))
    row("ping-pong guest interrupts per round", "%.2f",
        lambda c: [r["irqs"] / r["rounds"] for r in res
                   if r["channel"] == c and r["phase"] == "ping"
                   and r.get("irqs") is not None])
    for key, what in (("main", "main-loop"), ("vcpu", "vCPU thread")):
        row("ping-pong %s CPU us per round" % what, "%.1f",
            lambda c, k=key: [r[k] / r["rounds"] * 1e6 for r in res
                              if r["channel"] == c and
                              r["phase"] == "ping"])
    for phase, what in (("g2h", "guest->host"), ("h2g", "host->guest")):
        row("guest interrupts per MiB %s" % what, "%.1f",
            lambda c, p=phase: [r["irqs"] * MiB / r["bytes"] for r in res
                                if r["channel"] == c and r["phase"] == p
                                and r.get("irqs") is not None])
    for phase, what in (("g2h", "guest->host"), ("h2g", "host->guest")):
        row("main-loop CPU s/GiB %s" % what, "%.2f",
            lambda c, p=phase: gib_vals(c, p, "main"))
        row("vCPU thread CPU s/GiB %s" % what, "%.2f",
            lambda c, p=phase: gib_vals(c, p, "vcpu"))
        row("QEMU total CPU s/GiB %s" % what, "%.2f",
            lambda c, p=phase: gib_vals(c, p, "total"))

    only = [r for r in res if r["channel"] == "vsock"]
    rate = [r["rate"] for r in only if r["phase"] == "connrate"]
    idle = [r for r in only if r["phase"] == "idle"]
    extra = []
    if rate:
        extra.append(["vsock connect+close per s (%d per run)" % args.conns,
                      agg(rate, "%.0f")])
    if idle:
        # run 1 is the honest figure: later runs reuse the heap run 1 grew
        first = idle[0]
        extra.append(["vsock idle connections (%d), run 1, B/conn: VmRSS "
                      "delta" % args.idle, "%.0f" % first["vmrss_per_conn"]])
        extra.append(["  of which guest RAM touched by the guest kernel",
                      "%.0f" % first["guest_ram_per_conn"]])
        extra.append(["  of which TCG translated code",
                      "%.0f" % first["tcg_per_conn"]])
        extra.append(["  QEMU's own memory (VmRSS - guest RAM - TCG code)",
                      "%.0f" % first["own_per_conn"]])
        extra.append(["  QEMU's own memory left after closing them",
                      "%.0f" % first["own_after_release"]])
        if len(idle) > 1:
            extra.append(["  QEMU's own memory, runs 2.. (heap reuse)",
                          agg([r["own_per_conn"] for r in idle[1:]],
                              "%.0f")])
    def target(name, ok, detail):
        targets.append("- [%s] %s: %s" % ("met" if ok else "MISSED", name,
                                          detail))

    def have(d, *keys):
        return all(d.get(k) is not None for k in keys)

    if have(g2h, "vsock", "serial"):
        target("guest->host >= virtio-serial", g2h["vsock"] >= g2h["serial"],
               "%.1f vs %.1f MiB/s" % (g2h["vsock"], g2h["serial"]))
    if have(g2h, "vsock", "slirp"):
        target("guest->host >= 20x slirp",
               g2h["vsock"] >= 20 * g2h["slirp"],
               "%.1fx" % (g2h["vsock"] / g2h["slirp"]))
    if have(g2h, "vsock") and have(h2g, "vsock"):
        target("host->guest >= half of guest->host",
               h2g["vsock"] >= g2h["vsock"] / 2,
               "%.1f vs %.1f MiB/s" % (h2g["vsock"], g2h["vsock"]))
    if have(pmed, "vsock", "serial"):
        target("median ping-pong <= virtio-serial",
               pmed["vsock"] <= pmed["serial"],
               "%.0f vs %.0f us" % (pmed["vsock"], pmed["serial"]))
    if idle:
        own = idle[0]["own_per_conn"]
        target("< 4 KiB of QEMU memory per idle connection", own < 4096,
               "%.0f B/conn of QEMU's own memory in run 1 (the whole VmRSS "
               "delta, with guest RAM and TCG code: %.0f B/conn)"
               % (own, idle[0]["vmrss_per_conn"]))

    if have(h2g, "vsock", "serial"):
        target("host->guest >= 0.9x virtio-serial",
               h2g["vsock"] >= 0.9 * h2g["serial"],
               "%.2fx" % (h2g["vsock"] / h2g["serial"]))
    if have(pmed, "vsock", "serial"):
        target("median ping-pong <= 1.2x virtio-serial",
               pmed["vsock"] <= 1.2 * pmed["serial"],
               "%.2fx" % (pmed["vsock"] / pmed["serial"]))
    targets += bench_scale.targets(res, target)

    header = ["", ] + [NAMES[c] for c in chans]
    if "vsock" in chans:
        header += ["vsock/" + {"vhost-user": "vhost"}.get(c, c)
                   for c in others]
    lines = []
    lines.append("# virtio-vsock-user benchmark, %s" % info["date"])
    lines.append("")
    lines.append("- %s; guest kernel %s; TCG, microvm acpi=off, -smp 1, "
                 "-m %s" % (info["qemu"], info["kernel"], args.mem))
    lines.append("- host: %s" % info["host"])
    if bench.pinned:
        lines.append("- pinned: vCPU thread on CPU %s; QEMU's other threads "
                     "and the host peers on CPU %s" % (
                         ",".join(map(str, sorted(bench.pinned[0]))),
                         ",".join(map(str, sorted(bench.pinned[1])))))
    else:
        lines.append("- not pinned: threads float over the host's CPUs")
    lines.append("- %d run(s) in one QEMU process; median (min-max). "
                 "Throughput: %d MiB per direction (slirp: %d MiB) in "
                 "%d-byte writes; ping-pong: %d rounds of 1 byte"
                 % (args.repeat, args.bytes // MiB, args.slirp_bytes // MiB,
                    args.chunk, args.rounds))
    lines.append("- CPU: time on CPU (user+system, /proc/PID/task/TID/"
                 "schedstat) of QEMU's main-loop thread (tid == pid), its "
                 "vCPU thread and all its threads, per GiB moved")
    lines.append("")
    lines += md_table(header, rows)
    lines.append("")
    if extra:
        lines += md_table(["vsock only", ""], extra)
        lines.append("")
    lines += bench_vhost_user.report_lines(bench, args, md_table, agg, med,
                                           ratio, stall_of)
    lines += bench_scale.report_lines(bench, args, md_table, stall_of)
    if targets:
        lines.append("Targets:")
        lines.append("")
        lines += targets
        lines.append("")
    lines.append("Engine micro-benchmark (build/unit/vsock-user-engine-bench, "
                 "no QEMU, no guest):")
    lines.append("")
    vals, out = engine
    if vals and "memcpy" in vals:
        lines += md_table(
            ["", "MiB/s", "ratio to memcpy"],
            [["engine guest->host (null endpoint)", "%.0f" % vals["g2h"],
              "%.2fx" % (vals["g2h"] / vals["memcpy"])],
             ["engine host->guest (copy into rx)", "%.0f" % vals["h2g"],
              "%.2fx" % (vals["h2g"] / vals["memcpy"])],
             ["memcpy of the same bytes", "%.0f" % vals["memcpy"], "1.00x"]])
    else:
        lines.append("    " + out.replace("\n", "\n    "))
    return "\n".join(lines) + "\n"


def stall_of(stalls, ch, phase):
    """"stalls at N of M B" for CH's PHASE, if it stalled."""
    for st in stalls:
        if st["channel"] == ch and st["phase"] == phase:
            if st.get("got") is not None:
                return "stalls at %d of %d B" % (st["got"], st["want"])
            return "failed: " + st["error"].splitlines()[0][:60]
    return None


def md_table(header, rows):
    widths = [max(len(str(r[i])) for r in [header] + rows)
              for i in range(len(header))]
    out = ["| " + " | ".join(str(h).ljust(w) for h, w in
                             zip(header, widths)) + " |",
           "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    for r in rows:
        out.append("| " + " | ".join(str(c).ljust(w) for c, w in
                                     zip(r, widths)) + " |")
    return out


def size_arg(s):
    m = re.fullmatch(r"(\d+)([KMG]?)(i?B)?", s.strip(), re.I)
    if not m:
        raise argparse.ArgumentTypeError("bad size '%s'" % s)
    return int(m.group(1)) * {"": 1, "K": 1024, "M": MiB,
                              "G": GiB}[m.group(2).upper()]


def main():
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog="Environment: BENCH_ARGS in make bench is passed here.")
    ap.add_argument("--qemu", default=os.path.join(
        ROOT, "build", "qemu", "qemu-system-x86_64"))
    ap.add_argument("--kernel", default=os.path.join(GUEST_DIR, "bzImage"))
    ap.add_argument("--initramfs",
                    default=os.path.join(GUEST_DIR, "initramfs.cpio.gz"))
    ap.add_argument("--bytes", type=size_arg, default=256 * MiB,
                    help="bytes per direction for vsock and virtio-serial "
                    "(default 256M)")
    ap.add_argument("--slirp-bytes", type=size_arg, default=32 * MiB,
                    help="bytes per direction for slirp, which is ~100x "
                    "slower under TCG (default 32M)")
    ap.add_argument("--chunk", type=size_arg, default=65536,
                    help="write size on both sides (default 64K)")
    ap.add_argument("--rounds", type=int, default=2000,
                    help="ping-pong rounds (default 2000)")
    ap.add_argument("--conns", type=int, default=500,
                    help="vsock connect+close count (default 500; 0: skip)")
    ap.add_argument("--idle", type=int, default=1000,
                    help="concurrent idle vsock connections (default 1000;"
                    " 0: skip; at most the device's max-connections 1024 "
                    "minus 2)")
    ap.add_argument("--repeat", type=int, default=3,
                    help="runs of every phase in the same QEMU (default 3)")
    ap.add_argument("--channels", default=",".join(CHANNELS),
                    help="comma-separated subset of %s" % ",".join(CHANNELS))
    ap.add_argument("--device-props", metavar="PROPS",
                    help="extra virtio-vsock-user properties, e.g. "
                    "buf-size=1048576")
    ap.add_argument("--vsock-bufsize", type=size_arg, default=0,
                    help="guest SO_VM_SOCKETS_BUFFER_SIZE of the vsock data "
                    "connection (default: the kernel's, 256K)")
    ap.add_argument("--qemu-arg", action="append", default=[],
                    metavar="ARG", help="extra QEMU argument (repeatable), "
                    "e.g. --qemu-arg=-perfmap for guest profiles")
    ap.add_argument("--pin", action=argparse.BooleanOptionalAction,
                    default=True,
                    help="give the vCPU thread a CPU of its own and run "
                    "QEMU's other threads and the host peers on the others "
                    "(default: on when there are 2 or more CPUs)")
    ap.add_argument("--mem", default="256M", help="guest RAM (default 256M)")
    ap.add_argument("--out", default=os.path.join(ROOT, "build", "bench",
                                                  "results.md"))
    ap.add_argument("--json", help="also write every raw measurement here")
    ap.add_argument("--perf-dir", help="perf record -g each g2h, h2g and "
                    "ping phase of the first run into "
                    "DIR/<channel>-<phase>.data")
    ap.add_argument("--profile-cmd", help="like --perf-dir, with this "
                    "command (shell; {pid} and {out} substituted, stopped "
                    "with SIGINT), e.g. 'strace -c -f -o {out}.txt -p "
                    "{pid}'; output in --perf-dir (default build/bench)")
    ap.add_argument("--sync-profile", action="store_true",
                    help="QEMU's lock contention profile (HMP sync-profile) "
                    "of each g2h, h2g and ping phase of the first run, into "
                    "--perf-dir DIR/<channel>-<phase>-sync.txt")
    ap.add_argument("--sizes", default="3000,64K",
                    help="write sizes at which vsock-user and "
                    "vhost-device-vsock are compared (default 3000,64K; "
                    "--chunk's size is the main table's)")
    ap.add_argument("--size-bytes", type=size_arg, default=32 * MiB,
                    help="bytes per direction at the --sizes other than "
                    "--chunk (default 32M)")
    ap.add_argument("--stall-timeout", type=int, default=20,
                    help="vhost-device-vsock and scale phases: seconds "
                    "without progress after which a phase is recorded as "
                    "stalled (default 20)")
    ap.add_argument("--fetch", action=argparse.BooleanOptionalAction,
                    default=True,
                    help="fetch vhost-device-vsock (Debian sid) into the "
                    "cache if it is not there; --no-fetch skips the channel "
                    "instead (default: fetch)")
    bench_scale.add_arguments(ap, size_arg)
    ap.add_argument("--timeout", type=int, default=600,
                    help="seconds any one phase may take (default 600)")
    ap.add_argument("--boot-timeout", type=int, default=120)
    ap.add_argument("--keep", action="store_true",
                    help="keep the temporary directory (console, QEMU log)")
    ap.add_argument("--no-build", action="store_true",
                    help="do not run build-guest.sh")
    args = ap.parse_args()
    args.channels = [c for c in args.channels.split(",") if c]
    args.sizes = [size_arg(x) for x in args.sizes.split(",") if x]
    if args.perf_dir and not args.profile_cmd:
        args.profile_cmd = "exec perf record -g -q -o {out}.data -p {pid}"
    args.profile_dir = args.perf_dir or os.path.join(ROOT, "build", "bench")
    for c in args.channels:
        if c not in CHANNELS:
            ap.error("unknown channel '%s'" % c)
    args.qemu = os.path.abspath(args.qemu)
    if not os.access(args.qemu, os.X_OK):
        print("error: %s not found; run make qemu" % args.qemu)
        return 2
    if not args.no_build and args.kernel.startswith(GUEST_DIR):
        if subprocess.run([BUILD_GUEST, GUEST_DIR]).returncode:
            print("error: build-guest.sh failed")
            return 2
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = 2 * (max([args.idle] + args.scale_idle) + args.conns) + 256
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE,
                           (min(max(want, soft), hard), hard))

    tmp = tempfile.mkdtemp(prefix="vsock-user-bench-")
    drv = sys.modules[__name__]
    bench = Bench(args, tmp)
    bench.stalls = []
    bench.extra = {}
    ok = False
    try:
        log("# %s; %d MiB per direction (slirp %d MiB), %d runs"
            % (os.path.relpath(args.qemu, ROOT), args.bytes // MiB,
               args.slirp_bytes // MiB, args.repeat))
        if any(c in MAIN_CHANNELS for c in args.channels):
            bench.run()
            bench.stop_qemu()
        if "vhost-user" in args.channels:
            vargs = argparse.Namespace(**vars(args))
            vargs.timeout = args.stall_timeout
            vargs.profile_cmd = vargs.sync_profile = None
            vh = bench_vhost_user.run(drv, vargs, tmp)
            if vh:
                bench.results += vh["results"]
                bench.stalls += vh["stalls"]
                bench.extra["vhost"] = {"version": vh["version"],
                                        "restarts": vh["restarts"]}
            else:
                bench.extra["vhost"] = {"skipped": True}
        if args.scale:
            sc = bench_scale.run(drv, args, tmp)
            bench.results += sc["results"]
            bench.stalls += sc["stalls"]
        ok = True
    except (BenchError, OSError) as e:
        print("error: %s" % e)
    finally:
        bench.stop_qemu()
    info = machine_info(args.qemu, bench.console)
    if not ok:
        print("bench failed; logs in %s" % tmp)
        return 1
    log("# engine micro-benchmark")
    engine = engine_bench()
    text = report(bench, args, info, engine)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as f:
        f.write(text)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"info": info, "results": bench.results,
                       "stalls": bench.stalls, "extra": bench.extra}, f,
                      indent=1)
    print()
    print(text)
    print("written to %s" % os.path.relpath(os.path.abspath(args.out),
                                            os.getcwd()))
    if args.keep:
        print("logs in %s" % tmp)
    else:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(143))
    sys.exit(main())
