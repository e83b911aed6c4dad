#!/usr/bin/env python3
"""The benchmark figures of README.md and docs/, generated from one results
file of make bench, never typed.

A generated block sits between two marker comments that name its kind and
the results file it comes from:

    <!-- bench_tables.py headline docs/devel/bench-results/NAME.json -->
    ...
    <!-- end bench_tables.py headline -->

in Markdown, and in reStructuredText

    .. bench_tables.py full docs/devel/bench-results/NAME.json

    ...

    .. end bench_tables.py full

Kinds: "headline" (README: vsock-user beside the channels it is compared
with, median and range, and who leads where the ranges do not overlap;
the count of targets met), "full" (the bench docs: make bench's whole
report, every target met or missed, as a literal block) and "links" (the
guest-to-guest table of tests/bench/vsock-user-link-bench.py, from its
own results file) and "stall" (the longest main-loop stall under each
hostile link peer, tests/bench/vsock-user-link-stall.py's table),
"fuzz" (a fuzzing run's figures, tests/fuzz/fuzz-results.py's table) and
"ab" (two QEMU binaries side by side, tests/bench/vsock-user-ab.py's
table), "vhost" (variants of the device, each against vhost-device-vsock
round by round, tests/bench/vsock-user-vs-vhost.py's table).

    scripts/bench_tables.py --check    fail if a block differs from what its
                                       results file gives, or README.md has
                                       a figure table outside a block
    scripts/bench_tables.py --write [--results FILE]
                                       regenerate every block (from FILE,
                                       which the markers then name)

--check is part of the static tier of make check.
"""

import argparse
import difflib
import glob
import importlib.util
import json
import os
import re
import statistics
import sys

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(TOP, "tests", "bench"))

import bench_report      # noqa: E402  (after the path above)

MD_BEGIN = re.compile(r"^<!-- bench_tables\.py (\w+) (\S+) -->$")
MD_END = "<!-- end bench_tables.py %s -->"
RST_BEGIN = re.compile(r"^\.\. bench_tables\.py (\w+) (\S+)$")
RST_END = ".. end bench_tables.py %s"
# A table row in README.md outside a generated block that carries a
# measured figure: a ratio, a rate, a time or size with its unit.
FIGURE_RE = re.compile(r"\b\d[\d,.]*\s*(x|MiB/s|us|ms|B/conn|per s|%)(\W|$)")

NAMES = {"vsock": "vsock-user", "vhost-user": "vhost-device-vsock",
         "serial": "virtio-serial", "slirp": "virtio-net + slirp"}
OTHERS = ("vhost-user", "serial", "slirp")


def files():
    """The files whose blocks are checked: README.md and docs/**/*.rst."""
    out = [os.path.join(TOP, "README.md")]
    out += sorted(glob.glob(os.path.join(TOP, "docs", "**", "*.rst"),
                            recursive=True))
    return out


def load(path):
    with open(os.path.join(TOP, path)) as f:
        return json.load(f)


# ---- the headline table ------------------------------------------------------

def values(data, ch, phase, key):
    out = []
    for r in data["results"]:
        if r["channel"] != ch or r["phase"] != phase:
            continue
        # idle memory: run 1 only, later runs reuse the heap it grew
        if phase == "idle" and r.get("rep", 0) != 0:
            continue
        v = r.get(key)
        if v is not None:
            out.append(v)
    return out


def cell(vals, fmt):
    if not vals:
        return "-"
    m = fmt % statistics.median(vals)
    if len(vals) == 1:
        return m
    return "%s (%s-%s)" % (m, fmt % min(vals), fmt % max(vals))


def stalled(data, ch, phase):
    for st in data.get("stalls", []):
        if st["channel"] == ch and st["phase"] == phase:
            if st.get("got") is not None:
                return "stalls at %d of %d MiB" % (st["got"] >> 20,
                                                   st["want"] >> 20)
            return "fails"
    return None


def compare(ours, theirs, higher):
    """"ahead" or "behind" when the two ranges do not overlap, else None."""
    if not ours or not theirs:
        return None
    if higher:
        if min(ours) > max(theirs):
            return "ahead"
        if max(ours) < min(theirs):
            return "behind"
    else:
        if max(ours) < min(theirs):
            return "ahead"
        if min(ours) > max(theirs):
            return "behind"
    return None


HEADLINE_ROWS = (
    # label, phase, key per channel (None: not measured there), format,
    # higher is better
    ("guest -> host MiB/s", "g2h", {"*": "mibs"}, "%.0f", True),
    ("host -> guest MiB/s", "h2g", {"*": "mibs"}, "%.0f", True),
    ("1-byte ping-pong median us", "ping", {"*": "median_us"}, "%.0f",
     False),
    ("connect + close per s", "connrate",
     {"vsock": "rate", "vhost-user": "rate"}, "%.0f", True),
    ("memory per idle connection, B (QEMU's own; + the daemon's)", "idle",
     {"vsock": "own_per_conn", "vhost-user": "device_per_conn"}, "%.0f",
     False),
)


