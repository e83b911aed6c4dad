"""check.py --self-test: the driver fails what it must fail, and so does
the check of the generated figures.

Each case runs a fake test program (a few lines of Python written to a
temporary directory) through check.py's own run_program, or a fake tier
through run_tiers, and asserts the counts and the reason printed: a TAP
program that aborts at case 5 of 43, skips for reasons the allow-list does
not name, a runner that reports nothing, a program that hangs with a child
(the child must be gone afterwards), a missing runner, an empty tier.
Part of the static tier of make check.
"""

import contextlib
import io
import os
import re
import sys
import tempfile
import textwrap
import time
import unittest

CHECK = None      # the check module, set by main()


class DriverSelfTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="check-selftest-")
        self.addCleanup(self.tmp.cleanup)
        self.saved_logs = CHECK.LOGS
        CHECK.LOGS = os.path.join(self.tmp.name, "logs")
        self.addCleanup(setattr, CHECK, "LOGS", self.saved_logs)

    def fake(self, body, name="fake"):
        path = os.path.join(self.tmp.name, name + ".py")
        with open(path, "w") as f:
            f.write("import os, subprocess, sys, time, unittest\n")
            f.write(textwrap.dedent(body))
        return [sys.executable, path]

    def run_fake(self, body, timeout=60, summary=False, args=()):
        """(Counts, what check.py printed) of one fake program."""
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            counts = CHECK.run_program("selftest/fake",
                                       self.fake(body) + list(args),
                                       timeout=timeout, summary=summary)
        return counts, out.getvalue()

    def assertCounts(self, counts, passed, failed, skipped):
        self.assertEqual((counts.passed, counts.failed, counts.skipped),
                         (passed, failed, skipped), str(counts))

    # ---- TAP plans ----------------------------------------------------------

    def test_plan_short_by_abort(self):
        """A qtest that aborts at case 6 of 43: 38 cases missing, each a
        failure, and the run fails."""
        counts, out = self.run_fake("""
            print("1..43")
            for i in range(1, 6):
                print("ok %d /vsock/case-%d" % (i, i))
            sys.stdout.flush()
            os.abort()
        """)
        self.assertCounts(counts, 5, 38, 0)
        self.assertIn("38 missing", out)

    def test_plan_short_with_clean_exit(self):
        counts, out = self.run_fake("""
            print("1..4")
            print("ok 1 /a")
            print("ok 2 /b")
        """)
        self.assertCounts(counts, 2, 2, 0)
        self.assertIn("2 missing", out)

    def test_plan_met(self):
        counts, out = self.run_fake("""
            print("1..3")
            for i in range(1, 4):
                print("ok %d /case-%d" % (i, i))
        """)
        self.assertCounts(counts, 3, 0, 0)
        self.assertIn("ok   selftest/fake", out)

    def test_failed_case_counts_once(self):
        counts, _ = self.run_fake("""
            print("1..2")
            print("ok 1 /a")
            print("not ok 2 /b")
            sys.exit(1)
        """)
        self.assertCounts(counts, 1, 1, 0)

    # ---- skips --------------------------------------------------------------

    def test_tap_skip_not_allowed(self):
        """QEMU without the machine is our build's fault, not the host's."""
        counts, out = self.run_fake("""
            print("1..2")
            print("ok 1 /a")
            print("ok 2 /nitro # SKIP qemu has no machine 'nitro-enclave'")
        """)
        self.assertCounts(counts, 1, 1, 1)
        self.assertIn("not in SKIP_REASONS: qemu has no machine "
                      "'nitro-enclave'", out)

    def test_tap_todo_fails(self):
        counts, out = self.run_fake("""
            print("1..2")
            print("ok 1 /a")
            print("not ok 2 /b # TODO not written yet")
        """)
        self.assertCounts(counts, 1, 1, 0)
        self.assertIn("not ok 2 /b # TODO", out)

    def test_tap_skip_allowed(self):
        counts, out = self.run_fake("""
            print("1..2")
            print("ok 1 /a")
            print("ok 2 /kvm # SKIP no /dev/kvm on this host")
        """)
        self.assertCounts(counts, 1, 0, 1)

    def test_runner_need_machine_skip_fails(self):
        """The functional runner's need_machine() skip on a QEMU tree
        without -M nitro-enclave fails make check."""
        counts, out = self.run_fake("""
            print("PASS boot-microvm (1.0s)")
            print("SKIP eif-nitro-enclave-heartbeat: build/qemu/qemu-system"
                  "-x86_64 has no machine 'nitro-enclave'")
            print("1 passed, 0 failed, 1 skipped")
        """, summary=True)
        self.assertCounts(counts, 1, 1, 1)
        self.assertIn("eif-nitro-enclave-heartbeat: build/qemu/"
                      "qemu-system-x86_64 has no machine", out)

    def test_runner_allowed_skip(self):
        counts, _ = self.run_fake("""
            print("PASS a (1.0s)")
            print("SKIP seqpacket-host: host lacks SOCK_SEQPACKET")
            print("1 passed, 0 failed, 1 skipped")
        """, summary=True)
        self.assertCounts(counts, 1, 0, 1)

    def test_unittest_skip_reasons(self):
        body = """
            class T(unittest.TestCase):
                def test_ok(self):
                    pass
                def test_vhost(self):
                    'A docstring: -v prints it before the verdict.'

                    self.skipTest("vhost-device-vsock not cached")
                def test_pin(self):
                    self.skipTest("one CPU")
            unittest.main()
        """
        counts, out = self.run_fake(body, args=["-v"])
        self.assertCounts(counts, 1, 1, 2)
        self.assertIn("A docstring: -v prints it before the verdict.: "
                      "vhost-device-vsock not cached", out)
        self.assertNotIn("test_pin: one CPU", out)

    def test_readme_states_every_reason(self):
        with open(os.path.join(CHECK.TOP, "README.md")) as f:
            readme = f.read()
        for reason in CHECK.SKIP_REASONS:
            self.assertTrue("`%s`" % reason in readme,
                            "README.md does not state `%s`" % reason)

    # ---- programs that prove nothing -----------------------------------------

    def test_zero_summary_fails(self):
        counts, out = self.run_fake("""
            print("0 passed, 0 failed, 0 skipped")
        """, summary=True)
        self.assertCounts(counts, 0, 1, 0)
        self.assertIn("reported no test result", out)

    def test_silent_program_fails(self):
        counts, _ = self.run_fake("pass\n")
        self.assertCounts(counts, 0, 1, 0)

    def test_empty_plan_fails(self):
        counts, _ = self.run_fake('print("1..0")\n')
        self.assertCounts(counts, 0, 1, 0)

    def test_missing_program_fails(self):
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            counts = CHECK.run_program(
                "selftest/missing", [os.path.join(self.tmp.name, "nothing")])
        self.assertCounts(counts, 0, 1, 0)
        self.assertIn("cannot run", out.getvalue())

    # ---- timeouts -------------------------------------------------------------

    def test_timeout_kills_the_group(self):
        """A hung program and the child it started (a QEMU, say) both go;
        the report names the last test line."""
        pidfile = os.path.join(self.tmp.name, "child.pid")
        counts, out = self.run_fake("""
            print("1..3")
            print("ok 1 /first")
            print("ok 2 /second")
            sys.stdout.flush()
            child = subprocess.Popen(["sleep", "300"])
            with open(%r, "w") as f:
                f.write(str(child.pid))
            time.sleep(300)
        """ % pidfile, timeout=3)
        self.assertGreaterEqual(counts.failed, 1)
        self.assertIn("process group killed; last test line: ok 2 /second",
                      out)
        with open(pidfile) as f:
            pid = int(f.read())
        deadline = time.monotonic() + 10
        while alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        self.assertFalse(alive(pid), "child %d survived the timeout" % pid)

    # ---- tiers ------------------------------------------------------------------

    def test_missing_runner_fails(self):
        saved = CHECK.FUNCTIONAL_TESTS
        CHECK.FUNCTIONAL_TESTS = os.path.join(self.tmp.name, "*",
                                              "test_vsock_user_*.py")
        self.addCleanup(setattr, CHECK, "FUNCTIONAL_TESTS", saved)
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            counts = CHECK.tier_functional(None)
        self.assertCounts(counts, 0, 1, 0)
        self.assertIn("functional tests", out.getvalue())

    def test_empty_tier_fails(self):
        saved = CHECK.TIERS
        CHECK.TIERS = [("empty", lambda args: CHECK.Counts())]
        self.addCleanup(setattr, CHECK, "TIERS", saved)
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            total = CHECK.run_tiers(None, ["empty"])
        self.assertCounts(total, 0, 1, 0)
        self.assertIn("tier empty ran no test", out.getvalue())


