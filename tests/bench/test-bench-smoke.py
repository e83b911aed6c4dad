#!/usr/bin/env python3
"""Smoke test of make bench: the benchmark must keep working end to end.

Runs tests/bench/vsock-user-bench.py once with tiny sizes (a few seconds of
guest time) and checks what it measured and wrote: every channel and phase
is there with the exact byte, round and connection counts asked for, the
idle connections were all bridged and all closed again, and the table
carries every row, ratio column and target line the generated tables in
the README and the bench docs show.  It
checks no speed: the figures of a run this small mean nothing, and speed
targets belong to make bench, not to tests.

Part of tier 3 (functional) of make check; needs the QEMU build and the
guest that tests/functional/vsock-user/build-guest.sh prepares.
"""

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
BENCH = os.path.join(HERE, "vsock-user-bench.py")
MiB = 1024 * 1024

BYTES = 2 * MiB
SLIRP_BYTES = 1 * MiB
ROUNDS = 50
CONNS = 20
IDLE = 30
SIZE = 3000
SIZE_BYTES = 1 * MiB
STREAMS = (1, 4)
SCALE_IDLE = (20, 50)
PPS_WRITES = 500
FETCH = os.path.join(ROOT, "scripts", "vhost-device-vsock.sh")

QEMU = os.path.join(ROOT, "build", "qemu", "qemu-system-x86_64")


def run_driver(what, cmd, raw):
    """Run a bench driver; its output and the results file it wrote."""
    proc = subprocess.run(cmd, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True,
                          timeout=600, cwd=ROOT)
    if proc.returncode != 0:
        raise AssertionError("%s exited %d:\n%s" % (
            what, proc.returncode, proc.stdout[-4000:]))
    with open(raw) as f:
        return proc, json.load(f)


