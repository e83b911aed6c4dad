#!/usr/bin/env python3
"""Functional tests of virtio-vsock-user with real Linux guests (tier 3).

Boots the guest kernel and initramfs from tests/guest/ under TCG (KVM only
when a probe guest really boots), one QEMU per test, and checks the result
line the guest's /init prints on the serial console:

    VSOCKTEST-RESULT: <scenario> PASS | FAIL rc=N

QEMU is started with -no-reboot and an isa-debug-exit device, and the guest
kernel with reboot=t panic=-1, so it always exits: status 1 after PASS,
3 after FAIL (isa-debug-exit), 0 after a guest panic or "reboot -f".

Prints "PASS name (1.2s)", "FAIL name: reason" or "SKIP name: reason" per
test, then "N passed, N failed, N skipped"; exits 1 if anything failed.
Only the Python standard library is used.
"""

import argparse
import atexit
import fnmatch
import glob
import importlib.util
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
DEFAULT_QEMU = os.path.join(ROOT, "build", "qemu", "qemu-system-x86_64")
GUEST_DIR = os.path.join(ROOT, "build", "guest")
BUILD_GUEST = os.path.join(HERE, "build-guest.sh")
EIF_PY = os.path.join(ROOT, "scripts", "eif.py")
FIRMWARE_DIRS = ["/usr/share/seabios", "/usr/share/qemu"]

# Kernel command lines: the enclave's own (see docs) plus what the harness
# needs: reboot=t makes "reboot -f" leave QEMU (with -no-reboot), panic=-1
# turns a guest panic into that same reboot.
CMDLINE_MICROVM = ("console=ttyS0 reboot=t panic=-1 pci=off nomodules "
                   "i8042.noaux i8042.nomux i8042.nopnp i8042.dumbkbd "
                   "random.trust_cpu=on")
CMDLINE_PC = "console=ttyS0 reboot=t panic=-1 random.trust_cpu=on"
DEBUG_EXIT = ["-device", "isa-debug-exit,iobase=0xf4,iosize=0x04"]
RESULT_RE = re.compile(r"VSOCKTEST-RESULT: (\S+) (PASS|FAIL)(?: rc=(\d+))?")
START_RE = re.compile(r"VSOCKTEST-START: \S+ uptime=([0-9.]+)")


class Fail(Exception):
    pass


class Skip(Exception):
    pass


class Boot:
    """Outcome of one guest boot."""

    def __init__(self):
        self.status = None       # QEMU exit status, None on timeout
        self.timed_out = False
        self.result = None       # "PASS" / "FAIL" / None
        self.rc = None
        self.serial = ""
        self.qemu_log = ""
        self.elapsed = 0.0       # QEMU start to exit
        self.uptime_at_init = None
        self.cmd = []


