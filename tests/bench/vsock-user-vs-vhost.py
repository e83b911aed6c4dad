#!/usr/bin/env python3
"""Variants of the device against vhost-device-vsock, round by round.

    tests/bench/vsock-user-vs-vhost.py \\
        --variant main=build/qemu/qemu-system-x86_64 \\
        --variant iothread=/tmp/q-iothread.sh [--rounds 4] [--dir DIR] \\
        [-- BENCH ARGS]

Each round runs tests/bench/vsock-user-bench.py once per variant (a QEMU
binary, or a script that starts one), the variants' order turning from
round to round, each run with --channels vsock,vhost-user --repeat 1: the
variant and vhost-device-vsock side by side in the same minute.  Per
round and figure the variant's result is divided by the daemon's from the
same run (above 1: the variant is better, whichever way the figure goes);
the table gives, per variant, the median and range of that factor over
the rounds, and "ahead" or "behind" only when every round says so.  A
slow phase of the machine (runs minutes apart differ up to 2x here) hits
both devices of a run alike, which a comparison across runs cannot say.

Every run's results file is kept in --dir as VARIANT-ROUND.json; with
--from-dir the table is made again from such a directory without running
anything.  The records, tagged with variant and round, go to --json, the
file scripts/bench_tables.py renders ("vhost" blocks).
"""

import argparse
import json
import os
import re
import statistics
import subprocess
import sys

from bench_common import host_info, phase_metrics, write_results

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
BENCH = os.path.join(HERE, "vsock-user-bench.py")
OURS, THEIRS = "vsock", "vhost-user"


def value(records, channel, phase, key):
    vals = [r[key] for r in records if r["channel"] == channel and
            r["phase"] == phase and r.get(key)]
    return statistics.median(vals) if vals else None


def factors(data):
    """{(row, variant): [factor per round]} and the rows in order, a row
    being (phase, key, label, higher is better)."""
    rows, out = [], {}
    for r in data["results"]:
        for key, label, higher, _ in phase_metrics(r["phase"]):
            if (r["phase"], key, label, higher) not in rows:
                rows.append((r["phase"], key, label, higher))
    for row in rows:
        phase, key, _, higher = row
        for v in data["variants"]:
            for rnd in range(data["rounds"]):
                recs = [r for r in data["results"]
                        if r["variant"] == v and r["round"] == rnd]
                ours = value(recs, OURS, phase, key)
                theirs = value(recs, THEIRS, phase, key)
                if ours and theirs:
                    out.setdefault((row, v), []).append(
                        ours / theirs if higher else theirs / ours)
    return rows, out


def cell(fs):
    if not fs:
        return "-", ""
    text = "%.2fx (%.2f-%.2f)" % (statistics.median(fs), min(fs), max(fs))
    if min(fs) > 1:
        return text, "ahead"
    if max(fs) < 1:
        return text, "behind"
    return text, "mixed"


def table(data):
    rows, fs = factors(data)
    header = ["phase and figure"]
    for v in data["variants"]:
        header += [v, ""]
    body = []
    for row in rows:
        line_cells = ["%s %s" % (row[0], row[2])]
        for v in data["variants"]:
            line_cells += list(cell(fs.get((row, v))))
        if any(c != "-" for c in line_cells[1::2]):
            body.append(line_cells)
    widths = [max(len(x[i]) for x in [header] + body)
              for i in range(len(header))]

    def line(cells):
        return "  ".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip()
    info = data["info"]
    out = ["Run of %s: %d rounds, each variant once per round beside "
           "vhost-device-vsock in the same bench run (order turning); "
           "bench args: %s" % (info["date"], data["rounds"],
                               " ".join(data["bench_args"]) or "(defaults)"),
           "guest Linux %s, %s" % (info["kernel"], info["host"]),
           "variant / vhost-device-vsock per round, median (min-max) over "
           "the rounds; above 1: the variant is better; ahead or behind "
           "only when every round says so", "",
           line(header), line(["-" * w for w in widths])]
    out += [line(r) for r in body]
    for v in data["variants"]:
        marks = [cell(fs.get((row, v)))[1] for row in rows
                 if (row, v) in fs]
        out.append("%s: %d rows ahead, %d behind, %d mixed" % (
            v, marks.count("ahead"), marks.count("behind"),
            marks.count("mixed")))
    return "\n".join(out) + "\n"


