#!/usr/bin/env python3
"""Run the test tiers of `make check` and print one summary.

Tier 1 (unit):       our unit tests, built by QEMU's build
                     (tests/unit/test-vsock-user-*), and the EIF tool's
                     (tests/unit/test_eif.py)
Tier 2 (qtest):      QEMU qtests run against build/qemu/qemu-system-x86_64
Tier 3 (functional): real Linux guests, tests/functional/vsock-user/run.py,
                     and a smoke run of make bench
                     (tests/bench/test-bench-smoke.py)

Every test program speaks TAP (glib's --tap) or, for the functional runner,
ends with a "N passed, N failed, N skipped" line; this script counts the
individual cases, keeps each program's full output in build/test-logs/ and
prints the tail of it when something fails.  The last line it prints is
"N passed, N failed, N skipped"; it exits 1 if anything failed.

With --sanitizers (make check-asan, QEMU built with --enable-asan
--enable-ubsan) every ASan or UBSan report fails the program that caused
it: the sanitizers halt at the first report, write it to a file of their
own (log_path, so a report from a QEMU whose output a test keeps in a
temporary directory is not lost), and the program's output and those files
are scanned for reports.
"""

import argparse
import importlib.util
import json
import os
import re
import subprocess
import sys
import time
import unittest

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LOGS = os.path.join(TOP, "build", "test-logs")
TAP_RE = re.compile(r"^(not ok|ok)\b[^#]*(#\s*(\w+))?")
UNITTEST_RE = re.compile(r"^Ran (\d+) tests? in", re.M)
UNITTEST_CLASS_ERROR_RE = re.compile(r"^ERROR: setUpClass \(([\w.]+)\)",
                                     re.M)
SANITIZER_RE = re.compile(r"ERROR: AddressSanitizer|ERROR: LeakSanitizer|"
                          r"runtime error:|SUMMARY: UndefinedBehaviorSanitizer")
SUMMARY_RE = re.compile(
    r"^(?:\w+:\s*)?(\d+) passed, (\d+) failed(?:, (\d+) skipped)?\s*$")


# qos-test runs every graph test of every device; ours are enough here.
QTEST_ARGS = {
    "qos-test": ["-r", "/x86_64/pc/i440FX-pcihost/pci-bus-pc/pci-bus/"
                 "virtio-vsock-user-pci"],
}


class Counts:
    def __init__(self):
        self.passed = self.failed = self.skipped = 0

    def add(self, other):
        self.passed += other.passed
        self.failed += other.failed
        self.skipped += other.skipped

    def __str__(self):
        return "%d passed, %d failed, %d skipped" % (
            self.passed, self.failed, self.skipped)


def parse_tap(text):
    counts = Counts()
    failures = []
    for line in text.splitlines():
        m = TAP_RE.match(line)
        if not m:
            continue
        directive = (m.group(3) or "").upper()
        if m.group(1).lower() == "ok":
            if directive == "SKIP":
                counts.skipped += 1
            else:
                counts.passed += 1
        elif directive == "TODO":
            counts.skipped += 1
        else:
            counts.failed += 1
            failures.append(line)
    return counts, failures


def unittest_class_size(cmd, qualname):
    """How many tests the TestCase class MODULE.CLASS of the script that
    cmd runs holds (at least 1, so that an error never counts as none)."""
    script = next((a for a in cmd[1:] if a.endswith(".py")), None)
    cls_name = qualname.rsplit(".", 1)[-1]
    if not script:
        return 1
    try:
        spec = importlib.util.spec_from_file_location("_counted", script)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        cls = getattr(mod, cls_name)
        n = unittest.defaultTestLoader.loadTestsFromTestCase(cls)
        return max(1, n.countTestCases())
    except Exception:     # a script that does not even import: one failure
        return 1


# Set by --sanitizers: the directory the sanitizers write their reports to.
SANITIZER_LOGS = None


def sanitizer_env(name):
    """ASAN_OPTIONS and UBSAN_OPTIONS for one program and every QEMU it runs.

    halt_on_error + abort_on_error: the first report kills the process with
    SIGABRT, so a qtest sees its QEMU die and fails there and then, and a
    guest test sees QEMU exit.  detect_leaks=0: QEMU does not free what it
    allocated at exit (objects, the main loop, the machine) and neither do
    glib-based test programs, so LeakSanitizer would report every run.
    log_path: reports go to SANITIZER_LOGS/NAME.PID, where they are found
    whichever process wrote them and wherever its output went.
    """
    path = os.path.join(SANITIZER_LOGS, name)
    common = "halt_on_error=1:abort_on_error=1:print_stacktrace=1:" \
             "log_path=%s" % path
    return {
        "ASAN_OPTIONS": common + ":detect_leaks=0",
        "UBSAN_OPTIONS": common,
    }