class FiguresSelfTest(unittest.TestCase):
    """scripts/bench_tables.py --check catches a figure edited by hand."""

    def setUp(self):
        sys.path.insert(0, os.path.join(CHECK.TOP, "scripts"))
        import bench_tables
        self.bt = bench_tables
        self.tmp = tempfile.TemporaryDirectory(prefix="check-selftest-")
        self.addCleanup(self.tmp.cleanup)

    def copy(self, rel, edit):
        with open(os.path.join(CHECK.TOP, rel)) as f:
            text = f.read()
        new = edit(text)
        self.assertNotEqual(new, text, "the edit changed nothing")
        path = os.path.join(self.tmp.name, os.path.basename(rel))
        with open(path, "w") as f:
            f.write(new)
        return path

    def test_committed_files_pass(self):
        for rel in ("README.md", "docs/devel/vsock-user-bench.rst"):
            problems, n = self.bt.check_file(os.path.join(CHECK.TOP, rel))
            self.assertEqual(problems, [], rel)
            self.assertGreater(n, 0, rel)

    def test_readme_figure_edited(self):
        def bump(text):
            # the first median in the headline table, one higher
            start = text.index("<!-- bench_tables.py headline")
            m = re.compile(r"\| (\d+) \(").search(text, start)
            return text[:m.start(1)] + str(int(m.group(1)) + 1) + \
                text[m.end(1):]
        problems, _ = self.bt.check_file(self.copy("README.md", bump))
        self.assertEqual(len(problems), 1, problems)
        self.assertIn("figures differ from their results file", problems[0])

    def test_docs_figure_edited(self):
        def bump(text):
            start = text.index(".. bench_tables.py full")
            m = re.compile(r"\[(met|MISSED)\]").search(text, start)
            flip = "MISSED" if m.group(1) == "met" else "met"
            return text[:m.start(1)] + flip + text[m.end(1):]
        path = self.copy("docs/devel/vsock-user-bench.rst", bump)
        problems, _ = self.bt.check_file(path)
        self.assertEqual(len(problems), 1, problems)

    def test_hand_typed_table(self):
        path = self.copy("README.md", lambda t: t + "\n| g2h | 999 MiB/s |\n")
        problems, _ = self.bt.check_file(path)
        self.assertTrue(any("outside a generated block" in p
                            for p in problems), problems)


def alive(pid):
    """pid exists and is not a zombie."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def main(check, argv):
    global CHECK
    CHECK = check
    prog = unittest.main(module=__name__, argv=["check.py --self-test"] +
                         argv, exit=False)
    return 0 if prog.result.wasSuccessful() else 1