class BenchSmoke(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="bench-smoke-")
        cls.out = os.path.join(cls.tmp.name, "results.md")
        cls.raw = os.path.join(cls.tmp.name, "raw.json")
        # A test never downloads: make check and make check-functional
        # fetch the daemon into the cache before the tier runs.  Without
        # it test_vhost_user skips for a reason check.py does not allow,
        # so the run fails instead of passing without that channel.
        cls.vhost = subprocess.run(
            [FETCH, "--cached-only"], stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL).returncode == 0
        if not cls.vhost:
            print("vhost-device-vsock is not cached (make bench fetches "
                  "it): skipping that channel", file=sys.stderr)
        channels = "vsock,vhost-user,serial,slirp" if cls.vhost else \
            "vsock,serial,slirp"
        cmd = [sys.executable, BENCH, "--qemu", QEMU, "--repeat", "1",
               "--bytes", str(BYTES), "--slirp-bytes", str(SLIRP_BYTES),
               "--rounds", str(ROUNDS), "--conns", str(CONNS),
               "--idle", str(IDLE), "--timeout", "120",
               "--channels", channels, "--no-fetch",
               "--sizes", "%d,64K" % SIZE, "--size-bytes", str(SIZE_BYTES),
               "--scale-streams", ",".join(map(str, STREAMS)),
               "--scale-idle", ",".join(map(str, SCALE_IDLE)),
               "--scale-bytes", str(SIZE_BYTES),
               "--pps-writes", str(PPS_WRITES), "--max-connections", "256",
               "--stall-timeout", "5",
               "--out", cls.out, "--json", cls.raw]
        cls.proc, cls.data = run_driver("bench", cmd, cls.raw)
        with open(cls.out) as f:
            cls.table = f.read()

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def records(self, channel, phase):
        return [r for r in self.data["results"]
                if r["channel"] == channel and r["phase"] == phase]

    def one(self, channel, phase):
        recs = self.records(channel, phase)
        self.assertEqual(len(recs), 1, "%s %s" % (channel, phase))
        return recs[0]

    def test_json_renders_the_table(self):
        """The results file alone gives the tables again, figure for
        figure: what scripts/bench_tables.py relies on."""
        sys.path.insert(0, HERE)
        import bench_report
        self.assertEqual(bench_report.report_from_json(self.data),
                         self.table)

    def test_rounds(self):
        """--repeat 1: one round, and every main and vhost record says so."""
        for r in self.data["results"]:
            if r["channel"] in ("vsock", "serial", "slirp", "vhost-user") \
                    and not r["phase"].startswith(("idle-", "streams-",
                                                   "pps-", "ping-")):
                self.assertEqual(r.get("round"), 0, r)

    def test_throughput_moved_exact_bytes(self):
        for ch, nbytes in (("vsock", BYTES), ("serial", BYTES),
                           ("slirp", SLIRP_BYTES)):
            for phase in ("g2h", "h2g"):
                r = self.one(ch, phase)
                self.assertEqual(r["bytes"], nbytes, "%s %s" % (ch, phase))
                self.assertGreater(r["mibs"], 0)
                self.assertGreater(r["wall"], 0)
                self.assertGreater(r["vcpu"], 0)

    def test_ping_pong_rounds(self):
        for ch in ("vsock", "serial", "slirp"):
            r = self.one(ch, "ping")
            self.assertEqual(r["rounds"], ROUNDS, ch)
            self.assertGreater(r["median_us"], 0)
            self.assertLessEqual(r["median_us"], r["p99_us"])

    def test_vsock_device_counters(self):
        # the device's own statistics (QMP qom-get) cover what moved
        g2h = self.one("vsock", "g2h")
        h2g = self.one("vsock", "h2g")
        self.assertGreaterEqual(g2h["pkts_to_host"], BYTES // (64 * 1024))
        self.assertGreaterEqual(h2g["pkts_to_guest"], BYTES // (64 * 1024))
        self.assertGreater(h2g["pkts_to_host"], 0)      # credit updates

    def test_vsock_connections(self):
        rate = self.one("vsock", "connrate")
        self.assertEqual(rate["conns"], CONNS)
        self.assertGreater(rate["rate"], 0)
        idle = self.one("vsock", "idle")
        self.assertEqual(idle["conns"], IDLE)
        self.assertEqual(idle["host_sockets"], IDLE + 1)  # + control
        self.assertEqual(idle["conns_after"], 0)

    def test_vsock_sizes(self):
        for phase in ("g2h-%d" % SIZE, "h2g-%d" % SIZE):
            r = self.one("vsock", phase)
            self.assertEqual(r["bytes"], SIZE_BYTES, phase)
            self.assertEqual(r["chunk"], SIZE, phase)

    def test_vsock_scale(self):
        self.assertEqual([s for s in self.data["stalls"]
                          if s["channel"] == "vsock"], [])
        for d in ("g2h", "h2g"):
            for size in (SIZE, 65536):
                for n in STREAMS:
                    r = self.one("vsock", "streams-%s-%d-%d" % (d, size, n))
                    self.assertEqual(r["bytes"], SIZE_BYTES)
                    self.assertEqual(r["streams"], n)
        for n in SCALE_IDLE:
            r = self.one("vsock", "idle-%d" % n)
            self.assertEqual(r["conns"], n)
            self.assertGreater(r["first_med_us"], 0)
            self.assertGreater(r["last_med_us"], 0)
        for n in (1, SCALE_IDLE[-1]):
            r = self.one("vsock", "pps-%d" % n)
            self.assertEqual(r["bytes"], PPS_WRITES * 64)
            self.assertGreater(r["pkts_per_s"], 0)
            self.assertGreater(r["device_us_per_write"], 0)
            self.assertEqual(self.one("vsock", "ping-%d" % n)["rounds"],
                             ROUNDS)

    def test_vhost_user(self):
        """Every phase of theirs either measured or stalled (a stall is
        their result, e.g. 64 KiB guest->host writes), never missing."""
        if not self.vhost:
            self.skipTest("vhost-device-vsock not cached")
        stalls = {s["phase"] for s in self.data["stalls"]
                  if s["channel"] == "vhost-user"}
        for phase in ("g2h", "h2g", "ping", "connrate", "idle",
                      "g2h-%d" % SIZE, "h2g-%d" % SIZE, "pps-1",
                      "idle-%d" % SCALE_IDLE[0]):
            recs = self.records("vhost-user", phase)
            self.assertTrue(len(recs) == 1 or phase in stalls, phase)
        self.assertIn("| vsock/vhost ", self.table)
        self.assertRegex(self.table, r"vhost-device-vsock \S+ against "
                         r"vsock-user")

    def test_pinned(self):
        """--pin held for every QEMU of the run, not just the first (the
        later ones inherited the driver's own narrowed CPU set once)."""
        if len(os.sched_getaffinity(0)) < 2:
            self.skipTest("one CPU")
        unpinned = {(r["channel"], r["phase"]) for r in self.data["results"]
                    if not r["pinned"]}
        self.assertEqual(unpinned, set())

    def test_table(self):
        t = self.table
        self.assertIn("| vsock-user ", t)
        self.assertIn("| virtio-serial ", t)
        self.assertIn("| virtio-net+slirp ", t)
        self.assertIn("| vsock/serial | vsock/slirp |", t)
        for row in ("guest->host MiB/s", "host->guest MiB/s",
                    "ping-pong median us", "ping-pong p99 us",
                    "main-loop CPU s/GiB guest->host",
                    "QEMU total CPU s/GiB host->guest",
                    "vsock connect+close per s",
                    "QEMU's own memory (VmRSS - guest RAM - TCG code)"):
            self.assertRegex(t, r"\n\| +%s[^|\n]*\|" % re.escape(row), row)
        # every target the report knows, each with its figures here
        targets = re.findall(r"^- \[(met|MISSED|no data)\] ", t, re.M)
        self.assertEqual(len(targets), 11, t)
        self.assertNotIn("no data", targets, t)
        self.assertIn("| scale ", t)
        self.assertRegex(t, r"\n- (pinned: vCPU thread on CPU \d+|"
                         r"not pinned)")
        self.assertIn("Engine micro-benchmark", t)


class ABSmoke(unittest.TestCase):
    """tests/bench/vsock-user-ab.py with the same binary on both sides:
    every round of each side is there, in A B A B order, with the exact
    bytes asked for, and the table rendered from the file is the one the
    driver printed, a verdict on every row."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="ab-smoke-")
        cls.raw = os.path.join(cls.tmp.name, "ab.json")
        cmd = [sys.executable, os.path.join(HERE, "vsock-user-ab.py"),
               "--a", QEMU, "--a-name", "one", "--b", QEMU, "--b-name",
               "two", "--rounds", "2", "--json", cls.raw, "--",
               "--bytes", str(BYTES), "--rounds", str(ROUNDS),
               "--conns", str(CONNS), "--idle", str(IDLE),
               "--sizes", "%d,64K" % SIZE, "--size-bytes", str(SIZE_BYTES),
               "--no-scale", "--timeout", "120"]
        cls.proc, cls.data = run_driver("A/B", cmd, cls.raw)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def test_rounds_alternate(self):
        order = re.findall(r"^# round (\d) of 2, (a|b):", self.proc.stdout,
                           re.M)
        self.assertEqual(order, [("1", "a"), ("1", "b"), ("2", "a"),
                                 ("2", "b")])
        for side in "ab":
            for phase in ("g2h", "h2g"):
                recs = [r for r in self.data["results"]
                        if r["side"] == side and r["phase"] == phase]
                self.assertEqual(sorted(r["round"] for r in recs), [0, 1])
                self.assertEqual({r["bytes"] for r in recs}, {BYTES})
                self.assertEqual({r["channel"] for r in recs}, {"vsock"})

    def test_table(self):
        sys.path.insert(0, os.path.join(ROOT, "scripts"))
        import bench_tables
        text = bench_tables.script("vsock-user-ab.py").table(self.data)
        self.assertIn(text, self.proc.stdout)
        rows = re.findall(r"^(\S+) .*  (B worse|B better|same \(within "
                          r"spread or 10 %\))$", text, re.M)
        phases = {r["phase"] for r in self.data["results"]}
        self.assertEqual({p for p, _ in rows}, phases)
        self.assertIn("A: one", text)
        self.assertIn("B: two", text)
        self.assertEqual(len(re.findall(r"^- \[no data\] ", text, re.M)),
                         3, text)


class VsVhostSmoke(unittest.TestCase):
    """tests/bench/vsock-user-vs-vhost.py with one binary as two variants:
    each round runs both, the order turning, each run beside
    vhost-device-vsock with the exact bytes asked for; the table made
    again from the kept files (--from-dir) is the one the driver printed,
    a factor on every row both devices ran."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="vs-vhost-smoke-")
        cls.raw = os.path.join(cls.tmp.name, "vs.json")
        driver = os.path.join(HERE, "vsock-user-vs-vhost.py")
        cls.cmd = [sys.executable, driver,
                   "--variant", "one=" + QEMU, "--variant", "two=" + QEMU,
                   "--rounds", "2", "--dir", cls.tmp.name,
                   "--json", cls.raw, "--",
                   "--bytes", str(BYTES), "--chunk", "1024",
                   "--rounds", str(ROUNDS), "--conns", "0", "--idle", "0",
                   "--sizes", str(SIZE), "--size-bytes", str(SIZE_BYTES),
                   "--no-scale", "--timeout", "120"]
        cls.proc, cls.data = run_driver("vs-vhost", cls.cmd, cls.raw)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def test_rounds_turn(self):
        order = re.findall(r"^# round (\d) of 2: (one|two)$",
                           self.proc.stdout, re.M)
        self.assertEqual(order, [("1", "one"), ("1", "two"), ("2", "two"),
                                 ("2", "one")])
        for v in ("one", "two"):
            for ch in ("vsock", "vhost-user"):
                recs = [r for r in self.data["results"] if r["variant"] == v
                        and r["channel"] == ch and r["phase"] == "h2g"]
                self.assertEqual(sorted(r["round"] for r in recs), [0, 1])
                self.assertEqual({r["bytes"] for r in recs}, {BYTES})

    def test_table(self):
        sys.path.insert(0, os.path.join(ROOT, "scripts"))
        import bench_tables
        text = bench_tables.script("vsock-user-vs-vhost.py").table(self.data)
        self.assertIn(text, self.proc.stdout)
        rows = re.findall(r"^(\S+) \S.*  (ahead|behind|mixed)$", text, re.M)
        both = [{r["phase"] for r in self.data["results"]
                 if r["channel"] == ch} for ch in ("vsock", "vhost-user")]
        self.assertEqual({p for p, _ in rows}, both[0] & both[1], text)
        self.assertLessEqual({"g2h", "h2g", "ping"}, both[0] & both[1])
        again = subprocess.run(
            self.cmd[:2] + ["--from-dir"] + self.cmd[2:], cwd=ROOT,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            timeout=60)
        self.assertEqual(again.returncode, 0, again.stdout)
        self.assertNotIn("# round", again.stdout)
        self.assertIn(text, again.stdout)


def main():
    global QEMU
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--qemu", default=QEMU)
    args, rest = p.parse_known_args()
    QEMU = os.path.abspath(args.qemu)
    unittest.main(argv=[sys.argv[0]] + rest, verbosity=2)


if __name__ == "__main__":
    main()