def sanitizer_reports(name, out):
    """The sanitizer reports one program's run left, as text."""
    reports = []
    if SANITIZER_RE.search(out):
        reports.append(out)
    prefix = os.path.join(SANITIZER_LOGS, name) + "."
    for f in sorted(os.listdir(SANITIZER_LOGS)):
        path = os.path.join(SANITIZER_LOGS, f)
        if path.startswith(prefix):
            # ASan also logs warnings here (makecontext, for coroutines)
            with open(path, encoding="utf-8", errors="replace") as fh:
                text = fh.read()
            if SANITIZER_RE.search(text):
                reports.append(text)
    return reports


def run_program(name, cmd, env=None, cwd=None, timeout=900, summary=False):
    """Run one test program; return its Counts."""
    os.makedirs(LOGS, exist_ok=True)
    safe = re.sub(r"[^\w.-]+", "_", name)
    log = os.path.join(LOGS, safe + ".log")
    start = time.monotonic()
    full_env = dict(os.environ)
    full_env.update(env or {})
    if SANITIZER_LOGS:
        for f in os.listdir(SANITIZER_LOGS):
            if f.startswith(safe + "."):
                os.unlink(os.path.join(SANITIZER_LOGS, f))
        full_env.update(sanitizer_env(safe))
    try:
        proc = subprocess.run(cmd, env=full_env, cwd=cwd, timeout=timeout,
                              stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT,
                              stdin=subprocess.DEVNULL)
        out = proc.stdout.decode("utf-8", "replace")
        rc = proc.returncode
    except subprocess.TimeoutExpired as e:
        out = (e.stdout or b"").decode("utf-8", "replace")
        out += "\n*** timed out after %d s\n" % timeout
        rc = None
    except OSError as e:
        out, rc = "*** cannot run %s: %s\n" % (cmd[0], e), None
    with open(log, "w", encoding="utf-8") as f:
        f.write("$ %s\n%s" % (" ".join(cmd), out))
    elapsed = time.monotonic() - start

    counts, failures = parse_tap(out)
    m = UNITTEST_RE.search(out)
    if m and not counts.passed + counts.failed + counts.skipped:
        # Python unittest: "Ran N tests" then "OK" or "FAILED (...)"
        counts = Counts()
        total = int(m.group(1))
        bad = sum(int(n) for n in re.findall(r"(?:failures|errors)=(\d+)",
                                             out[m.end():]))
        counts.skipped = sum(int(n) for n in
                             re.findall(r"skipped=(\d+)", out[m.end():]))
        # An error in setUpClass is reported once for the class, and its
        # tests are not among the N that ran: they count as failed.
        class_errors = UNITTEST_CLASS_ERROR_RE.findall(out)
        not_run = sum(unittest_class_size(cmd, c) for c in class_errors)
        counts.failed = bad - len(class_errors) + not_run
        counts.passed = total - (bad - len(class_errors)) - counts.skipped
        if counts.failed:
            failures.append("unittest: %d failed" % counts.failed)
    if summary:
        for line in out.splitlines():
            m = SUMMARY_RE.match(line.strip())
            if m:
                counts = Counts()
                counts.passed = int(m.group(1))
                counts.failed = int(m.group(2))
                counts.skipped = int(m.group(3) or 0)
    # A program that failed without reporting a failing case (a crash, an
    # abort, a timeout, a build problem) still counts as one failure.
    if rc != 0 and counts.failed == 0:
        counts.failed = 1
        failures.append("exit status %s" % rc)
    # Under --sanitizers a report fails the program even when every case
    # passed (a report in a QEMU the test did not wait for, say).
    reports = sanitizer_reports(safe, out) if SANITIZER_LOGS else []
    if reports:
        counts.failed += 1
        failures.append("%d sanitizer report(s); in %s and %s/%s.*" % (
            len(reports), os.path.relpath(log, TOP),
            os.path.relpath(SANITIZER_LOGS, TOP), safe))
        for r in reports:
            m = SANITIZER_RE.search(r)
            if m:
                line = r[r.rfind("\n", 0, m.start()) + 1:].split("\n")[0]
                failures.append(line.strip())
    if rc == 0 and counts.passed + counts.failed + counts.skipped == 0:
        if re.search(r"^1\.\.0\b", out, re.M):
            counts.failed = 1
            failures.append("ran no test")
        else:
            counts.passed = 1     # a plain program that exited 0

    status = "FAIL" if counts.failed else "ok"
    print("  %-4s %-40s %s (%.1fs)" % (status, name, counts, elapsed),
          flush=True)
    if counts.failed:
        for line in failures[:10]:
            print("       " + line)
        tail = out.splitlines()[-25:]
        print("       --- last lines of %s ---" % os.path.relpath(log, TOP))
        for line in tail:
            print("       | " + line)
    return counts


