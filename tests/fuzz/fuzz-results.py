#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""The figures of a fuzzing run, read from libFuzzer's logs into JSON.

  fuzz-results.py --out FILE.json --dir DIR TARGET...
      DIR/TARGET.log is libFuzzer's output for TARGET, DIR/TARGET.seconds
      the run's wall time and DIR/crashes/TARGET its artifacts; writes one record per target: seconds, executions,
      exec/s, the last coverage line's cov, ft and corpus, peak RSS, the
      slowest input, and the artifacts (crash, timeout, oom, leak) found,
      with the commit and the date of the run.
  fuzz-results.py --table FILE.json
      prints the table of a results file (reStructuredText), which is how
      the figures of docs/devel/vsock-user-fuzzing.rst are made.
"""

import argparse
import glob
import json
import os
import re
import subprocess
import sys
import time

TOP = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
STATUS = re.compile(r"^#(\d+)\s+\w+\s+cov: (\d+) ft: (\d+) corp: (\d+)/")
DONE = re.compile(r"^Done (\d+) runs in (\d+) second")
STAT = re.compile(r"^stat::(\w+):\s+(\d+)")


def parse(log, crashes):
    rec = {"seconds": None, "executions": None, "exec_per_s": None,
           "cov": None, "ft": None, "corpus": None, "peak_rss_mb": None,
           "slowest_unit_s": None}
    with open(log, errors="replace") as f:
        for line in f:
            m = STATUS.match(line)
            if m:
                rec["cov"], rec["ft"], rec["corpus"] = (
                    int(m.group(2)), int(m.group(3)), int(m.group(4)))
            m = DONE.match(line)
            if m:
                rec["seconds"] = int(m.group(2))
            m = STAT.match(line)
            if m:
                key = {"number_of_executed_units": "executions",
                       "average_exec_per_sec": "exec_per_s",
                       "peak_rss_mb": "peak_rss_mb",
                       "slowest_unit_time_sec": "slowest_unit_s"}.get(
                           m.group(1))
                if key:
                    rec[key] = int(m.group(2))
    # a run that stopped at an artifact has no "Done" line: the wall time
    # fuzz-device.sh measured
    elapsed = log[:-len(".log")] + ".seconds"
    if os.path.exists(elapsed):
        with open(elapsed) as f:
            rec["seconds"] = int(f.read())
    rec["artifacts"] = sorted(
        os.path.basename(p) for p in glob.glob(os.path.join(crashes, "*"))
        if re.match(r"(crash|timeout|oom|leak)-",
                    os.path.basename(p)))
    return rec


def table(data):
    rows = [("target", "seconds", "executions", "exec/s", "cov", "ft",
             "corpus", "found")]
    for r in data["runs"]:
        rows.append((r["target"], *("-" if r[k] is None else
                                    "{:,}".format(r[k]) for k in
                                    ("seconds", "executions", "exec_per_s",
                                     "cov", "ft", "corpus")),
                     ", ".join(a.split("-")[0] for a in r["artifacts"])
                     or "nothing"))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    sep = "  ".join("=" * w for w in widths)
    out = [sep]
    for i, r in enumerate(rows):
        out.append("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
        if i == 0:
            out.append(sep)
    out.append(sep)
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dir")
    ap.add_argument("--out")
    ap.add_argument("--table", metavar="FILE")
    ap.add_argument("--commit", help="the commit fuzzed (default: HEAD)")
    ap.add_argument("targets", nargs="*")
    args = ap.parse_args()
    if args.table:
        print(table(json.load(open(args.table))))
        return 0
    if not (args.dir and args.out and args.targets):
        ap.error("--dir, --out and targets are needed")
    commit = subprocess.run(["git", "-C", TOP, "rev-parse", "--short=12",
                             args.commit or "HEAD"], capture_output=True,
                            text=True)
    runs = []
    for t in args.targets:
        rec = {"target": t}
        rec.update(parse(os.path.join(args.dir, t + ".log"),
                         os.path.join(args.dir, "crashes", t)))
        runs.append(rec)
    data = {"info": {"date": time.strftime("%Y-%m-%d %H:%M"),
                     "commit": commit.stdout.strip(),
                     "load": round(os.getloadavg()[0], 2)},
            "runs": runs}
    with open(args.out, "w") as f:
        json.dump(data, f, indent=1)
        f.write("\n")
    print(table(data))
    return 0


if __name__ == "__main__":
    sys.exit(main())
