"""Host-side tools of make bench: constants shared by the driver and its
benchmark modules, the QEMU process's CPU time and memory from /proc, a
small QMP client and socket helpers.  Standard library only.
"""

import json
import os
import platform
import re
import socket
import statistics
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
GUEST_DIR = os.path.join(ROOT, "build", "guest")
BUILD_GUEST = os.path.join(ROOT, "tests", "functional", "vsock-user",
                           "build-guest.sh")
ENGINE_BENCH = os.path.join(ROOT, "build", "qemu", "tests", "bench",
                            "vsock-user-engine-bench")
FIRMWARE_DIRS = ["/usr/share/seabios", "/usr/share/qemu"]

CMDLINE = ("console=ttyS0 reboot=t panic=-1 pci=off nomodules "
           "i8042.noaux i8042.nomux i8042.nopnp i8042.dumbkbd "
           "random.trust_cpu=on no_timer_check")
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


# ---- sockets ------------------------------------------------------------------

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


def spread(values, fmt):
    """"median (min-max)" of the runs, or the one value; None if none."""
    values = [v for v in values if v is not None]
    if not values:
        return None
    med = statistics.median(values)
    if len(values) == 1:
        return fmt % med
    return (fmt + " (" + fmt + "-" + fmt + ")") % (med, min(values),
                                                    max(values))


def lead_of(ours, theirs, higher=True):
    """Who leads: "ours" or "theirs" only when the ranges of the runs do not
    overlap (runs minutes apart differ up to 2x here, so a median alone
    claims too much); "" when one side has no figure."""
    ours = [v for v in ours if v is not None]
    theirs = [v for v in theirs if v is not None]
    if not ours or not theirs:
        return ""
    if not higher:
        ours, theirs = [-v for v in ours], [-v for v in theirs]
    if min(ours) > max(theirs):
        return "ours"
    if max(ours) < min(theirs):
        return "theirs"
    return "neither (ranges overlap)"


def host_info():
    """The machine, as the drivers' results files record it."""
    return "%s %s, %d CPUs" % (platform.system(), platform.release(),
                               os.cpu_count())


def write_results(path, data, table):
    """A driver's results file, then its table and where the file went."""
    with open(path, "w") as f:
        json.dump(data, f, indent=1)
        f.write("\n")
    print(table, end="")
    print("written to %s" % os.path.relpath(path))


def phase_metrics(phase):
    """(key, label, higher is better, format) of the figures of a bench
    phase, as the comparing drivers report them."""
    if phase in ("g2h", "h2g") or re.match(r"(g2h|h2g|streams)-", phase):
        return [("mibs", "MiB/s", True, "%.1f")]
    if phase == "ping" or phase.startswith("ping-"):
        return [("median_us", "median us", False, "%.0f")]
    if phase == "connrate":
        return [("rate", "per s", True, "%.0f")]
    if phase.startswith("pps-"):
        return [("writes_per_s", "writes/s", True, "%.0f")]
    if phase == "idle" or phase.startswith("idle-"):
        m = [("own_per_conn", "B/conn", False, "%.0f")]
        if phase != "idle":
            m.append(("last_med_us", "last 100 connect() median us", False,
                      "%.0f"))
        return m
    return []
