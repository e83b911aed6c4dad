"""make bench's vhost-device-vsock channel: the competitor users would pick.

A user who needs AF_VSOCK in a guest without /dev/vhost-vsock runs QEMU's
vhost-user-vsock-device with rust-vmm's vhost-device-vsock daemon (Debian
sid).  This module boots the same kernel, initramfs and command line as the
main run, with that device instead of ours, and runs the same guest program
(vsock-bench) against the same host peers: the daemon's uds-path is the
same hybrid Unix socket scheme (guest port P -> connect to UDS_P).

A guest drives one virtio-vsock device only, so this is a separate QEMU
process (and a daemon process), started after the main run.

Failures of theirs are results: a phase that moves nothing for
--stall-timeout seconds is recorded as "stalls at N of M bytes", QEMU and
the daemon are restarted, and that phase is not tried again in later runs.
"""

import argparse
import os
import subprocess
import time

from bench_common import lead_of

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
FETCH = os.path.join(ROOT, "scripts", "vhost-device-vsock.sh")
CH = "vhost-user"
STREAMS_PORT = 5003
MiB = 1024 * 1024
NAME = "vhost-device-vsock"


def find_daemon(fetch):
    """(path, version) of the cached daemon, fetching it first if FETCH;
    (None, reason) when it is not there."""
    cmd = [FETCH] + ([] if fetch else ["--cached-only"])
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True)
    if p.returncode:
        return None, p.stderr.strip().splitlines()[-1] if p.stderr else \
            "%s exited %d" % (FETCH, p.returncode)
    path = p.stdout.strip().splitlines()[-1]
    ver = "?"
    try:
        with open(os.path.join(path.split("/usr/bin/")[0], "VERSION")) as f:
            ver = f.read().strip()
    except OSError:
        pass
    return path, ver