class Runner:
    def __init__(self, args):
        self.args = args
        self.qemu = args.qemu
        self.accel = None
        self._device_help = None
        self._machine_help = None
        self.fw_args = []
        self.procs = []
        for d in args.firmware_dir or FIRMWARE_DIRS:
            if os.path.isdir(d):
                self.fw_args += ["-L", d]

    # ---- QEMU capabilities ----------------------------------------------

    def _help(self, what):
        try:
            p = subprocess.run([self.qemu, what, "help"], capture_output=True,
                               text=True, timeout=30)
            return p.stdout + p.stderr
        except (OSError, subprocess.TimeoutExpired) as e:
            return "error: %s" % e

    def has_device(self, name):
        if self._device_help is None:
            self._device_help = self._help("-device")
        return ('name "%s"' % name) in self._device_help

    def has_machine(self, name):
        if self._machine_help is None:
            self._machine_help = self._help("-machine")
        return re.search(r"^%s\s" % re.escape(name), self._machine_help,
                         re.M) is not None

    def need_device(self, name):
        if not self.has_device(name):
            raise Skip("%s has no device '%s' (-device help)" %
                       (disp(self.qemu), name))

    def need_machine(self, name):
        if not self.has_machine(name):
            raise Skip("%s has no machine '%s'" %
                       (disp(self.qemu), name))

    # ---- booting ---------------------------------------------------------

    def machine_args(self, machine):
        if machine == "microvm":
            return ["-M", "microvm,acpi=off"], CMDLINE_MICROVM
        if machine == "pc":
            return ["-M", "pc"], CMDLINE_PC
        raise ValueError(machine)

    def boot(self, tmpdir, machine, scenario, devices=(), extra_cmdline="",
             timeout=60, accel=None, mem="256M", params=None,
             kernel=None, initrd=None, machine_args=None, cmdline=None):
        """Boot a guest that runs /scenarios/SCENARIO; wait for QEMU."""
        margs, base_cmdline = self.machine_args(machine)
        if machine_args is not None:
            margs = machine_args
        if cmdline is None:
            cmdline = base_cmdline
        cmdline = (cmdline + " vsocktest.scenario=%s" % scenario).strip()
        for k, v in (params or {}).items():
            cmdline += " vsocktest.%s=%s" % (k, v)
        if extra_cmdline:
            cmdline += " " + extra_cmdline
        serial = os.path.join(tmpdir, "serial.log")
        b = Boot()
        b.cmd = ([self.qemu] + margs +
                 ["-accel", accel or self.accel or "tcg",
                  "-m", mem, "-smp", "1",
                  "-nodefaults", "-no-user-config", "-display", "none",
                  "-no-reboot", "-serial", "file:" + serial] +
                 DEBUG_EXIT + self.fw_args +
                 ["-kernel", kernel or self.args.kernel] +
                 (["-initrd", initrd or self.args.initramfs]
                  if initrd is not False else []) +
                 ["-append", cmdline] + list(devices))
        with open(os.path.join(tmpdir, "cmdline.txt"), "w") as f:
            f.write(" ".join(shell_quote(a) for a in b.cmd) + "\n")
        qlog_path = os.path.join(tmpdir, "qemu.log")
        t0 = time.monotonic()
        with open(qlog_path, "w") as qlog:
            proc = subprocess.Popen(b.cmd, stdin=subprocess.DEVNULL,
                                    stdout=qlog, stderr=subprocess.STDOUT)
            try:
                b.status = proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                b.timed_out = True
            finally:
                # Also on SIGTERM/^C of the runner: never leave QEMU behind.
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
        b.elapsed = time.monotonic() - t0
        b.serial = read_text(serial)
        b.qemu_log = read_text(qlog_path)
        m = None
        for m in RESULT_RE.finditer(b.serial):
            pass
        if m and m.group(1) == scenario:
            b.result = m.group(2)
            b.rc = int(m.group(3)) if m.group(3) else 0
        m = START_RE.search(b.serial)
        if m:
            b.uptime_at_init = float(m.group(1))
        return b

    def expect_pass(self, b, scenario):
        """Raise Fail unless the boot ended with PASS and a clean exit."""
        if b.timed_out:
            raise Fail("timeout after %.0fs (result line: %s)" %
                       (b.elapsed, b.result or "none"))
        if b.result is None:
            hint = ""
            if "Kernel panic" in b.serial:
                hint = " (kernel panic)"
            elif not b.serial.strip():
                hint = " (no serial output; QEMU said: %s)" % \
                    last_line(b.qemu_log)
            raise Fail("no VSOCKTEST-RESULT line for %s, QEMU exit status "
                       "%s%s" % (scenario, b.status, hint))
        if b.result != "PASS":
            raise Fail("guest scenario %s failed, rc=%s: %s" %
                       (scenario, b.rc, guest_failure_hint(b.serial)))
        # 1 = isa-debug-exit with 0; 0 = fallback reboot -f path.
        if b.status not in (1, 0):
            raise Fail("guest passed but QEMU exit status is %s "
                       "(expected 1 from isa-debug-exit)" % b.status)

    # ---- host-side peers ------------------------------------------------

    def spawn(self, tmp, cmd, name="peer"):
        """Start a host-side helper; it is killed when the test ends.

        Its output goes to TMP/NAME.log (kept with the test's logs).
        """
        log = open(os.path.join(tmp, name + ".log"), "w")
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log,
                                stderr=subprocess.STDOUT, cwd=tmp)
        log.close()
        self.procs.append(proc)
        return proc

    def unix_echo(self, tmp, path, name="echo"):
        """socat listening on the Unix socket PATH, echoing each client."""
        if shutil.which("socat") is None:
            raise Skip("socat not installed (Debian package 'socat')")
        proc = self.spawn(tmp, ["socat", "UNIX-LISTEN:%s,fork" % path,
                                "EXEC:cat"], name)
        deadline = time.monotonic() + 5
        while not os.path.exists(path):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise Fail("socat did not listen on %s" % path)
            time.sleep(0.05)
        return proc

    def stop_peers(self):
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        self.procs = []

    def probe_accel(self, tmproot):
        """KVM if /dev/kvm works and a guest really boots with it."""
        want = self.args.accel
        if want != "auto":
            return want
        if not os.access("/dev/kvm", os.R_OK | os.W_OK):
            return "tcg"
        d = tempfile.mkdtemp(prefix="kvm-probe-", dir=tmproot)
        b = self.boot(d, "microvm", "boot", accel="kvm", timeout=10)
        if b.result == "PASS" and b.status == 1:
            return "kvm"
        return "tcg"


