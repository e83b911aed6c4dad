# Functional test helpers for virtio-vsock-user
#
# What QEMU's qemu_test framework lacks for these tests: a guest whose
# /init runs a scripted scenario (tests/guest/scenarios) and reports it on
# the serial console, booted to its end; host programs beside QEMU (peers
# on Unix and TCP loopback sockets, never host AF_VSOCK); the guest kernel
# and initramfs, built locally by build-guest.sh instead of fetched as
# assets.  vsock_user_host.py adds the host peers, QMP and a Guest that
# runs while the test acts; the test classes are
# tests/functional/x86_64/test_vsock_user_*.py.
#
# The guest's /init prints
#
#     VSOCKTEST-RESULT: <scenario> PASS | FAIL rc=N
#
# and QEMU runs with -no-reboot and an isa-debug-exit device, the guest
# kernel with reboot=t panic=-1, so that every boot ends: QEMU's status is
# 1 after PASS, 3 after FAIL (isa-debug-exit), 0 after a guest panic or
# "reboot -f".
#
# Environment: QEMU_TEST_QEMU_BINARY (as every qemu_test test),
# VSOCK_USER_GUEST_DIR (bzImage and initramfs.cpio.gz; default build/guest
# of this repository, built or refreshed by build-guest.sh first) and
# VSOCK_USER_ACCEL (tcg, the default, or kvm).
#
# Copyright (c) 2026 The virtio-vsock-user authors
#
# SPDX-License-Identifier: GPL-2.0-or-later

import os
import re
import shutil
import subprocess
import tempfile
import time
import unittest

from qemu_test import QemuSystemTest

# This file is linked into QEMU's tree; the guest sources, the EIF tool and
# the guest build script stay in our repository.
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.realpath(__file__))))
DEFAULT_GUEST_DIR = os.path.join(ROOT, "build", "guest")
BUILD_GUEST = os.path.join(ROOT, "tests", "functional", "vsock-user",
                           "build-guest.sh")
EIF_PY = os.path.join(ROOT, "scripts", "eif.py")
FIRMWARE_DIRS = ["/usr/share/seabios", "/usr/share/qemu"]

# Kernel command lines: the enclave's own (see docs) plus what the tests
# need: reboot=t makes "reboot -f" leave QEMU (with -no-reboot), panic=-1
# turns a guest panic into that same reboot, no_timer_check skips the
# boot-time IO-APIC timer check that a TCG vCPU on a loaded host can fail
# ("IO-APIC + timer doesn't work!", a panic before the test starts).
CMDLINE_MICROVM = ("console=ttyS0 reboot=t panic=-1 pci=off nomodules "
                   "i8042.noaux i8042.nomux i8042.nopnp i8042.dumbkbd "
                   "random.trust_cpu=on no_timer_check")
CMDLINE_PC = ("console=ttyS0 reboot=t panic=-1 random.trust_cpu=on "
              "no_timer_check")
DEBUG_EXIT = ["-device", "isa-debug-exit,iobase=0xf4,iosize=0x04"]
RESULT_RE = re.compile(r"VSOCKTEST-RESULT: (\S+) (PASS|FAIL)(?: rc=(\d+))?")
START_RE = re.compile(r"VSOCKTEST-START: \S+ uptime=([0-9.]+)")


class Fail(AssertionError):
    """A failed check: unittest counts it as a failure."""


class Skip(unittest.SkipTest):
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

    def read_result(self, scenario):
        """result and rc from the last result line of the serial, if that
        line is @scenario's."""
        m = None
        for m in RESULT_RE.finditer(self.serial):
            pass
        if m and m.group(1) == scenario:
            self.result = m.group(2)
            self.rc = int(m.group(3)) if m.group(3) else 0


class GuestImages:
    """Where the guest kernel and initramfs are (args.kernel, ...)."""

    _built = False

    def __init__(self):
        d = os.environ.get("VSOCK_USER_GUEST_DIR")
        if d is None and not GuestImages._built:
            # Cached: a second when nothing changed; once per process.
            p = subprocess.run([BUILD_GUEST, DEFAULT_GUEST_DIR],
                               capture_output=True, text=True)
            if p.returncode:
                raise Fail("%s failed: %s" % (BUILD_GUEST,
                                              last_line(p.stdout + p.stderr)))
            GuestImages._built = True
        d = os.path.abspath(d or DEFAULT_GUEST_DIR)
        self.kernel = os.path.join(d, "bzImage")
        self.initramfs = os.path.join(d, "initramfs.cpio.gz")
        for f in (self.kernel, self.initramfs):
            if not os.path.isfile(f):
                raise Fail("%s not found: run %s" % (f, BUILD_GUEST))