def collect(variants, rounds, path_of):
    """The runs' records, tagged; the guest kernel; the first run's date."""
    results, kernel, dates = [], "?", []
    for rnd in range(rounds):
        for v in variants:
            with open(path_of(v, rnd)) as f:
                d = json.load(f)
            kernel = d["info"]["kernel"]
            dates.append(d["info"]["date"])
            for r in d["results"]:
                if r["channel"] in (OURS, THEIRS):
                    results.append(dict(r, variant=v, round=rnd))
    return results, kernel, min(dates)


def run(args, variants, rnd):
    names = list(variants)
    turn = rnd % len(names)
    for name in names[turn:] + names[:turn]:
        out = os.path.join(args.dir, "%s-%d.json" % (name, rnd + 1))
        cmd = [sys.executable, BENCH, "--no-build", "--qemu",
               variants[name], "--channels", "%s,%s" % (OURS, THEIRS),
               "--repeat", "1", "--json", out,
               "--out", out[:-5] + ".md"] + args.bench_args
        print("# round %d of %d: %s" % (rnd + 1, args.rounds, name),
              flush=True)
        if subprocess.run(cmd, stdout=subprocess.DEVNULL).returncode:
            raise SystemExit("error: the bench failed on %s (round %d)"
                             % (name, rnd + 1))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--variant", action="append", default=[],
                    metavar="NAME=QEMU", help="a QEMU binary or a script "
                    "that starts one (repeat for each variant)")
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--dir", default=os.path.join(ROOT, "build", "bench",
                                                  "vs-vhost"),
                    help="where each run's results file goes")
    ap.add_argument("--from-dir", action="store_true",
                    help="run nothing: the table from --dir's files")
    ap.add_argument("--json", default=os.path.join(ROOT, "build", "bench",
                                                   "vs-vhost.json"))
    ap.add_argument("bench_args", nargs="*",
                    help="after --: arguments for vsock-user-bench.py")
    args = ap.parse_args()
    variants = {}
    for spec in args.variant:
        name, sep, qemu = spec.partition("=")
        if not sep or not re.match(r"^[\w.]+$", name) or name in variants:
            ap.error("--variant %s: want a new NAME=QEMU" % spec)
        variants[name] = os.path.abspath(qemu)
        if not args.from_dir and not os.access(variants[name], os.X_OK):
            ap.error("--variant %s: %s is not an executable" % (spec, qemu))
    if not variants:
        ap.error("give at least one --variant")
    if args.rounds < 1:
        ap.error("--rounds must be at least 1")
    os.makedirs(args.dir, exist_ok=True)
    if args.from_dir:
        missing = [p for v in variants for p in
                   [os.path.join(args.dir, "%s-%d.json" % (v, r + 1))
                    for r in range(args.rounds)] if not os.path.isfile(p)]
        if missing:
            ap.error("--from-dir: %s missing" % ", ".join(missing))
    else:
        for rnd in range(args.rounds):
            run(args, variants, rnd)
    results, kernel, date = collect(
        list(variants), args.rounds,
        lambda v, r: os.path.join(args.dir, "%s-%d.json" % (v, r + 1)))
    data = {"info": {"date": date, "kernel": kernel, "host": host_info()},
            "variants": list(variants), "rounds": args.rounds,
            "bench_args": args.bench_args, "results": results}
    os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
    write_results(args.json, data, table(data))
    return 0


if __name__ == "__main__":
    sys.exit(main())