def disp(path):
    """PATH relative to the repository if inside it, else absolute."""
    rel = os.path.relpath(path, ROOT)
    return path if rel.startswith("..") else rel


def shell_quote(s):
    if re.fullmatch(r"[\w@%+=:,./-]+", s):
        return s
    return "'" + s.replace("'", "'\\''") + "'"


def read_text(path):
    try:
        with open(path, "rb") as f:
            return f.read().decode("utf-8", "replace")
    except OSError:
        return ""


def last_line(text):
    lines = [x for x in text.splitlines() if x.strip()]
    return lines[-1] if lines else "nothing"


def guest_failure_hint(serial):
    for line in reversed(serial.splitlines()):
        if ("FAIL" in line and "VSOCKTEST-RESULT" not in line) or \
                "vsock-" in line:
            return line.strip()
    return "see serial log"


def guest_value(serial, prefix, key):
    """Value of KEY=... on the last guest line starting with PREFIX."""
    val = None
    for line in serial.splitlines():
        i = line.find(prefix)
        if i >= 0:
            m = re.search(r"\b%s=(\S+)" % re.escape(key), line[i:])
            if m:
                val = m.group(1)
    return val


# ---- tests ------------------------------------------------------------------
# Each test gets (runner, tmpdir) and returns an optional note for the PASS
# line; it raises Fail or Skip.  They live in the tests_*.py beside this
# file (tests_boot.py: boot, loopback, heartbeat, EIF).

TESTS = []


def load_test_modules():
    """Add the tests of every tests_*.py beside this file.

    Each module defines tests(run) returning [(name, fn)], where run is
    this module (Fail, Skip, Runner helpers, guest_value, ...).
    """
    here = os.path.dirname(os.path.abspath(__file__))
    this = sys.modules[__name__]
    for path in sorted(glob.glob(os.path.join(here, "tests_*.py"))):
        name = os.path.splitext(os.path.basename(path))[0]
        spec = importlib.util.spec_from_file_location(name, path)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        TESTS.extend(mod.tests(this))


def selected(name, patterns):
    if not patterns:
        return True
    for p in patterns:
        if any(c in p for c in "*?["):
            if fnmatch.fnmatch(name, p):
                return True
        elif p in name:
            return True
    return False


def ignore_for_logs(directory, names):
    """copytree filter: keep logs, skip images, sockets and other specials."""
    skip = []
    for n in names:
        path = os.path.join(directory, n)
        if n.endswith((".eif", ".cpio.gz")) or not (
                os.path.isdir(path) or os.path.isfile(path)):
            skip.append(n)
    return skip


