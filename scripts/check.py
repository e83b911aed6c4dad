#!/usr/bin/env python3
"""Run the test tiers of `make check` and print one summary.

Tier 0 (static):     this driver's own self-test (--self-test) and the
                     generated figures of README.md and the bench docs
                     against the committed results file
                     (scripts/bench_tables.py --check)
Tier 1 (unit):       our unit tests, built by QEMU's build
                     (tests/unit/test-vsock-user-*), QEMU's own tests of
                     the AioContext code our series patches
                     (tests/unit/test-aio, test-aio-multithread), and the
                     EIF tool's (tests/unit/test_eif.py)
Tier 2 (qtest):      QEMU qtests run against build/qemu/qemu-system-x86_64
Tier 3 (functional): real Linux guests on QEMU's qemu_test framework,
                     tests/functional/x86_64/test_vsock_user_*.py, and a
                     smoke run of make bench
                     (tests/bench/test-bench-smoke.py)

Every test program speaks TAP (glib's --tap, pycotap's in qemu_test) or
ends with a "N passed, N failed, N skipped" line; this script counts the
individual cases, keeps each program's full output in build/test-logs/ and
prints the tail of it when something fails.  The last line it prints is
"N passed, N failed, N skipped"; it exits 1 if anything failed.

What counts as a failure, besides a failing case:
- a skip whose reason names none of SKIP_REASONS (the README lists them):
  a skip for any other reason (a machine or device QEMU lacks, a tool not
  installed) is something broken that would otherwise pass unnoticed;
- a TAP plan not met: "1..43" and 5 results is 38 missing cases, a failure;
- a TAP "not ok ... # TODO" (g_test_incomplete): it is not a pass;
- a program that reports no case at all, a tier that ran no test, a
  runner that is not there;
- a timeout: the program was started in a session of its own, and its
  whole process group (QEMUs included) is killed; the report names the
  last test line it printed.

With --sanitizers (make check-asan, QEMU built with --enable-asan
--enable-ubsan) every ASan or UBSan report fails the program that caused
it: the sanitizers halt at the first report, write it to a file of their
own (log_path, so a report from a QEMU whose output a test keeps in a
temporary directory is not lost), and the program's output and those files
are scanned for reports.
"""

import argparse
import fnmatch
import glob
import importlib.util
import json
import os
import re
import shlex
import signal
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
TAP_PLAN_RE = re.compile(r"^1\.\.(\d+)\b", re.M)
# The skip lines of the three kinds of program: TAP "ok N name # SKIP why",
# the functional runner's "SKIP name: why", unittest -v's
# "test (mod.Class) ... skipped 'why'".
TAP_SKIP_RE = re.compile(r"^ok\b[^#]*#\s*SKIP\b:?\s*(.*)$", re.M | re.I)
RUNNER_SKIP_RE = re.compile(r"^SKIP (\S+): (.*)$", re.M)
# (-v puts a test's docstring, when it has one, between its name and
# "... skipped": the name may be on the line before)
UNITTEST_SKIP_RE = re.compile(r"^(.*?) \.\.\. skipped ['\"](.*)['\"]$", re.M)
# A test line: what the report of a timeout names as the last one seen.
TEST_LINE_RE = re.compile(r"^(ok|not ok|PASS|FAIL|SKIP)\b|"
                          r"^# Start of |\.\.\. (ok|FAIL|ERROR|skipped)")

# The only reasons a test may skip for and leave make check green: what
# the host cannot give, never what our build or QEMU's lacks.  README.md
# ("Tests") lists each one; the static tier checks it still does.
SKIP_REASONS = (
    "no /dev/kvm",
    "host lacks SOCK_SEQPACKET",
    "one CPU",
    "no IPv6 loopback",
)


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


def skip_reasons(text):
    """Every skip's reason in one program's output."""
    reasons = [m.group(1).strip() for m in TAP_SKIP_RE.finditer(text)]
    reasons += ["%s: %s" % (m.group(1), m.group(2).strip())
                for m in RUNNER_SKIP_RE.finditer(text)]
    reasons += ["%s: %s" % (m.group(1).split(" (")[0], m.group(2))
                for m in UNITTEST_SKIP_RE.finditer(text)]
    return reasons


def skip_allowed(reason):
    return any(r.lower() in reason.lower() for r in SKIP_REASONS)