def proc_rss(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def bind(drv):
    """The classes, built on the driver module DRV (its Bench)."""

    class DaemonCpuSnap(drv.CpuSnap):
        """QEMU's figures, with the daemon's threads added to the total
        (the daemon does the device's work that QEMU's main loop does for
        ours) and kept apart as "daemon"."""

        def __init__(self, pid, dpid):
            super().__init__(pid)
            self.daemon = 0.0
            try:
                for tid in os.listdir("/proc/%d/task" % dpid):
                    try:
                        self.daemon += drv.thread_cpu(dpid, int(tid))
                    except OSError:
                        pass
            except OSError:
                pass
            self.total += self.daemon

        def minus(self, before):
            d = super().minus(before)
            d["daemon"] = self.daemon - before.daemon
            return d

    class Restartable(drv.Bench):
        """A QEMU with one vsock device only (no virtio-serial, no net),
        whose phases may stall: each is recorded and QEMU restarted."""
        has_serial = False
        ch = "vsock"
        IRQ_NAME = dict(drv.Bench.IRQ_NAME, **{CH: "vsock"})

        def __init__(self, args, tmp):
            super().__init__(args, tmp)
            self.dproc = None
            self.stalls = []
            self.restarts = 0
            self.l_streams = drv.unix_listener(
                self.uds + "_%d" % STREAMS_PORT, 256)

        def kill(self):
            """Stop QEMU (and the daemon) without asking the guest, whose
            vsock device may be wedged."""
            for p in (self.proc, self.dproc):
                if p is not None and p.poll() is None:
                    p.kill()
                    p.wait()
            for s in (self.ctl, self.qmp):
                if s is not None:
                    s.close()
            self.ctl = self.qmp = None
            self.proc = None

        def stop_qemu(self):
            if self.ctl is not None:
                try:
                    self.ctl.settimeout(5)
                    self.command("quit")
                    self.proc.wait(timeout=10)
                except (OSError, drv.BenchError, subprocess.TimeoutExpired):
                    pass
            self.kill()

        def drain_listeners(self):
            """Drop connections a wedged run left in the backlogs."""
            for l in (self.l_ctl, self.l_data, self.l_rate, self.l_idle,
                      self.l_streams):
                l.setblocking(False)
                while True:
                    try:
                        s, _ = l.accept()
                    except (BlockingIOError, OSError):
                        break
                    s.close()
                l.setblocking(True)

        def restart(self):
            self.kill()
            self.drain_listeners()
            self.restarts += 1
            self.ctl_buf = b""
            for p in (self.qmp_path,):
                if os.path.exists(p):
                    os.unlink(p)
            self.start_qemu()

        def phase(self, rep, name, fn, stalled):
            """Run FN; a Stall (or a guest that stopped answering) is
            recorded, QEMU restarted, and NAME not tried again."""
            if name in stalled:
                return None
            try:
                return fn()
            except (drv.BenchError, OSError) as e:
                self.stalls.append({"rep": rep, "channel": self.ch,
                                    "phase": name,
                                    "got": getattr(e, "got", None),
                                    "want": getattr(e, "want", None),
                                    "error": str(e)})
                stalled.add(name)
                drv.log("rep %d %s %s: %s; restarting QEMU"
                        % (rep + 1, self.ch, name,
                           str(e).splitlines()[0]))
                self.restart()
                return None

    class VsockBench(Restartable):
        """Our device alone, with max-connections raised for the scale
        phases."""

        def device_args(self):
            a = self.args
            return ["-device", "virtio-vsock-user,id=vsock0,guest-cid=%d,"
                    "parent-cid=%d,uds-path=%s,max-connections=%d%s" % (
                        drv.GUEST_CID, drv.PARENT_CID, self.uds,
                        a.max_connections,
                        "," + a.device_props if a.device_props else "")]

    class VhostBench(Restartable):
        ch = CH

        def __init__(self, args, tmp, daemon):
            super().__init__(args, tmp)
            self.daemon = daemon
            self.vhost_sock = os.path.join(tmp, "vhost.sock")

        def device_args(self):
            return ["-chardev", "socket,id=vhu,path=%s" % self.vhost_sock,
                    "-device", "vhost-user-vsock-device,id=vsock0,"
                    "chardev=vhu"]

        def cpu_snap(self):
            return DaemonCpuSnap(self.pid, self.dproc.pid)

        def start_qemu(self):
            drv.unpin_self()
            if os.path.exists(self.vhost_sock):
                os.unlink(self.vhost_sock)
            self.dlog = open(os.path.join(self.tmp, "daemon.log"), "a")
            self.dproc = subprocess.Popen(
                [self.daemon, "--vm", "guest-cid=%d,socket=%s,uds-path=%s"
                 % (drv.GUEST_CID, self.vhost_sock, self.uds)],
                stdin=subprocess.DEVNULL, stdout=self.dlog,
                stderr=subprocess.STDOUT)
            deadline = time.monotonic() + 10
            while not os.path.exists(self.vhost_sock):
                if self.dproc.poll() is not None or \
                        time.monotonic() > deadline:
                    raise drv.BenchError("%s did not open %s; see %s"
                                         % (NAME, self.vhost_sock,
                                            self.dlog.name))
                time.sleep(0.05)
            super().start_qemu()

        def pin_threads(self):
            super().pin_threads()
            if self.pinned:
                for tid in os.listdir("/proc/%d/task" % self.dproc.pid):
                    try:
                        os.sched_setaffinity(int(tid), self.pinned[1])
                    except OSError:
                        pass

        def open_channel(self, ch):
            return super().open_channel("vsock")

        def counters(self, ch):
            return super().counters(CH)

        def stream_phases(self, rep, stalled):
            a = self.args
            for size in a.sizes:
                if size == a.chunk:
                    continue
                for d, fn in (("g2h", self.g2h), ("h2g", self.h2g)):
                    name = "%s-%d" % (d, size)

                    def go(fn=fn, name=name, size=size):
                        sock = self.open_channel(CH)
                        r = fn(rep, CH, sock, a.size_bytes, chunk=size,
                               phase=name)
                        self.close_channel(CH, sock)
                        return r
                    r = self.phase(rep, name, go, stalled)
                    if r:
                        drv.log("rep %d %s %s %.1f MiB/s"
                                % (rep + 1, CH, name, r["mibs"]))

        def run(self):
            a = self.args
            self.start_qemu()
            drv.log("# %s guest up (QEMU pid %d, daemon pid %d)"
                    % (NAME, self.pid, self.dproc.pid))
            stalled = set()
            for rep in range(a.repeat):
                if a.idle:
                    r = self.phase(rep, "idle",
                                   lambda: self.idle_daemon(rep, a.idle),
                                   stalled)
                    if r:
                        drv.log("rep %d %s %d idle connections: daemon "
                                "VmRSS +%.0f B/conn, QEMU VmRSS +%.0f "
                                "B/conn" % (rep + 1, CH, a.idle,
                                            r["daemon_per_conn"],
                                            r["vmrss_per_conn"]))
                if a.conns:
                    r = self.phase(rep, "connrate",
                                   lambda: self.connrate(rep, a.conns, CH),
                                   stalled)
                    if r:
                        drv.log("rep %d %s connect+close %.0f/s"
                                % (rep + 1, CH, r["rate"]))
                self.stream_phases(rep, stalled)
                # the main table's phases last: 64 KiB guest->host writes
                # are the ones known to wedge this daemon
                for name, fn in (
                        ("h2g", lambda s: self.h2g(rep, CH, s, a.bytes)),
                        ("ping", lambda s: self.ping(rep, CH, s, a.rounds)),
                        ("g2h", lambda s: self.g2h(rep, CH, s, a.bytes))):
                    def go(fn=fn):
                        sock = self.open_channel(CH)
                        r = fn(sock)
                        self.close_channel(CH, sock)
                        return r
                    r = self.phase(rep, name, go, stalled)
                    if r and "mibs" in r:
                        drv.log("rep %d %s %s %.1f MiB/s"
                                % (rep + 1, CH, name, r["mibs"]))
                    elif r:
                        drv.log("rep %d %s ping median %.1f us p99 %.1f us"
                                % (rep + 1, CH, r["median_us"],
                                   r["p99_us"]))

        def idle_daemon(self, rep, n):
            """N idle connections: what the daemon and QEMU hold for them
            (the daemon keeps the connections; QEMU only the rings)."""
            time.sleep(0.5)
            d0 = proc_rss(self.dproc.pid)
            m0 = drv.memory(self.pid, "/memfd:")
            c0 = self.cpu_snap()
            self.send_cmd("idle %d %d %d" % (drv.PARENT_CID, drv.IDLE_PORT,
                                             n))
            # serve_conns' deadline is for all N: 20 ms per connection
            timeout = self.args.timeout
            self.args.timeout = max(timeout, n // 50)
            try:
                socks, gms, _ = self.serve_conns(self.l_idle, n, False)
            finally:
                self.args.timeout = timeout
            cpu = self.cpu_snap().minus(c0)
            lat = parse_latency(self.last_reply, cpu["wall"])
            time.sleep(0.5)
            d1 = proc_rss(self.dproc.pid)
            m1 = drv.memory(self.pid, "/memfd:")
            self.command("release")
            for s in socks:
                s.close()
            return self.record(
                rep, CH, "idle", cpu, conns=n, host_sockets=len(socks),
                guest_ms=gms,
                daemon_per_conn=(d1 - d0) / n,
                device_per_conn=(m1["own"] - m0["own"] + d1 - d0) / n,
                vmrss_per_conn=(m1["vmrss"] - m0["vmrss"]) / n,
                own_per_conn=(m1["own"] - m0["own"]) / n,
                guest_ram_per_conn=(m1["guest"] - m0["guest"]) / n,
                **lat)

    return argparse.Namespace(Restartable=Restartable,
                              VsockBench=VsockBench, VhostBench=VhostBench)


def parse_latency(reply, wall):
    """The guest's connect() times (TSC cycles) in us of the host's clock:
    the whole command took total_cyc cycles and about WALL seconds."""
    cyc = {}
    for word in reply.split():
        key, _, val = word.partition("=")
        if key.endswith("_cyc"):
            cyc[key] = float(val)
    if not cyc.get("total_cyc"):
        return {}
    us = wall * 1e6 / cyc["total_cyc"]
    return {k[:-4] + "_us": v * us for k, v in cyc.items()
            if k != "total_cyc"}


def run(drv, args, tmp_root):
    """The vhost-device-vsock run: (results, stalls, info) or raises
    BenchError.  Returns None, with the reason logged, when the daemon is
    not available (not cached and --no-fetch)."""
    path, ver = find_daemon(args.fetch)
    if path is None:
        drv.log("# %s channel skipped: %s" % (NAME, ver))
        return None
    tmp = os.path.join(tmp_root, "vhost-user")
    os.makedirs(tmp, exist_ok=True)
    bench = bind(drv).VhostBench(args, tmp, path)
    drv.log("# %s %s: a second QEMU process, same kernel, initramfs and "
            "command line" % (NAME, ver))
    try:
        bench.run()
    finally:
        bench.stop_qemu()
    return {"results": bench.results, "stalls": bench.stalls,
            "version": ver, "restarts": bench.restarts, "bench": bench}


def report_lines(bench, args, md_table, agg, med, ratio, stall_of):
    """The vsock-user vs vhost-device-vsock table: throughput at each of
    --sizes, connections, idle memory."""
    res = bench.results
    if not any(r["channel"] == CH for r in res) and \
            not any(s["channel"] == CH for s in bench.stalls):
        vh = bench.extra.get("vhost", {})
        if vh.get("skipped"):
            return ["%s: skipped (not cached; make bench fetches it, "
                    "--no-fetch does not)" % NAME, ""]
        return []

    def vals(ch, phase, key):
        get = key if callable(key) else (lambda r: r.get(key))
        # idle memory: run 1 only, the later runs reuse the heap it grew
        return [get(r) for r in res if r["channel"] == ch and
                r["phase"] == phase and get(r) is not None and
                (phase != "idle" or r["rep"] == 0)]

    rows = []

    def row(label, phase, key, fmt, ours_key=None, higher=True):
        a = vals("vsock", phase, ours_key or key)
        b = vals(CH, phase, key)
        cells = [agg(a, fmt), agg(b, fmt)]
        for i, ch in enumerate(("vsock", CH)):
            if not (a, b)[i]:
                cells[i] = stall_of(bench.stalls, ch, phase) or "n/a"
        ma, mb = med(a), med(b)
        r = ratio(ma, mb)
        lead = ""
        if ma is not None and mb is None and cells[1].startswith("stalls"):
            lead = "ours (theirs stalls)"
        elif ma is not None and mb is not None and mb > 0 and ma > 0:
            lead = lead_of(a, b, higher)
        rows.append([label, cells[0], cells[1], r, lead])

    for size in args.sizes:
        g, h = ("g2h", "h2g") if size == args.chunk else \
            ("g2h-%d" % size, "h2g-%d" % size)
        nb = args.bytes if size == args.chunk else args.size_bytes
        row("guest->host MiB/s, %d-byte writes (%d MiB)" % (size, nb // MiB),
            g, "mibs", "%.1f")
        row("host->guest MiB/s, %d-byte writes (%d MiB)" % (size, nb // MiB),
            h, "mibs", "%.1f")
    row("ping-pong median us", "ping", "median_us", "%.0f", higher=False)
    row("ping-pong p99 us", "ping", "p99_us", "%.0f", higher=False)
    row("QEMU (+ daemon) CPU us per ping-pong round", "ping",
        lambda r: r["total"] / r["rounds"] * 1e6, "%.1f", higher=False)
    row("connect+close per s (%d per run)" % args.conns, "connrate", "rate",
        "%.0f")
    row("idle connections (%d), first run in its QEMU: B/conn of QEMU's "
        "own memory (+ the daemon's VmRSS)" % args.idle, "idle", "device_per_conn", "%.0f",
        ours_key="own_per_conn", higher=False)
    vh = bench.extra.get("vhost", {})
    out = ["%s %s against vsock-user (theirs: a second QEMU process with "
           "vhost-user-vsock-device and the daemon, same kernel, initramfs "
           "and command line; ratio = ours / theirs, lead = who is better; "
           "%d restart(s) after stalls of %d s):"
           % (NAME, vh.get("version", "?"), vh.get("restarts", 0),
              args.stall_timeout), ""]
    out += md_table(["", "vsock-user", NAME, "vsock/vhost", "lead"], rows)
    out.append("")
    return out