def headline(data, path):
    chans = [c for c in ("vsock",) + OTHERS
             if any(r["channel"] == c for r in data["results"])]
    rows = []
    for label, phase, keys, fmt, higher in HEADLINE_ROWS:
        got = {}
        for ch in chans:
            key = keys.get(ch, keys.get("*"))
            got[ch] = values(data, ch, phase, key) if key else []
        cells = [cell(got[ch], fmt) if got[ch] else
                 stalled(data, ch, phase) or "-" for ch in chans]
        ahead, behind = [], []
        for i, ch in enumerate(chans[1:], 1):
            c = compare(got["vsock"], got[ch], higher)
            if got["vsock"] and cells[i].startswith("stalls"):
                c = "ahead"
            if c == "ahead":
                ahead.append(NAMES[ch])
            elif c == "behind":
                behind.append(NAMES[ch])
        lead = "; ".join(p for p in (
            "ahead of " + ", ".join(ahead) if ahead else "",
            "behind " + ", ".join(behind) if behind else "") if p)
        rows.append([label] + cells + [lead or "no lead: ranges overlap"])
    header = [""] + [NAMES[c] for c in chans] + [
        "vsock-user, where the ranges do not overlap"]
    info = data["info"]
    args = data["args"]
    targets = target_lines(data)
    met = sum(1 for t in targets if t.startswith("- [met]"))
    if args.get("alternate"):
        how = ("%d alternating rounds (A B A B), each in fresh QEMUs: "
               "vsock-user, virtio-serial and slirp in turns in one, "
               "vhost-device-vsock in its own" % args["repeat"])
    else:
        how = ("%d runs of each channel, vsock-user, virtio-serial and "
               "slirp in turns in one QEMU, vhost-device-vsock after them "
               "in its own" % args["repeat"])
    out = ["Run `%s` (%s, device code of %s, %s, guest Linux %s under "
           "TCG): %s; %d MiB per direction in %d-byte writes (slirp %d "
           "MiB); median (min-max):" % (
               os.path.basename(path), info["date"],
               info.get("device_commit") or "tree " + info.get("commit", "?"),
               info["qemu"].replace("QEMU emulator version", "QEMU"),
               info["kernel"], how, args["bytes"] >> 20,
               args["chunk"], args["slirp_bytes"] >> 20), ""]
    out += bench_report.md_table(header, rows)
    out += ["", "Targets: %d of %d met (each one, met or missed, in the "
            "bench docs)." % (met, len(targets))]
    return out


def target_lines(data):
    text = bench_report.report_from_json(data)
    return re.findall(r"^- \[(?:met|MISSED|no data)\] .*$", text, re.M)


# ---- the full report -----------------------------------------------------------

def full(data, path):
    text = bench_report.report_from_json(data)
    out = ["The tables ``make bench`` wrote in run ``%s``, rendered again "
           "from that file::" % os.path.basename(path), ""]
    out += [("  " + line).rstrip() for line in text.splitlines()]
    return out


def links(data, path):
    text = bench_report.links_report(data)
    out = ["The table ``tests/bench/vsock-user-link-bench.py`` wrote in run "
           "``%s`` (%s, device code of %s), rendered again from that file::"
           % (os.path.basename(path), data["info"]["date"],
              data["info"].get("device_commit") or
              "tree " + data["info"]["commit"]), ""]
    out += [("  " + line).rstrip() for line in text.splitlines()]
    return out


def script(name, folder="bench"):
    """A script of tests/FOLDER/ (a file name with dashes) as a module."""
    spec = importlib.util.spec_from_file_location(
        name[:-3].replace("-", "_"), os.path.join(TOP, "tests", folder, name))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def stall(data, path):
    """tests/bench/vsock-user-link-stall.py's table, as a literal block."""
    mod = script("vsock-user-link-stall.py")
    return ["::", ""] + [("    " + line).rstrip()
                         for line in mod.table(data).splitlines()]


def fuzz(data, path):
    """tests/fuzz/fuzz-results.py's table of a fuzzing run."""
    mod = script("fuzz-results.py", "fuzz")
    return ["Figures written %s, commit %s::"
            % (data["info"]["date"], data["info"]["commit"]), ""] + \
        [("    " + line).rstrip() for line in mod.table(data).splitlines()]


def ab(data, path):
    """tests/bench/vsock-user-ab.py's table of an A/B run."""
    return ["The table ``tests/bench/vsock-user-ab.py`` wrote in run "
            "``%s``, rendered again from that file::"
            % os.path.basename(path), ""] + \
        [("    " + line).rstrip()
         for line in script("vsock-user-ab.py").table(data).splitlines()]


