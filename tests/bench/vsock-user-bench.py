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
(build/qemu/tests/bench/vsock-user-engine-bench) and its ratio to memcpy.

Host peers are Python sockets on Unix and TCP loopback only; no host
AF_VSOCK socket is ever opened.  Standard library only.  This file drives
the run; bench_common.py holds the /proc, QMP and socket helpers,
bench_report.py the tables, bench_vhost_user.py and bench_scale.py the
runs in QEMUs of their own.
"""

import argparse
import json
import os
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
# bench_scale and bench_vhost_user reach these through this module (drv)
from bench_common import (BUILD_GUEST, CHANNELS, CMDLINE, CTL_PORT,
                          DATA_PORT, FIRMWARE_DIRS, GUEST_CID, GUEST_DIR,
                          GiB, IDLE_PORT, MAIN_CHANNELS, MiB, PARENT_CID,
                          RATE_PORT, ROOT, BenchError, CpuSnap, Qmp, Stall,
                          log, memory, percentile, recv_exact_count,
                          thread_cpu, thread_name, unix_listener)
from bench_report import (engine_bench, machine_info, per_mib, report,
                          results_json)

# The CPUs this driver may use, before --pin narrows its own set: every
# QEMU (and daemon) it starts must inherit all of them, not the share the
# previous pinning left the driver with.
ALL_CPUS = frozenset(os.sched_getaffinity(0))


def unpin_self():
    os.sched_setaffinity(0, ALL_CPUS)


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
        unpin_self()
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
        cpus = sorted(ALL_CPUS)
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
        r = {"rep": rep, "channel": ch, "phase": phase,
             "pinned": bool(self.pinned)}
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


def size_arg(s):
    m = re.fullmatch(r"(\d+)([KMG]?)(i?B)?", s.strip(), re.I)
    if not m:
        raise argparse.ArgumentTypeError("bad size '%s'" % s)
    return int(m.group(1)) * {"": 1, "K": 1024, "M": MiB,
                              "G": GiB}[m.group(2).upper()]


def run_rounds(drv, bench, args, tmp):
    """The main QEMU's channels and vhost-device-vsock's: --repeat runs of
    each in one QEMU per device, or (--alternate) --repeat rounds of one
    run each, in fresh QEMUs, A B A B, so that a slow phase of the machine
    falls on both sides.  Every record gets its round."""
    rounds = args.repeat if args.alternate else 1
    per = argparse.Namespace(**vars(args))
    if args.alternate:
        per.repeat = 1
    restarts = 0
    for rnd in range(rounds):
        if rounds > 1:
            log("# round %d of %d" % (rnd + 1, rounds))
        n0 = len(bench.results)
        if any(c in MAIN_CHANNELS for c in args.channels):
            bench.args = per
            try:
                bench.run()
            finally:
                bench.stop_qemu()
                bench.args = args
        if "vhost-user" in args.channels:
            vargs = argparse.Namespace(**vars(per))
            vargs.timeout = args.stall_timeout
            vargs.profile_cmd = vargs.sync_profile = None
            vtmp = os.path.join(tmp, "round-%d" % rnd)
            os.makedirs(vtmp, exist_ok=True)
            vh = bench_vhost_user.run(drv, vargs, vtmp)
            if vh:
                bench.results += vh["results"]
                bench.stalls += vh["stalls"]
                restarts += vh["restarts"]
                bench.extra["vhost"] = {"version": vh["version"],
                                        "restarts": restarts}
            else:
                bench.extra["vhost"] = {"skipped": True}
        for r in bench.results[n0:]:
            r["round"] = rnd


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
                    help="runs of every phase (default 3)")
    ap.add_argument("--alternate", action=argparse.BooleanOptionalAction,
                    default=True,
                    help="run the compared channels in alternating rounds "
                    "(A B A B), each round in fresh QEMUs: the main QEMU "
                    "(vsock-user, virtio-serial, slirp in turns), then "
                    "vhost-device-vsock's; --no-alternate: all --repeat "
                    "runs in one QEMU per device (default: alternate)")
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
    ap.add_argument("--json", default=os.path.join(ROOT, "build", "bench",
                                                   "results.json"),
                    help="every raw measurement, the options and the "
                    "machine, from which scripts/bench_tables.py renders "
                    "the tables again (default build/bench/results.json)")
    ap.add_argument("--perf-dir", help="perf record -g each g2h, h2g and "
                    "ping phase of the first run, and the first run of each "
                    "scale phase (pps, ping, streams; both devices), into "
                    "DIR/<channel>-<phase>.data")
    ap.add_argument("--profile-cmd", help="like --perf-dir, with this "
                    "command (shell; {pid} and {out} substituted, stopped "
                    "with SIGINT), e.g. 'strace -c -f -o {out}.txt -p "
                    "{pid}'; output in --perf-dir (default build/bench)")
    ap.add_argument("--sync-profile", action="store_true",
                    help="QEMU's lock contention profile (HMP sync-profile) "
                    "of the phases --perf-dir profiles, into "
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
        run_rounds(drv, bench, args, tmp)
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
        os.makedirs(os.path.dirname(os.path.abspath(args.json)),
                    exist_ok=True)
        with open(args.json, "w") as f:
            json.dump(results_json(bench, args, info, engine), f, indent=1)
            f.write("\n")
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
