#!/usr/bin/env python3
"""A/B: the same make bench phases on two QEMU binaries, in one run.

    tests/bench/vsock-user-ab.py --a OLD/qemu-system-x86_64 --a-name dd1a266 \\
        --b build/qemu/qemu-system-x86_64 --b-name main [--rounds 3] \\
        [-- BENCH ARGS]

Runs tests/bench/vsock-user-bench.py on vsock-user only (--repeat 1, its
scale phases included unless the bench args say --no-scale) ROUNDS times
per binary in alternating order, A B A B, each run in fresh QEMUs, so that
a slow phase of the machine (runs minutes apart differ up to 2x here) falls
on both sides.  Both sides boot the same guest kernel and initramfs.

Writes every record, tagged with its side and round, to --json (default
build/bench/ab.json) and prints the table that scripts/bench_tables.py
renders from a committed copy of that file ("ab" blocks): per phase the
median and range of each side, B against A as a factor (above 1: B is
better, whichever way the figure goes), and a verdict: "B worse" (or "B
better") only when the two sides' ranges do not overlap, i.e. beyond the
run-to-run spread this run measured, and the medians differ by more than
10 %.  Below it the 10,000-connection targets: ping median, 64-byte writes
per second and the last 100 connects' median within 1.25x of A.
"""

import argparse
import datetime
import json
import os
import re
import statistics
import subprocess
import sys

from bench_common import (host_info, lead_of, phase_metrics, spread,
                          write_results)

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
BENCH = os.path.join(HERE, "vsock-user-bench.py")

# How much worse than A a row may be before it counts, over the spread.
MARGIN = 0.10
# The scale phases' target against A with this many idle connections.
SCALE_N = 10000
SCALE_FACTOR = 1.25


def values(data, side, phase, key):
    return [r[key] for r in data["results"]
            if r["side"] == side and r["phase"] == phase and
            r.get(key) is not None]


def factor(a, b, higher):
    """B against A, above 1 when B is better."""
    ma, mb = statistics.median(a), statistics.median(b)
    if not ma or not mb:
        return None
    return mb / ma if higher else ma / mb


def rows(data):
    """[row label, A cell, B cell, factor, verdict] per figure, and the
    number of rows where B is worse beyond the spread."""
    phases = []
    for r in data["results"]:
        if r["phase"] not in phases:
            phases.append(r["phase"])
    out, worse = [], 0
    for phase in phases:
        for key, label, higher, fmt in phase_metrics(phase):
            a = values(data, "a", phase, key)
            b = values(data, "b", phase, key)
            if not a and not b:
                continue
            f = factor(a, b, higher) if a and b else None
            verdict = "only one side"
            if f is not None:
                lead = lead_of(b, a, higher)
                if lead == "theirs" and f < 1 - MARGIN:
                    verdict = "B worse"
                    worse += 1
                elif lead == "ours" and f > 1 + MARGIN:
                    verdict = "B better"
                else:
                    verdict = "same (within spread or %.0f %%)" % (
                        MARGIN * 100)
            out.append(["%s %s" % (phase, label), spread(a, fmt) or "-",
                        spread(b, fmt) or "-", "%.2fx" % f if f else "-",
                        verdict])
    return out, worse


def targets(data):
    """The 10,000-connection target lines."""
    out = []
    for phase, key, what, higher in (
            ("ping-%d" % SCALE_N, "median_us", "1-byte ping median", False),
            ("pps-%d" % SCALE_N, "writes_per_s", "64-byte writes per s",
             True),
            ("idle-%d" % SCALE_N, "last_med_us",
             "median of the last 100 connects", False)):
        a = values(data, "a", phase, key)
        b = values(data, "b", phase, key)
        name = "with %d idle connections, %s of B within %.2fx of A's" % (
            SCALE_N, what, SCALE_FACTOR)
        if not a or not b:
            out.append("- [no data] " + name)
            continue
        f = factor(a, b, higher)
        out.append("- [%s] %s: %.2fx" % (
            "met" if f >= 1 / SCALE_FACTOR else "MISSED", name, f))
    return out