def print_tail(title, text, n=25):
    lines = text.splitlines()[-n:]
    print("    --- %s (last %d lines) ---" % (title, len(lines)))
    for line in lines:
        print("    | " + line)
    sys.stdout.flush()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--qemu", default=DEFAULT_QEMU,
                    help="qemu-system-x86_64 (default: %(default)s)")
    ap.add_argument("--kernel",
                    default=os.path.join(GUEST_DIR, "bzImage"))
    ap.add_argument("--initramfs",
                    default=os.path.join(GUEST_DIR, "initramfs.cpio.gz"))
    ap.add_argument("-L", "--firmware-dir", action="append",
                    help="firmware directory passed to QEMU as -L "
                    "(repeatable; default: %s)" % ", ".join(FIRMWARE_DIRS))
    ap.add_argument("--only", action="append", metavar="PATTERN",
                    help="run tests whose name contains PATTERN (or "
                    "matches it as a glob); repeatable")
    ap.add_argument("--keep-logs", metavar="DIR",
                    help="keep every test's logs in DIR (default: only "
                    "failed tests', in build/functional-logs)")
    ap.add_argument("--accel", choices=["auto", "tcg", "kvm"],
                    default="auto",
                    help="auto: KVM only if a probe guest boots with it")
    ap.add_argument("--no-build", action="store_true",
                    help="do not run build-guest.sh when the default "
                    "guest artifacts are missing")
    ap.add_argument("--list", action="store_true", help="list tests")
    args = ap.parse_args()

    if args.list:
        for name, _ in TESTS:
            print(name)
        return 0

    args.qemu = os.path.abspath(args.qemu)
    args.kernel = os.path.abspath(args.kernel)
    args.initramfs = os.path.abspath(args.initramfs)
    if not os.access(args.qemu, os.X_OK):
        print("error: QEMU binary %s not found (build it, or pass --qemu)"
              % args.qemu)
        return 2
    defaults = (args.kernel == os.path.join(GUEST_DIR, "bzImage") and
                args.initramfs == os.path.join(GUEST_DIR,
                                               "initramfs.cpio.gz"))
    if defaults and not args.no_build:
        # Cached: takes a second when nothing changed.
        p = subprocess.run([BUILD_GUEST, GUEST_DIR])
        if p.returncode:
            print("error: %s failed" % BUILD_GUEST)
            return 2
    for f in (args.kernel, args.initramfs):
        if not os.path.isfile(f):
            print("error: %s not found: run %s" %
                  (f, disp(BUILD_GUEST)))
            return 2

    log_root = os.path.abspath(args.keep_logs or
                               os.path.join(ROOT, "build",
                                            "functional-logs"))
    tmproot = tempfile.mkdtemp(prefix="vsock-user-functional-")
    atexit.register(shutil.rmtree, tmproot, True)
    r = Runner(args)
    r.accel = r.probe_accel(tmproot)
    print("# qemu %s, accel %s, kernel %s" %
          (disp(args.qemu), r.accel, disp(args.kernel)))
    sys.stdout.flush()

    passed = failed = skipped = 0
    for name, fn in TESTS:
        if not selected(name, args.only):
            continue
        tmp = tempfile.mkdtemp(prefix=name + "-", dir=tmproot)
        t0 = time.monotonic()
        keep = bool(args.keep_logs)
        this_failed = False
        try:
            note = fn(r, tmp)
            passed += 1
            print("PASS %s (%.1fs)%s" % (name, time.monotonic() - t0,
                                         ": " + note if note else ""))
        except Skip as e:
            skipped += 1
            print("SKIP %s: %s" % (name, e))
        except Fail as e:
            failed += 1
            keep = this_failed = True
            print("FAIL %s: %s" % (name, e))
            serial = read_text(os.path.join(tmp, "serial.log"))
            if serial:
                print_tail("serial console", serial)
            qlog = read_text(os.path.join(tmp, "qemu.log"))
            if qlog.strip():
                print_tail("QEMU output", qlog, 10)
        except Exception as e:  # a bug in the test itself
            failed += 1
            keep = this_failed = True
            print("FAIL %s: test error: %s: %s" % (name, type(e).__name__,
                                                   e))
        finally:
            r.stop_peers()
        if keep:
            dest = os.path.join(log_root, name)
            shutil.rmtree(dest, ignore_errors=True)
            os.makedirs(log_root, exist_ok=True)
            shutil.copytree(tmp, dest, ignore=ignore_for_logs)
            if this_failed:
                print("    logs: %s" % disp(dest))
        shutil.rmtree(tmp, ignore_errors=True)
        sys.stdout.flush()

    print("%d passed, %d failed, %d skipped" % (passed, failed, skipped))
    return 1 if failed else 0


if __name__ == "__main__":
    load_test_modules()
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(143))
    sys.exit(main())