def tier_unit(args):
    counts = meson_tests(args.unit_build, prefix="test-vsock-user-")
    counts.add(run_program("unit/eif", [sys.executable, os.path.join(
        TOP, "tests", "unit", "test_eif.py")], timeout=120))
    return counts


def meson_tests(build, prefix):
    counts = Counts()
    try:
        out = subprocess.run(["meson", "introspect", "--tests", build],
                             check=True, stdout=subprocess.PIPE).stdout
    except (OSError, subprocess.CalledProcessError):
        print("  FAIL cannot list the tests of %s" % build)
        counts.failed += 1
        return counts
    for t in json.loads(out):
        if not t["name"].startswith(prefix):
            continue
        cmd = list(t["cmd"]) + list(t.get("args", []))
        if t.get("protocol") in ("tap", "gtest") and "--tap" not in cmd:
            cmd.append("--tap")
        counts.add(run_program("unit/" + t["name"],
                               cmd, env=t.get("env"),
                               cwd=t.get("workdir") or build,
                               timeout=t.get("timeout") or 300))
    return counts


def tier_qtest(args):
    counts = Counts()
    build = args.qemu_build
    env = {
        "QTEST_QEMU_BINARY": os.path.join(build, "qemu-system-x86_64"),
        "G_TEST_SRCDIR": os.path.join(TOP, "build", "src", "qemu", "tests",
                                      "qtest"),
        "G_TEST_BUILDDIR": os.path.join(build, "tests", "qtest"),
        "PYTHON": sys.executable,
    }
    for name in args.qtests.split():
        binary = os.path.join(build, "tests", "qtest", name)
        counts.add(run_program("qtest/" + name,
                               [binary, "--tap", "-k"] +
                               QTEST_ARGS.get(name, []),
                               env=env, cwd=build, timeout=900))
    return counts


def tier_functional(args):
    runner = os.path.join(TOP, "tests", "functional", "vsock-user", "run.py")
    if not os.path.exists(runner):
        print("  (no functional tests yet)")
        return Counts()
    qemu = os.path.join(args.qemu_build, "qemu-system-x86_64")
    counts = run_program("functional/vsock-user",
                         [sys.executable, runner, "--qemu", qemu],
                         timeout=1800, summary=True)
    # make bench itself, with tiny sizes: it must keep working end to end
    smoke = os.path.join(TOP, "tests", "bench", "test-bench-smoke.py")
    counts.add(run_program("functional/bench-smoke",
                           [sys.executable, smoke, "--qemu", qemu],
                           timeout=900))
    return counts


TIERS = [("unit", tier_unit), ("qtest", tier_qtest),
         ("functional", tier_functional)]


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--unit-build", default=os.path.join(TOP, "build/qemu"))
    p.add_argument("--qemu-build", default=os.path.join(TOP, "build/qemu"))
    p.add_argument("--qtests", default="")
    p.add_argument("--tiers", default="unit,qtest,functional")
    p.add_argument("--sanitizers", action="store_true",
                   help="QEMU and the tests are built with ASan and UBSan: "
                   "halt at the first report and count it as a failure")
    args = p.parse_args()

    if args.sanitizers:
        global SANITIZER_LOGS
        SANITIZER_LOGS = os.path.join(LOGS, "sanitizers")
        os.makedirs(SANITIZER_LOGS, exist_ok=True)

    total = Counts()
    wanted = args.tiers.split(",")
    for number, (name, fn) in enumerate(TIERS, 1):
        if name not in wanted:
            continue
        print("tier %d: %s" % (number, name), flush=True)
        counts = fn(args)
        print("tier %d: %s: %s" % (number, name, counts), flush=True)
        total.add(counts)
    print(total)
    return 1 if total.failed else 0


if __name__ == "__main__":
    sys.exit(main())