def vhost(data, path):
    """tests/bench/vsock-user-vs-vhost.py's table of a run."""
    return ["The table ``tests/bench/vsock-user-vs-vhost.py`` wrote in run "
            "``%s``, rendered again from that file::"
            % os.path.basename(path), ""] + \
        [("    " + line).rstrip()
         for line in
         script("vsock-user-vs-vhost.py").table(data).splitlines()]


RENDER = {"headline": headline, "full": full, "links": links,
          "stall": stall, "fuzz": fuzz, "ab": ab, "vhost": vhost}


# ---- blocks ------------------------------------------------------------------------

def blocks(lines, rst):
    """(kind, results path, first line, end line) of every block."""
    begin = RST_BEGIN if rst else MD_BEGIN
    end = RST_END if rst else MD_END
    found = []
    i = 0
    while i < len(lines):
        m = begin.match(lines[i])
        if m:
            kind, path = m.group(1), m.group(2)
            for j in range(i + 1, len(lines)):
                if lines[j] == end % kind:
                    found.append((kind, path, i, j))
                    i = j
                    break
            else:
                raise ValueError("line %d: '%s' without '%s'" % (
                    i + 1, lines[i], end % kind))
        i += 1
    return found


def body(kind, path, rst):
    if kind not in RENDER:
        raise ValueError("unknown kind '%s'" % kind)
    if not os.path.isfile(os.path.join(TOP, path)):
        raise ValueError("results file %s not found" % path)
    out = RENDER[kind](load(path), path)
    return [""] + out + [""] if rst or kind == "full" else out


def regenerate(text, rst, results=None):
    """text with every block rendered again (from results, if given)."""
    lines = text.split("\n")
    for kind, path, first, last in reversed(blocks(lines, rst)):
        path = results or path
        head = (".. bench_tables.py %s %s" if rst else
                "<!-- bench_tables.py %s %s -->") % (kind, path)
        lines[first:last + 1] = [head] + body(kind, path, rst) + \
            [(RST_END if rst else MD_END) % kind]
    return "\n".join(lines)


def hand_typed(text):
    """Table rows of Markdown outside generated blocks with a figure."""
    lines = text.split("\n")
    inside = set()
    for _, _, first, last in blocks(lines, False):
        inside.update(range(first, last + 1))
    return ["%d: %s" % (i + 1, line) for i, line in enumerate(lines)
            if i not in inside and line.startswith("|") and
            FIGURE_RE.search(line)]


def check_file(path):
    """Problems of one file (empty: its figures are as generated) and the
    number of its blocks."""
    rst = path.endswith(".rst")
    with open(path) as f:
        text = f.read()
    rel = os.path.relpath(path, TOP)
    try:
        new = regenerate(text, rst)
        n = len(blocks(text.split("\n"), rst))
    except ValueError as e:
        return [str(e)], 0
    problems = []
    if not rst:
        problems += ["line %s  (a figure outside a generated block)" % line
                     for line in hand_typed(text)]
    if new != text:
        diff = difflib.unified_diff(
            text.split("\n"), new.split("\n"), rel + " (as committed)",
            rel + " (as generated)", lineterm="", n=1)
        problems.append("figures differ from their results file:\n" +
                        "\n".join(list(diff)[:40]))
    return problems, n


def check(paths):
    """TAP lines, one case per file and one for README.md's headline;
    true if all passed."""
    out = ["1..%d" % (len(paths) + 1)]
    ok = True
    readme_blocks = 0
    for i, p in enumerate(paths, 1):
        problems, n = check_file(p)
        if os.path.basename(p) == "README.md":
            readme_blocks += n
        ok = ok and not problems
        out.append("%s %d %s" % ("not ok" if problems else "ok", i,
                                 os.path.relpath(p, TOP)))
        for prob in problems:
            out += ["# " + line for line in prob.split("\n")]
    out.append("%s %d README.md has a generated headline block" % (
        "ok" if readme_blocks else "not ok", len(paths) + 1))
    return ok and readme_blocks > 0, out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    g = ap.add_mutually_exclusive_group(required=True)
    g.add_argument("--check", action="store_true")
    g.add_argument("--write", action="store_true")
    ap.add_argument("--results", help="with --write: render every block "
                    "from this results file (relative to the top)")
    ap.add_argument("files", nargs="*", help="default: README.md and "
                    "docs/**/*.rst")
    args = ap.parse_args()
    paths = [os.path.abspath(p) for p in args.files] or files()
    if args.write:
        for p in paths:
            with open(p) as f:
                text = f.read()
            new = regenerate(text, p.endswith(".rst"), args.results)
            if new != text:
                with open(p, "w") as f:
                    f.write(new)
                print("bench_tables: wrote %s" % os.path.relpath(p, TOP))
        return 0
    ok, out = check(paths)
    print("\n".join(out))
    if not ok:
        print("# scripts/bench_tables.py --write renders the blocks from "
              "their results files again")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
