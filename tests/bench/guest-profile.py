#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Guest-side profile of a TCG vCPU thread.

Run QEMU (or vsock-user-bench.py) with -perfmap and record it with perf; perf
then names every sample in translated code "guest-0x<guest pc>".  This script
folds those samples into guest kernel functions using the kernel's
System.map, and lists the rest (QEMU's own functions: TB lookup, softmmu,
device code) by name, so one table shows where a vCPU's time goes.

  tests/bench/vsock-user-bench.py --repeat 1 --perf-dir /tmp/p \
      --qemu-arg=-perfmap
  tests/bench/guest-profile.py /tmp/p/vsock-g2h.data
"""

import argparse
import bisect
import collections
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
CACHE = os.path.join(os.environ.get("XDG_CACHE_HOME",
                                    os.path.expanduser("~/.cache")),
                     "virtio-vsock-user")


def load_system_map(path):
    addrs, names = [], []
    with open(path) as f:
        for line in f:
            parts = line.split()
            if len(parts) == 3 and parts[1] in "tTwW":
                addrs.append(int(parts[0], 16))
                names.append(parts[2])
    order = sorted(range(len(addrs)), key=addrs.__getitem__)
    return [addrs[i] for i in order], [names[i] for i in order]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("data", help="perf.data recorded with QEMU -perfmap")
    ap.add_argument("--system-map",
                    default=os.path.join(CACHE, "kernel-obj", "System.map"),
                    help="guest kernel System.map (default: the cached "
                    "guest kernel build)")
    ap.add_argument("--comm", default="CPU 0/TCG",
                    help="thread to profile (default 'CPU 0/TCG'; needs "
                    "-name debug-threads=on)")
    ap.add_argument("--top", type=int, default=40)
    args = ap.parse_args()

    addrs, names = load_system_map(args.system_map)
    out = subprocess.run(
        ["perf", "report", "-i", args.data, "--no-children", "-g", "none",
         "--comm", args.comm, "--sort", "dso,sym", "--stdio",
         "--percent-limit", "0"],
        capture_output=True, text=True, check=True).stdout
    guest = collections.Counter()
    host = collections.Counter()
    total_guest = 0.0
    total = 0.0
    line_re = re.compile(r"^\s*([\d.]+)%\s+(.*?)\s+\[(.)\]\s+(.*)$")
    for line in out.splitlines():
        m = line_re.match(line)
        if not m:
            continue
        pct, dso, _, sym = float(m.group(1)), m.group(2), m.group(3), \
            m.group(4).strip()
        total += pct
        g = re.match(r"guest-0x([0-9a-f]+)", sym)
        if g:
            pc = int(g.group(1), 16)
            i = bisect.bisect_right(addrs, pc) - 1
            name = names[i] if i >= 0 and pc >= 0xffffffff80000000 \
                else "(guest user space)"
            guest[name] += pct
            total_guest += pct
        else:
            host["%s %s" % (dso, sym)] += pct
    if not total:
        print("no samples of thread '%s' in %s" % (args.comm, args.data))
        return 1
    scale = 100.0 / total
    print("%s: %.1f%% of the samples; %.1f%% of those in translated guest "
          "code" % (args.comm, total, total_guest * scale))
    print()
    print("guest functions (% of the thread):")
    for name, pct in guest.most_common(args.top):
        print("  %6.2f%%  %s" % (pct * scale, name))
    print()
    print("QEMU functions on the same thread:")
    for name, pct in host.most_common(args.top // 2):
        print("  %6.2f%%  %s" % (pct * scale, name))
    return 0


if __name__ == "__main__":
    sys.exit(main())
