"""The tables of make bench: the results of one run (vsock-user-bench.py),
with the engine micro-benchmark and the machine, as Markdown.
"""

import datetime
import os
import platform
import re
import statistics
import subprocess
import types

import bench_scale
import bench_vhost_user
from bench_common import ENGINE_BENCH, ROOT, GiB, MiB, NAMES

def per_mib(r, key):
    if r.get(key) is None:
        return "?"
    return "%.1f" % (r[key] * MiB / r["bytes"])


# ---- report -------------------------------------------------------------------

def agg(values, fmt):
    values = [v for v in values if v is not None]
    if not values:
        return "n/a"
    med = statistics.median(values)
    if len(values) == 1:
        return fmt % med
    return (fmt + " (" + fmt + "-" + fmt + ")") % (med, min(values),
                                                    max(values))


def med(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def ratio(a, b):
    if a is None or b is None or b == 0:
        return "n/a"
    return "%.2fx" % (a / b)


def engine_bench():
    if not os.access(ENGINE_BENCH, os.X_OK):
        return None, "engine micro-benchmark not built (make unit)"
    p = subprocess.run([ENGINE_BENCH], capture_output=True, text=True,
                       timeout=600)
    out = p.stdout.strip()
    vals = {}
    for key, pat in (("g2h", r"guest->host.*?([0-9.]+) MiB/s"),
                     ("h2g", r"host->guest.*?([0-9.]+) MiB/s"),
                     ("memcpy", r"memcpy.*?([0-9.]+) MiB/s")):
        m = re.search(pat, out)
        if m:
            vals[key] = float(m.group(1))
    return vals, out


DEVICE_PATHS = ("hw", "include", "chardev", "qapi", "subprojects")


def git(*a):
    """git's answer in this checkout; "" where there is no git or no
    repository (a copied tree, a fresh root without the git package)."""
    try:
        return subprocess.run(["git", "-C", ROOT] + list(a),
                              capture_output=True, text=True).stdout.strip()
    except OSError:
        return ""


def source_commit():
    """The commit the measured tree was built from, "+dirty" if its device
    code had uncommitted changes."""
    head = git("rev-parse", "--short=12", "HEAD")
    if not head:
        return "?"
    return head + ("+dirty" if git("status", "--porcelain", "--",
                                   *DEVICE_PATHS) else "")


def device_commit():
    """The last commit that changed the device code (what the figures
    measure): it stays the same across a rebase of later commits that
    touch only tests or docs, as HEAD does not."""
    return git("log", "-1", "--format=%h", "--abbrev=12", "--",
               *DEVICE_PATHS) or "?"


def results_json(bench, args, info, engine):
    """Everything report() needs, so that the tables can be rendered again
    from the file alone (scripts/bench_tables.py)."""
    opts = {k: v for k, v in vars(args).items()
            if isinstance(v, (int, float, str, list, bool, type(None)))}
    for k, v in opts.items():      # paths of this checkout: relative
        if isinstance(v, str) and v.startswith(ROOT + os.sep):
            opts[k] = os.path.relpath(v, ROOT)
    pinned = [sorted(s) for s in bench.pinned] if bench.pinned else None
    vals, out = engine
    return {"info": info, "args": opts, "pinned": pinned,
            "engine": {"vals": vals, "out": out},
            "results": bench.results, "stalls": bench.stalls,
            "extra": bench.extra}


def report_from_json(data):
    """report() of a results file written by results_json()."""
    bench = types.SimpleNamespace(
        results=data["results"], stalls=data["stalls"],
        extra=data.get("extra", {}),
        pinned=[set(s) for s in data["pinned"]] if data.get("pinned")
        else None)
    args = types.SimpleNamespace(**data["args"])
    eng = data.get("engine") or {}
    return report(bench, args, data["info"], (eng.get("vals"),
                                              eng.get("out", "")))


def machine_info(qemu, console):
    ver = subprocess.run([qemu, "--version"], capture_output=True,
                         text=True).stdout.splitlines()
    kernel = "?"
    try:
        with open(console, errors="replace") as f:
            m = re.search(r"Linux version (\S+)", f.read())
            if m:
                kernel = m.group(1)
    except OSError:
        pass
    cpu = "?"
    try:
        with open("/proc/cpuinfo") as f:
            m = re.search(r"^model name\s*:\s*(.*)$", f.read(), re.M)
            if m:
                cpu = m.group(1)
    except OSError:
        pass
    return {"date": datetime.datetime.now().strftime("%Y-%m-%d %H:%M"),
            "commit": source_commit(),
            "device_commit": device_commit(),
            "qemu": ver[0] if ver else "?", "kernel": kernel,
            "host": "%s %s, %d CPUs (%s), load %.2f" % (
                platform.system(), platform.release(), os.cpu_count(), cpu,
                os.getloadavg()[0])}


def report(bench, args, info, engine):
    res = bench.results
    chans = args.channels

    def vals(ch, phase, key):
        return [r[key] for r in res if r["channel"] == ch and
                r["phase"] == phase]

    def per_gib(r, key):
        return r[key] * GiB / r["bytes"]

    def gib_vals(ch, phase, key):
        return [per_gib(r, key) for r in res if r["channel"] == ch and
                r["phase"] == phase]

    rows = []
    targets = []

    others = [c for c in ("serial", "slirp", "vhost-user") if c in chans]

    def row(label, fmt, getter, ratios=True, phase=None):
        cells = [agg(getter(ch), fmt) for ch in chans]
        for i, ch in enumerate(chans):
            st = stall_of(bench.stalls, ch, phase)
            if cells[i] == "n/a" and st:
                cells[i] = st
        meds = {ch: med(getter(ch)) for ch in chans}
        rs = []
        if ratios and "vsock" in chans:
            for other in others:
                rs.append(ratio(meds["vsock"], meds[other]))
        elif "vsock" in chans:
            rs = [""] * len(others)
        rows.append([label] + cells + rs)
        return meds

    g2h = row("guest->host MiB/s", "%.1f", lambda c: vals(c, "g2h", "mibs"),
              phase="g2h")
    h2g = row("host->guest MiB/s", "%.1f", lambda c: vals(c, "h2g", "mibs"),
              phase="h2g")
    pmed = row("ping-pong median us", "%.0f",
               lambda c: vals(c, "ping", "median_us"), phase="ping")
    row("ping-pong p99 us", "%.0f", lambda c: vals(c, "ping", "p99_us"))
    row("ping-pong guest interrupts per round", "%.2f",
        lambda c: [r["irqs"] / r["rounds"] for r in res
                   if r["channel"] == c and r["phase"] == "ping"
                   and r.get("irqs") is not None])
    for key, what in (("main", "main-loop"), ("vcpu", "vCPU thread")):
        row("ping-pong %s CPU us per round" % what, "%.1f",
            lambda c, k=key: [r[k] / r["rounds"] * 1e6 for r in res
                              if r["channel"] == c and
                              r["phase"] == "ping"])
    for phase, what in (("g2h", "guest->host"), ("h2g", "host->guest")):
        row("guest interrupts per MiB %s" % what, "%.1f",
            lambda c, p=phase: [r["irqs"] * MiB / r["bytes"] for r in res
                                if r["channel"] == c and r["phase"] == p
                                and r.get("irqs") is not None])
    for phase, what in (("g2h", "guest->host"), ("h2g", "host->guest")):
        row("main-loop CPU s/GiB %s" % what, "%.2f",
            lambda c, p=phase: gib_vals(c, p, "main"))
        row("vCPU thread CPU s/GiB %s" % what, "%.2f",
            lambda c, p=phase: gib_vals(c, p, "vcpu"))
        row("QEMU total CPU s/GiB %s" % what, "%.2f",
            lambda c, p=phase: gib_vals(c, p, "total"))

    only = [r for r in res if r["channel"] == "vsock"]
    rate = [r["rate"] for r in only if r["phase"] == "connrate"]
    idle = [r for r in only if r["phase"] == "idle"]
    extra = []
    if rate:
        extra.append(["vsock connect+close per s (%d per run)" % args.conns,
                      agg(rate, "%.0f")])
    # the first run in each QEMU is the honest figure: later runs in the
    # same QEMU reuse the heap the first one grew
    fresh = [r for r in idle if r.get("rep", 0) == 0]
    reused = [r for r in idle if r.get("rep", 0) != 0]
    if fresh:
        def idle_row(label, key):
            extra.append([label, agg([r[key] for r in fresh], "%.0f")])
        idle_row("vsock idle connections (%d), first run in its QEMU, "
                 "B/conn: VmRSS delta" % args.idle, "vmrss_per_conn")
        idle_row("  of which guest RAM touched by the guest kernel",
                 "guest_ram_per_conn")
        idle_row("  of which TCG translated code", "tcg_per_conn")
        idle_row("  QEMU's own memory (VmRSS - guest RAM - TCG code)",
                 "own_per_conn")
        idle_row("  QEMU's own memory left after closing them",
                 "own_after_release")
    if reused:
        extra.append(["  QEMU's own memory, later runs in the same QEMU "
                      "(heap reuse)",
                      agg([r["own_per_conn"] for r in reused], "%.0f")])

    def target(name, ok, detail):
        # every target is reported: met, missed, or without the figures
        # it needs in this run (a channel or phase not measured)
        state = "no data" if ok is None else "met" if ok else "MISSED"
        targets.append("- [%s] %s: %s" % (state, name, detail))

    def have(d, *keys):
        return all(d.get(k) is not None for k in keys)

    def check(name, needs, test, detail):
        if all(have(d, *keys) for d, keys in needs):
            target(name, test(), detail())
        else:
            target(name, None, "not measured in this run")

    check("guest->host >= virtio-serial", [(g2h, ("vsock", "serial"))],
          lambda: g2h["vsock"] >= g2h["serial"],
          lambda: "%.1f vs %.1f MiB/s" % (g2h["vsock"], g2h["serial"]))
    check("guest->host >= 20x slirp", [(g2h, ("vsock", "slirp"))],
          lambda: g2h["vsock"] >= 20 * g2h["slirp"],
          lambda: "%.1fx" % (g2h["vsock"] / g2h["slirp"]))
    check("host->guest >= half of guest->host",
          [(g2h, ("vsock",)), (h2g, ("vsock",))],
          lambda: h2g["vsock"] >= g2h["vsock"] / 2,
          lambda: "%.1f vs %.1f MiB/s" % (h2g["vsock"], g2h["vsock"]))
    check("median ping-pong <= virtio-serial", [(pmed, ("vsock", "serial"))],
          lambda: pmed["vsock"] <= pmed["serial"],
          lambda: "%.0f vs %.0f us" % (pmed["vsock"], pmed["serial"]))
    if fresh:
        own = med([r["own_per_conn"] for r in fresh])
        target("< 4 KiB of QEMU memory per idle connection", own < 4096,
               "%.0f B/conn of QEMU's own memory, first run in its QEMU "
               "(the whole VmRSS delta, with guest RAM and TCG code: %.0f "
               "B/conn)" % (own, med([r["vmrss_per_conn"] for r in fresh])))
    else:
        target("< 4 KiB of QEMU memory per idle connection", None,
               "not measured in this run")
    check("host->guest >= 0.9x virtio-serial", [(h2g, ("vsock", "serial"))],
          lambda: h2g["vsock"] >= 0.9 * h2g["serial"],
          lambda: "%.2fx" % (h2g["vsock"] / h2g["serial"]))
    check("median ping-pong <= 1.2x virtio-serial",
          [(pmed, ("vsock", "serial"))],
          lambda: pmed["vsock"] <= 1.2 * pmed["serial"],
          lambda: "%.2fx" % (pmed["vsock"] / pmed["serial"]))
    targets += bench_scale.targets(res, target)

    header = ["", ] + [NAMES[c] for c in chans]
    if "vsock" in chans:
        header += ["vsock/" + {"vhost-user": "vhost"}.get(c, c)
                   for c in others]
    lines = []
    lines.append("# virtio-vsock-user benchmark, %s" % info["date"])
    lines.append("")
    lines.append("- %s; guest kernel %s; TCG, microvm acpi=off, -smp 1, "
                 "-m %s" % (info["qemu"], info["kernel"], args.mem))
    lines.append("- host: %s" % info["host"])
    lines.append("- measured tree: %s; device code of %s" % (
        info.get("commit", "?"), info.get("device_commit", "?")))
    if bench.pinned:
        lines.append("- pinned: vCPU thread on CPU %s; QEMU's other threads "
                     "and the host peers on CPU %s" % (
                         ",".join(map(str, sorted(bench.pinned[0]))),
                         ",".join(map(str, sorted(bench.pinned[1])))))
    else:
        lines.append("- not pinned: threads float over the host's CPUs")
    if getattr(args, "alternate", False):
        runs = ("%d alternating rounds, each in fresh QEMUs: vsock-user, "
                "virtio-serial and slirp in turns in one, then "
                "vhost-device-vsock in its own (A B A B)" % args.repeat)
    else:
        runs = "%d run(s) in one QEMU process" % args.repeat
    lines.append("- %s; median (min-max). "
                 "Throughput: %d MiB per direction (slirp: %d MiB) in "
                 "%d-byte writes; ping-pong: %d rounds of 1 byte"
                 % (runs, args.bytes // MiB, args.slirp_bytes // MiB,
                    args.chunk, args.rounds))
    lines.append("- CPU: time on CPU (user+system, /proc/PID/task/TID/"
                 "schedstat) of QEMU's main-loop thread (tid == pid), its "
                 "vCPU thread and all its threads, per GiB moved")
    lines.append("")
    lines += md_table(header, rows)
    lines.append("")
    if extra:
        lines += md_table(["vsock only", ""], extra)
        lines.append("")
    lines += bench_vhost_user.report_lines(bench, args, md_table, agg, med,
                                           ratio, stall_of)
    lines += bench_scale.report_lines(bench, args, md_table, stall_of)
    if targets:
        lines.append("Targets:")
        lines.append("")
        lines += targets
        lines.append("")
    lines.append("Engine micro-benchmark "
                 "(build/qemu/tests/bench/vsock-user-engine-bench, "
                 "no QEMU, no guest):")
    lines.append("")
    vals, out = engine
    if vals and "memcpy" in vals:
        lines += md_table(
            ["", "MiB/s", "ratio to memcpy"],
            [["engine guest->host (null endpoint)", "%.0f" % vals["g2h"],
              "%.2fx" % (vals["g2h"] / vals["memcpy"])],
             ["engine host->guest (copy into rx)", "%.0f" % vals["h2g"],
              "%.2fx" % (vals["h2g"] / vals["memcpy"])],
             ["memcpy of the same bytes", "%.0f" % vals["memcpy"], "1.00x"]])
    else:
        lines.append("    " + out.replace("\n", "\n    "))
    return "\n".join(lines) + "\n"


def links_report(data):
    """vsock-user-link-bench.py's table, from the figures it records
    (--json), so that scripts/bench_tables.py renders it again."""
    args = data["args"]

    def mib(g):
        return g * 1000 / 8 / 1.048576

    def cell(pair):
        return "%.0f / %.0f" % (mib(pair[0]), mib(pair[1])) \
            if pair and pair[0] and pair[1] else None

    lines = ["vsock_perf between two TCG guests (microvm, vsock buffer %d "
             "KiB): linked virtio-vsock-user devices (unix link) against "
             "sibling VMs of one vhost-device-vsock %s (%.0f s in all)" %
             (args["vsk_size"] >> 10, data["version"] if data["daemon"]
              else "(not run: %s)" % data["version"], data["elapsed"]), "",
             "| direction | writes | vsock-user sender / receiver MiB/s | "
             "vhost-device-vsock siblings sender / receiver MiB/s | "
             "receiver ours / theirs |",
             "| --- | --- | --- | --- | --- |"]
    for r in data["rows"]:
        ours, theirs = r["ours"], r["theirs"]
        if not data["daemon"]:
            their = "not run"
        elif cell(theirs):
            their = cell(theirs)
        else:
            their = "stalls: nothing in %d s (QEMU exit %s)" % (
                args["vhost_timeout"], r["status"])
        ratio = "%.2fx" % (ours[1] / theirs[1]) \
            if cell(ours) and cell(theirs) else "-"
        lines.append("| %s | %s | %s | %s | %s |" % (
            r["direction"], r["writes"], cell(ours) or "-", their, ratio))
    if data.get("rr"):
        lines += [""] + rr_report(data["rr"])
    return "\n".join(lines) + "\n"


# A TCP link's request/response round against a Unix link's
RR_TCP_TARGET = 1.2


def rr_report(rr):
    """The request/response table of vsock-user-link-bench.py: each link
    kind's runs, median (min-max) of their average round, and TCP against
    Unix with the target."""
    avg = {t: [r["result"]["avg_ms"] for r in rr["runs"]
               if r["transport"] == t and r["result"]]
           for t in ("unix", "tcp")}
    worst = {t: [r["result"]["max_ms"] for r in rr["runs"]
                 if r["transport"] == t and r["result"]]
             for t in ("unix", "tcp")}
    runs = {t: sum(1 for r in rr["runs"] if r["transport"] == t)
            for t in ("unix", "tcp")}
    lines = ["Request/response rounds between the same two guests "
             "(vsock-rr, %d rounds of %d bytes per run, a connection per "
             "round), runs alternating between a unix and a TCP "
             "(127.0.0.1) link:" % (rr["rounds"], rr["size"]), "",
             "| link | runs completed | ms per round, median (min-max) of "
             "the runs' averages | longest round, ms | vs unix |",
             "| --- | --- | --- | --- | --- |"]
    med = {t: statistics.median(v) if v else None for t, v in avg.items()}
    for t, label in (("unix", "unix"), ("tcp", "TCP 127.0.0.1")):
        cell = spread_ms(avg[t])
        ratio = "%.2fx" % (med[t] / med["unix"]) \
            if med[t] and med["unix"] else "-"
        lines.append("| %s | %d of %d | %s | %s | %s |" % (
            label, len(avg[t]), runs[t], cell or "-",
            "%.1f" % max(worst[t]) if worst[t] else "-",
            ratio if t == "tcp" else ""))
    if med["tcp"] and med["unix"]:
        r = med["tcp"] / med["unix"]
        lines += ["", "Target: a TCP link within %.1fx of a unix link: %.2fx, "
                  "%s." % (RR_TCP_TARGET, r,
                           "met" if r <= RR_TCP_TARGET else "missed")]
    else:
        lines += ["", "Target: a TCP link within %.1fx of a unix link: not "
                  "measured (a run failed)." % RR_TCP_TARGET]
    return lines


def spread_ms(values):
    if not values:
        return None
    med = statistics.median(values)
    if len(values) == 1:
        return "%.2f" % med
    return "%.2f (%.2f-%.2f)" % (med, min(values), max(values))


def stall_of(stalls, ch, phase):
    """"stalls at N of M B" for CH's PHASE, if it stalled."""
    for st in stalls:
        if st["channel"] == ch and st["phase"] == phase:
            if st.get("got") is not None:
                return "stalls at %d of %d B" % (st["got"], st["want"])
            return "failed: " + st["error"].splitlines()[0][:60]
    return None


def md_table(header, rows):
    widths = [max(len(str(r[i])) for r in [header] + rows)
              for i in range(len(header))]
    out = ["| " + " | ".join(str(h).ljust(w) for h, w in
                             zip(header, widths)) + " |",
           "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    for r in rows:
        out.append("| " + " | ".join(str(c).ljust(w) for c, w in
                                     zip(r, widths)) + " |")
    return out