def tap_missing(text, counts):
    """Cases a TAP plan announced that never reported (0 without a plan)."""
    m = TAP_PLAN_RE.search(text)
    if not m:
        return 0
    return max(0, int(m.group(1)) -
               (counts.passed + counts.failed + counts.skipped))


def last_test_line(text):
    lines = [line for line in text.splitlines() if TEST_LINE_RE.search(line)]
    return lines[-1].strip() if lines else None


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
        else:
            # "not ok ... # TODO" (g_test_incomplete) too: a case that
            # admits it does not test what it says is no pass
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


def kill_group(proc):
    """SIGTERM, then SIGKILL, to every process of proc's session."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            continue


def run_in_session(cmd, env, cwd, timeout):
    """Run cmd in a session (process group) of its own; return (output,
    exit status or None, timed out).  On a timeout the whole group goes,
    so the QEMUs a runner started go with it; so do any it left behind."""
    try:
        proc = subprocess.Popen(cmd, env=env, cwd=cwd,
                                stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL,
                                start_new_session=True)
    except OSError as e:
        return "*** cannot run %s: %s\n" % (cmd[0], e), None, False
    timed_out = False
    try:
        raw, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
        kill_group(proc)
        try:
            raw, _ = proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            # something outside the group still holds the pipe
            raw = b""
    try:
        os.killpg(proc.pid, signal.SIGKILL)   # leftovers of a clean exit
    except (ProcessLookupError, PermissionError):
        pass
    out = (raw or b"").decode("utf-8", "replace")
    if timed_out:
        out += "\n*** timed out after %d s\n" % timeout
        return out, None, True
    return out, proc.returncode, False


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
    out, rc, timed_out = run_in_session(cmd, full_env, cwd, timeout)
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
    # A TAP plan is a promise: a program that dies at case 5 of 43 has
    # 38 cases nobody ran, and they are failures, not silence.
    missing = tap_missing(out, counts)
    if missing:
        counts.failed += missing
        failures.append("TAP plan not met: %d missing" % missing)
    if timed_out:
        last = last_test_line(out)
        failures.append("timed out after %d s; process group killed; last "
                        "test line: %s" % (timeout, last or "(none)"))
    # A skip is a failure unless the host, not our build, is the reason.
    for reason in skip_reasons(out):
        if not skip_allowed(reason):
            counts.failed += 1
            failures.append("skip for a reason not in SKIP_REASONS: %s"
                            % reason)
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
    if counts.passed + counts.failed + counts.skipped == 0:
        # "0 passed, 0 failed", "1..0" or nothing at all: it proved nothing
        counts.failed = 1
        failures.append("reported no test result")

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
    counts.add(meson_tests(args.unit_build, names=PATCHED_UTIL_TESTS))
    # -v: unittest names each skip's reason only when verbose
    counts.add(run_program("unit/eif", [sys.executable, os.path.join(
        TOP, "tests", "unit", "test_eif.py"), "-v"], timeout=120))
    return counts


# QEMU's unit tests of util/aio-posix.c and the fd monitors, which patches
# 0008 and 0018 of our series change.
PATCHED_UTIL_TESTS = ("test-aio", "test-aio-multithread")


def meson_tests(build, prefix=None, names=()):
    """The meson tests of @build whose name starts with @prefix or is one
    of @names."""
    counts = Counts()
    try:
        out = subprocess.run(["meson", "introspect", "--tests", build],
                             check=True, stdout=subprocess.PIPE).stdout
    except (OSError, subprocess.CalledProcessError):
        print("  FAIL cannot list the tests of %s" % build)
        counts.failed += 1
        return counts
    for t in json.loads(out):
        if not (prefix and t["name"].startswith(prefix) or
                t["name"] in names):
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


FUNCTIONAL_TESTS = os.path.join(TOP, "tests", "functional", "*",
                                "test_vsock_user_*.py")


def tier_functional(args):
    paths = sorted(glob.glob(FUNCTIONAL_TESTS))
    if not paths:
        print("  FAIL the functional tests %s are missing" %
              os.path.relpath(FUNCTIONAL_TESTS, TOP))
        counts = Counts()
        counts.failed = 1
        return counts
    qemu = os.path.join(args.qemu_build, "qemu-system-x86_64")
    counts = functional_qemu_test(args, qemu, paths)
    # make bench itself, with tiny sizes: it must keep working end to end
    smoke = os.path.join(TOP, "tests", "bench", "test-bench-smoke.py")
    counts.add(run_program("functional/bench-smoke",
                           [sys.executable, smoke, "--qemu", qemu],
                           timeout=900))
    return counts


def functional_qemu_test(args, qemu, paths):
    """Our tests on QEMU's qemu_test framework, run as QEMU's meson runs
    them (from its tree, TAP output), one file at a time."""
    counts = Counts()
    build = os.path.abspath(args.qemu_build)
    tree = os.path.join(TOP, "build", "src", "qemu")
    python = os.path.join(build, "pyvenv", "bin", "python3")
    env = {
        "QEMU_TEST_QEMU_BINARY": os.path.abspath(qemu),
        "QEMU_BUILD_ROOT": build,
        "PYTHONPATH": os.path.join(tree, "python") + ":" +
                      os.path.join(tree, "tests", "functional"),
    }
    extra = shlex.split(args.functional_args)
    for path in functional_selected(paths, extra):
        rel = os.path.relpath(path, TOP)
        name = os.path.splitext(os.path.basename(path))[0]
        counts.add(run_program("functional/" + name,
                               [python, os.path.join(tree, rel)] + extra,
                               env=env, cwd=build, timeout=1800))
    return counts


def functional_selected(paths, extra):
    """The test files that have a test unittest's -k PATTERNs in EXTRA
    select (every file without -k), so that a file with none is not run
    to report no test at all."""
    pats = [extra[i + 1] for i in range(len(extra) - 1) if extra[i] == "-k"]
    if not pats:
        return paths
    keep = []
    for path in paths:
        module = os.path.splitext(os.path.basename(path))[0]
        with open(path, encoding="utf-8") as f:
            methods = re.findall(r"^    def (test_\w+)\(", f.read(), re.M)
        ids = ["%s.%s" % (module, m) for m in methods]
        for pat in pats:
            glob_pat = pat if any(c in pat for c in "*?[") else "*%s*" % pat
            if any(fnmatch.fnmatchcase(i, glob_pat) for i in ids):
                keep.append(path)
                break
    return keep


def tier_static(args):
    """Checks that need no build: this driver's self-test, and the
    figures of README.md and the bench docs against the results file."""
    counts = run_program("static/check-self-test",
                         [sys.executable, os.path.abspath(__file__),
                          "--self-test", "-v"], timeout=300)
    counts.add(run_program("static/bench-tables",
                           [sys.executable, os.path.join(
                               TOP, "scripts", "bench_tables.py"),
                            "--check"], timeout=120))
    return counts


TIERS = [("static", tier_static), ("unit", tier_unit), ("qtest", tier_qtest),
         ("functional", tier_functional)]


def run_tiers(args, wanted):
    total = Counts()
    for number, (name, fn) in enumerate(TIERS):
        if name not in wanted:
            continue
        print("tier %d: %s" % (number, name), flush=True)
        counts = fn(args)
        if counts.passed + counts.failed + counts.skipped == 0:
            # an empty tier proves nothing: no test found is a failure
            print("  FAIL tier %s ran no test" % name)
            counts.failed = 1
        print("tier %d: %s: %s" % (number, name, counts), flush=True)
        total.add(counts)
    return total


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--unit-build", default=os.path.join(TOP, "build/qemu"))
    p.add_argument("--qemu-build", default=os.path.join(TOP, "build/qemu"))
    p.add_argument("--qtests", default="")
    p.add_argument("--tiers", default="static,unit,qtest,functional")
    p.add_argument("--functional-args", default="",
                   help="more arguments for each functional test file "
                   "(unittest's), e.g. \"-k eif\"; files with no test "
                   "that -k selects are not run")
    p.add_argument("--sanitizers", action="store_true",
                   help="QEMU and the tests are built with ASan and UBSan: "
                   "halt at the first report and count it as a failure")
    p.add_argument("--self-test", action="store_true",
                   help="prove this driver fails what it must fail: fake "
                   "programs that abort midway, skip, hang, report nothing")
    args, rest = p.parse_known_args()
    if args.self_test:
        import check_selftest
        return check_selftest.main(sys.modules[__name__], rest)
    if rest:
        p.error("unrecognized arguments: %s" % " ".join(rest))

    if args.sanitizers:
        global SANITIZER_LOGS
        SANITIZER_LOGS = os.path.join(LOGS, "sanitizers")
        os.makedirs(SANITIZER_LOGS, exist_ok=True)

    total = run_tiers(args, args.tiers.split(","))
    print(total)
    return 1 if total.failed else 0


if __name__ == "__main__":
    sys.exit(main())