def table(data):
    sides = data["sides"]
    body, worse = rows(data)
    header = ["phase and figure", "A: %s" % sides[0]["name"],
              "B: %s" % sides[1]["name"], "B vs A", "verdict"]
    widths = [max(len(str(x[i])) for x in [header] + body)
              for i in range(len(header))]

    def line(cells):
        return "  ".join(str(c).ljust(w) for c, w in
                         zip(cells, widths)).rstrip()
    info = data["info"]
    out = ["A/B run of %s: %d alternating rounds per side (A B A B), "
           "vsock-user only, each round in fresh QEMUs; bench args: %s"
           % (info["date"], data["rounds"],
              " ".join(data["bench_args"]) or "(defaults)"),
           "guest Linux %s, %s" % (info["kernel"], info["host"]),
           "median (min-max) over the rounds; B vs A above 1: B better", "",
           line(header), line(["-" * w for w in widths])]
    out += [line(r) for r in body]
    out += ["", "%d of %d rows B worse by more than %.0f %% beyond the "
            "spread (ranges apart)" % (worse, len(body), MARGIN * 100)]
    out += targets(data)
    return "\n".join(out) + "\n"


def run_side(args, side, rnd, tmp):
    out = os.path.join(tmp, "ab-%s-%d.json" % (side["key"], rnd))
    cmd = [sys.executable, BENCH, "--no-build", "--qemu", side["qemu"],
           "--channels", "vsock", "--repeat", "1", "--no-alternate",
           "--json", out, "--out", out[:-5] + ".md"] + args.bench_args
    print("# round %d of %d, %s: %s" % (rnd + 1, args.rounds, side["key"],
                                        side["name"]), flush=True)
    if subprocess.run(cmd, stdout=subprocess.DEVNULL).returncode:
        raise SystemExit("error: the bench failed on %s (round %d)"
                         % (side["qemu"], rnd + 1))
    with open(out) as f:
        return json.load(f)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--a", required=True, help="QEMU binary A (the base)")
    ap.add_argument("--a-name", required=True, help="its name in the table")
    ap.add_argument("--b", default=os.path.join(
        ROOT, "build", "qemu", "qemu-system-x86_64"), help="QEMU binary B")
    ap.add_argument("--b-name", required=True)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--json", default=os.path.join(ROOT, "build", "bench",
                                                   "ab.json"))
    ap.add_argument("bench_args", nargs="*",
                    help="after --: arguments for vsock-user-bench.py")
    args = ap.parse_args()
    if args.rounds < 1:
        ap.error("--rounds must be at least 1")
    sides = [{"key": "a", "name": args.a_name, "qemu": args.a},
             {"key": "b", "name": args.b_name, "qemu": args.b}]
    for s in sides:
        s["qemu"] = os.path.abspath(s["qemu"])
        if not os.access(s["qemu"], os.X_OK):
            ap.error("%s is not an executable" % s["qemu"])
    tmp = os.path.dirname(os.path.abspath(args.json))
    os.makedirs(tmp, exist_ok=True)
    results, kernel = [], "?"
    for rnd in range(args.rounds):
        for s in sides:
            d = run_side(args, s, rnd, tmp)
            kernel = d["info"]["kernel"]
            for r in d["results"]:
                r.update(side=s["key"], round=rnd)
                results.append(r)
    data = {"info": {"date": datetime.datetime.now().strftime(
                         "%Y-%m-%d %H:%M"),
                     "kernel": kernel, "host": host_info()},
            "sides": [{"name": s["name"]} for s in sides],
            "rounds": args.rounds, "bench_args": args.bench_args,
            "results": results}
    write_results(args.json, data, table(data))
    return 0


if __name__ == "__main__":
    sys.exit(main())