class VsockUserTest(QemuSystemTest):
    """A test that boots guests with virtio-vsock-user and host peers.

    self.tmp is a short directory for sockets and logs (Unix socket paths
    have 107 bytes); what it holds but images and sockets is copied to the
    test's log directory at the end.  Host programs started with spawn()
    and guests started by vsock_user_host.Guest are ended with the test.
    """

    def setUp(self):
        # first: a missing guest fails the test before anything that only
        # tearDown() would undo
        self.args = GuestImages()
        super().setUp()
        self.qemu = self.qemu_bin
        self.accel = os.environ.get("VSOCK_USER_ACCEL", "tcg")
        self.fw_args = []
        for d in FIRMWARE_DIRS:
            if os.path.isdir(d):
                self.fw_args += ["-L", d]
        self.procs = []
        self.tmp = tempfile.mkdtemp(prefix="vsock-user-")
        self._device_help = None
        self._machine_help = None

    def tearDown(self):
        self.stop_peers()
        shutil.copytree(self.tmp, self.log_file("files"),
                        ignore=_ignore_for_logs, dirs_exist_ok=True)
        shutil.rmtree(self.tmp, ignore_errors=True)
        super().tearDown()

    def note(self, text):
        """A line about what the test measured, in its log."""
        if text:
            self.log.info("%s: %s", self.id(), text)

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
                       (self.qemu, name))

    def need_machine(self, name):
        if not self.has_machine(name):
            raise Skip("%s has no machine '%s'" % (self.qemu, name))

    # ---- booting ---------------------------------------------------------

    def machine_args(self, machine):
        if machine == "microvm":
            return ["-M", "microvm,acpi=off"], CMDLINE_MICROVM
        if machine == "pc":
            return ["-M", "pc"], CMDLINE_PC
        raise ValueError(machine)

    def boot(self, tmpdir, machine, scenario, devices=(), extra_cmdline="",
             timeout=60, accel=None, mem="256M", params=None,
             kernel=None, initrd=None, machine_args=None, cmdline=None,
             pass_fds=()):
        """Boot a guest that runs /scenarios/SCENARIO; wait for QEMU.
        @pass_fds: descriptors QEMU inherits (fd:N arguments)."""
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
                                    stdout=qlog, stderr=subprocess.STDOUT,
                                    pass_fds=pass_fds)
            try:
                b.status = proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                b.timed_out = True
            finally:
                # Also when the test is interrupted: never leave QEMU behind.
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
        b.elapsed = time.monotonic() - t0
        b.serial = read_text(serial)
        b.qemu_log = read_text(qlog_path)
        b.read_result(scenario)
        m = START_RE.search(b.serial)
        if m:
            b.uptime_at_init = float(m.group(1))
        return b

    def expect_pass(self, b, scenario):
        """Raise Fail unless the boot ended with PASS and a clean exit."""
        if b.timed_out:
            raise Fail("timeout after %.0fs (result line: %s)%s" %
                       (b.elapsed, b.result or "none", tails(b)))
        if b.result is None:
            hint = ""
            if "Kernel panic" in b.serial:
                hint = " (kernel panic)"
            elif not b.serial.strip():
                hint = " (no serial output; QEMU said: %s)" % \
                    last_line(b.qemu_log)
            raise Fail("no VSOCKTEST-RESULT line for %s, QEMU exit status "
                       "%s%s%s" % (scenario, b.status, hint, tails(b)))
        if b.result != "PASS":
            raise Fail("guest scenario %s failed, rc=%s: %s%s" %
                       (scenario, b.rc, guest_failure_hint(b.serial),
                        tails(b)))
        # 1 = isa-debug-exit with 0; 0 = fallback reboot -f path.
        if b.status not in (1, 0):
            raise Fail("guest passed but QEMU exit status is %s "
                       "(expected 1 from isa-debug-exit)%s" %
                       (b.status, tails(b)))

    # ---- host-side programs ----------------------------------------------

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


def _ignore_for_logs(directory, names):
    """copytree filter: keep logs, skip images, sockets and other specials."""
    skip = []
    for n in names:
        path = os.path.join(directory, n)
        if n.endswith((".eif", ".cpio.gz")) or not (
                os.path.isdir(path) or os.path.isfile(path)):
            skip.append(n)
    return skip


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


def tail(title, text, n):
    lines = text.splitlines()[-n:]
    return "\n    --- %s (last %d lines) ---\n" % (title, len(lines)) + \
        "".join("    | %s\n" % line for line in lines)


def tails(b):
    """The end of a failed boot's serial console and QEMU output."""
    out = ""
    if b.serial:
        out += tail("serial console", b.serial, 25)
    if b.qemu_log.strip():
        out += tail("QEMU output", b.qemu_log, 10)
    return out


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
