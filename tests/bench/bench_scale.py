"""make bench --scale: how vsock-user (and vhost-device-vsock) scale.

Each device gets a QEMU of its own (the same kernel, initramfs and command
line as the main run; only the vsock device, ours with max-connections
raised to --max-connections), and, in this order:

  pps-1      --pps-writes writes of --pps-size bytes guest->host on one
             connection, after one such run not recorded: writes (and, for
             ours, device packets) per second
  ping-1     --rounds 1-byte ping-pongs on it
  streams    aggregate guest->host and host->guest throughput with each of
             --scale-streams concurrent connections (the guest multiplexes
             them with poll()), at each of --sizes
  idle-N     for each of --scale-idle: N idle connections at once; memory
             per connection (ours: QEMU's own, without guest RAM and TCG
             code; theirs: the daemon's VmRSS) and the connect() latency
             of the first and of the last 100, timed in the guest
  pps-N, ping-N
             pps-1 and ping-1 again while the largest N are still open: a
             per-packet cost that grows with the connection count shows up
             as a lower rate

pps, ping and streams run --repeat times each and the tables give their
median (the idle phases run once).  A phase that makes no progress for
--stall-timeout seconds is recorded as a stall and QEMU restarted; a
stalled streams direction and size is not tried with more streams.
"""

import os
import selectors
import socket
import statistics
import time

import bench_vhost_user
from bench_common import lead_of, spread

MiB = 1024 * 1024


def int_list(s):
    return [int(x) for x in s.split(",") if x]


def add_arguments(ap, size_arg):
    ap.add_argument("--scale", action="store_true", default=True,
                    help="run the scale phases (default)")
    ap.add_argument("--no-scale", dest="scale", action="store_false",
                    help="skip them")
    ap.add_argument("--scale-streams", type=int_list, default=[1, 8, 64],
                    help="concurrent stream counts (default 1,8,64)")
    ap.add_argument("--scale-idle", type=int_list, default=[1000, 10000],
                    help="idle connection counts (default 1000,10000)")
    ap.add_argument("--scale-bytes", type=size_arg, default=64 * MiB,
                    help="bytes per direction per stream count, over all "
                    "streams (default 64M)")
    ap.add_argument("--pps-writes", type=int, default=60000,
                    help="writes of the packets-per-second phases "
                    "(default 60000)")
    ap.add_argument("--pps-size", type=int, default=64,
                    help="their size (default 64)")
    ap.add_argument("--max-connections", type=int, default=16384,
                    help="our device's max-connections in the scale run "
                    "(default 16384)")


def accept_n(b, listener, n):
    listener.settimeout(b.args.timeout)
    socks = []
    try:
        while len(socks) < n:
            s, _ = listener.accept()
            s.setblocking(False)
            socks.append(s)
    except socket.timeout:
        for s in socks:
            s.close()
        raise b.Stall("accept", len(socks), n)
    return socks


def streams(b, drv, ch, direction, n, nbytes, chunk, rep=0):
    """One streams phase; returns its record or raises Stall."""
    name = "streams-%s-%d-%d" % (direction, chunk, n)
    k0 = b.counters(ch)
    perf = b.perf_start("%s-%s" % (ch, name)) if rep == 0 else None
    c0 = b.cpu_snap()
    b.send_cmd("streams %s %d %d %d %d %d" % (
        "send" if direction == "g2h" else "recv", drv.PARENT_CID,
        bench_vhost_user.STREAMS_PORT, n, nbytes, chunk))
    socks = accept_n(b, b.l_streams, n)
    sel = selectors.DefaultSelector()
    moved = 0
    try:
        if direction == "g2h":
            for s in socks:
                sel.register(s, selectors.EVENT_READ)
            buf = b.buf
            while moved < nbytes:
                ready = sel.select(timeout=b.args.timeout)
                if not ready:
                    raise b.Stall("receive", moved, nbytes)
                for key, _ in ready:
                    try:
                        got = key.fileobj.recv_into(buf)
                    except BlockingIOError:
                        continue
                    if not got:
                        # a stream the guest is done with
                        sel.unregister(key.fileobj)
                        if not sel.get_map():
                            raise drv.BenchError(
                                "streams EOF after %d of %d"
                                % (moved, nbytes))
                        continue
                    moved += got
        else:
            # the guest's shares: stream i gets nbytes // n, the first
            # nbytes % n one more (it connects them in this order)
            left = {s: nbytes // n + (i < nbytes % n)
                    for i, s in enumerate(socks)}
            for s in socks:
                if left[s]:
                    sel.register(s, selectors.EVENT_WRITE)
            while moved < nbytes:
                ready = sel.select(timeout=b.args.timeout)
                if not ready:
                    raise b.Stall("send", moved, nbytes)
                for key, _ in ready:
                    s = key.fileobj
                    try:
                        sent = s.send(b.zeros[:min(left[s], chunk)])
                    except BlockingIOError:
                        continue
                    left[s] -= sent
                    moved += sent
                    if not left[s]:
                        sel.unregister(s)
            for s in socks:
                s.settimeout(b.args.timeout)
                try:
                    ack = s.recv(1)
                except socket.timeout:
                    raise b.Stall("acknowledgement", moved, nbytes)
                if ack != b"A":
                    raise drv.BenchError("bad acknowledgement %r" % ack)
        cpu = b.cpu_snap().minus(c0)
    finally:
        sel.close()
        b.perf_stop(perf)
    gms = b.read_reply()
    for s in socks:
        s.close()
    k = b.counter_delta(b.counters(ch), k0)
    return b.record(rep, ch, name, cpu, streams=n, bytes=nbytes, chunk=chunk,
                    direction=direction, mibs=nbytes / MiB / cpu["wall"],
                    guest_ms=gms, **k)


def idle(b, drv, ch, n, keep):
    """N idle connections; memory per connection and connect latency.
    With KEEP they stay open (returned) for the pps phases after it."""
    time.sleep(0.5)
    ours = ch == "vsock"
    base = b.qmp.stat("connections") if ours else 0
    d0 = bench_vhost_user.proc_rss(b.dproc.pid) if b.dproc else 0
    m0 = drv.memory(b.pid, "/memfd:")
    c0 = b.cpu_snap()
    b.send_cmd("idle %d %d %d" % (drv.PARENT_CID, drv.IDLE_PORT, n))
    # serve_conns' deadline is for all N: allow 20 ms per connection
    timeout = b.args.timeout
    b.args.timeout = max(timeout, n // 50)
    try:
        socks, gms, _ = b.serve_conns(b.l_idle, n, False)
    finally:
        b.args.timeout = timeout
    cpu = b.cpu_snap().minus(c0)
    lat = bench_vhost_user.parse_latency(b.last_reply, cpu["wall"])
    conns = b.wait_conns(base + n) - base if ours else len(socks)
    time.sleep(0.5)
    d1 = bench_vhost_user.proc_rss(b.dproc.pid) if b.dproc else 0
    m1 = drv.memory(b.pid, "/memfd:")
    if conns != n:
        raise drv.BenchError("idle: the device reports %d connections, "
                             "wanted %d" % (conns, n))
    r = b.record(0, ch, "idle-%d" % n, cpu, conns=n, guest_ms=gms,
                 rate=n / cpu["wall"],
                 own_per_conn=(m1["own"] - m0["own"]) / n,
                 device_per_conn=(m1["own"] - m0["own"] + d1 - d0) / n,
                 vmrss_per_conn=(m1["vmrss"] - m0["vmrss"]) / n,
                 daemon_per_conn=(d1 - d0) / n if b.dproc else None,
                 **lat)
    if keep:
        return r, (socks, base)
    release(b, (socks, base))
    return r, None


def release(b, held):
    socks, base = held
    b.command("release")
    for s in socks:
        s.close()
    if b.ch == "vsock":
        b.wait_conns(base)


def pps(b, drv, ch, nconn):
    """--repeat pps and ping runs on one connection."""
    a = b.args
    nbytes = a.pps_writes * a.pps_size
    sock = b.open_channel(ch)
    # a first run, not recorded: right after the guest booted (pps-1) or
    # opened its idle connections, the first one ran at half the rate
    b.g2h(0, ch, sock, nbytes, chunk=a.pps_size, phase="pps-warm-up")
    b.results.pop()
    out = []
    for rep in range(a.repeat):
        r = b.g2h(rep, ch, sock, nbytes, chunk=a.pps_size,
                  phase="pps-%d" % nconn)
        r["writes_per_s"] = a.pps_writes / r["wall"]
        # the device's own CPU per write: QEMU's main loop (+ the daemon)
        r["device_us_per_write"] = (r["main"] + (r.get("daemon") or 0)) \
            * 1e6 / a.pps_writes
        if r.get("pkts_to_host") is not None:
            r["pkts_per_s"] = r["pkts_to_host"] / r["wall"]
        p = b.ping(rep, ch, sock, a.rounds)
        p["phase"] = "ping-%d" % nconn
        out += [r, p]
    b.close_channel(ch, sock)
    return tuple(out)


def run_one(b, drv, ch):
    a = b.args
    stalled = set()
    b.start_qemu()
    drv.log("# scale %s: guest up (QEMU pid %d)" % (ch, b.pid))

    def note(r):
        if r is None:
            return
        for rec in r if isinstance(r, tuple) else (r,):
            if isinstance(rec, dict):
                drv.log("scale %s %s: %s" % (ch, rec["phase"], brief(rec)))

    note(b.phase(0, "pps-1", lambda: pps(b, drv, ch, 1), stalled))
    for size in a.sizes:
        for d in ("g2h", "h2g"):
            for n in a.scale_streams:
                key = "streams-%s-%d" % (d, size)
                for rep in range(a.repeat):
                    if key in stalled:
                        break
                    r = b.phase(rep, key, lambda: streams(
                        b, drv, ch, d, n, a.scale_bytes, size, rep),
                        stalled)
                    if r is None:
                        # record which stream count stalled
                        b.stalls[-1]["phase"] = "%s-%d" % (key, n)
                        break
                    note(r)
    held = None
    for i, n in enumerate(a.scale_idle):
        last = i == len(a.scale_idle) - 1
        r = b.phase(0, "idle-%d" % n,
                    lambda: idle(b, drv, ch, n, last), stalled)
        if r:
            note(r[0])
            held = (n, r[1])
    if held and held[1] is not None:
        n, kept = held
        note(b.phase(0, "pps-%d" % n, lambda: pps(b, drv, ch, n), stalled))
        if "pps-%d" % n not in stalled:
            release(b, kept)


def brief(r):
    if r["phase"].startswith("idle"):
        return ("%d conns at %.0f/s, %s %.0f B/conn; connect median first "
                "100 %.0f us, last 100 %.0f us" % (
                    r["conns"], r["rate"],
                    "daemon VmRSS" if r.get("daemon_per_conn") is not None
                    else "QEMU's own", r["daemon_per_conn"]
                    if r.get("daemon_per_conn") is not None
                    else r["own_per_conn"],
                    r.get("first_med_us", 0), r.get("last_med_us", 0)))
    if r["phase"].startswith("ping"):
        return "median %.1f us, %.0f rounds/s" % (
            r["median_us"], r["rounds"] / r["wall"])
    if r["phase"].startswith("pps"):
        return "%.0f writes/s%s" % (
            r["writes_per_s"], ", %.0f device packets/s" % r["pkts_per_s"]
            if r.get("pkts_per_s") else "")
    return "%.1f MiB/s" % r["mibs"]


def run(drv, args, tmp_root):
    classes = None
    out = {"results": [], "stalls": []}
    for ch in ("vsock", "vhost-user"):
        if ch not in args.channels:
            continue
        a = drv.argparse.Namespace(**vars(args))
        a.timeout = args.stall_timeout
        tmp = os.path.join(tmp_root, "scale-" + ch)
        os.makedirs(tmp, exist_ok=True)
        classes = classes or bench_vhost_user.bind(drv)
        if ch == "vsock":
            b = classes.VsockBench(a, tmp)
        else:
            path, ver = bench_vhost_user.find_daemon(args.fetch)
            if path is None:
                drv.log("# scale %s skipped: %s" % (ch, ver))
                continue
            b = classes.VhostBench(a, tmp, path)
        b.Stall = drv.Stall
        try:
            run_one(b, drv, ch)
        finally:
            b.stop_qemu()
        out["results"] += b.results
        out["stalls"] += b.stalls
    return out


def _get(res, ch, phase, key):
    """The median of the runs of PHASE."""
    v = [r[key] for r in res if r["channel"] == ch and
         r["phase"] == phase and r.get(key) is not None]
    return statistics.median(v) if v else None


def report_lines(bench, args, md_table, stall_of):
    res = bench.results
    chans = [c for c in ("vsock", "vhost-user") if c in args.channels]
    if not args.scale or not any(r["phase"].startswith("idle-") or
                                 r["phase"].startswith("streams-")
                                 for r in res):
        return []
    rows = []

    def runs(ch, phase, key):
        return [r[key] for r in res if r["channel"] == ch and
                r["phase"] == phase and r.get(key) is not None]

    def row(label, phase, key, fmt, higher=True):
        v = [_get(res, ch, phase, key) for ch in chans]
        cells = [spread(runs(ch, phase, key), fmt) or
                 (stall_of(bench.stalls, ch, phase) or "n/a")
                 for ch in chans]
        if len(chans) == 2:
            a, b = v
            if a is not None and b is not None and b > 0:
                cells.append("%.2fx" % (a / b))
                cells.append(lead_of(runs("vsock", phase, key),
                                     runs("vhost-user", phase, key), higher))
            else:
                cells.append("n/a")
                cells.append("ours (theirs stalls)"
                             if a is not None and cells[1].startswith(
                                 "stalls") else "")
        rows.append([label] + cells)

    for size in args.sizes:
        for d, what in (("g2h", "guest->host"), ("h2g", "host->guest")):
            for n in args.scale_streams:
                phase = "streams-%s-%d-%d" % (d, size, n)
                row("%s MiB/s, %d stream(s), %d-byte writes" % (what, n,
                                                                  size),
                    phase, "mibs", "%.1f")
    for n in args.scale_idle:
        p = "idle-%d" % n
        row("%d idle: connections set up per s" % n, p, "rate", "%.0f")
        row("%d idle: B/conn, QEMU's own memory (+ the daemon's VmRSS)"
            % n, p, "device_per_conn", "%.0f", higher=False)
        row("%d idle: connect() median us, first 100" % n, p,
            "first_med_us", "%.0f", higher=False)
        row("%d idle: connect() median us, last 100" % n, p, "last_med_us",
            "%.0f", higher=False)
        row("%d idle: connect() max us, last 100" % n, p, "last_max_us",
            "%.0f", higher=False)
    top = args.scale_idle[-1] if args.scale_idle else None
    for n in [1] + ([top] if top else []):
        row("%d-byte writes per s, %d open connection(s)" % (args.pps_size,
                                                            n),
            "pps-%d" % n, "writes_per_s", "%.0f")
        row("device packets per s to host, %d open connection(s)" % n,
            "pps-%d" % n, "pkts_per_s", "%.0f")
        row("device CPU us per write (main loop + daemon), %d open "
            "connection(s)" % n, "pps-%d" % n, "device_us_per_write",
            "%.2f", higher=False)
        row("ping-pong median us, %d open connection(s)" % n,
            "ping-%d" % n, "median_us", "%.0f", higher=False)
    header = ["scale"] + [{"vsock": "vsock-user",
                           "vhost-user": "vhost-device-vsock"}[c]
                          for c in chans]
    if len(chans) == 2:
        header += ["vsock/vhost", "lead"]
    out = ["Scale (each device in a QEMU of its own, vsock-user with "
           "max-connections=%d; %d MiB per direction over all streams; "
           "connect() times counted in the guest's TSC, converted with "
           "the host's clock):"
           % (args.max_connections, args.scale_bytes // MiB), ""]
    out += md_table(header, rows)
    out.append("")
    return out


def targets(res, target):
    """Scale targets of our device (vsock-user's figures only); each one is
    reported, without figures ("no data") when the run lacks them."""
    idle = sorted((int(r["phase"].split("-")[1]), r) for r in res
                  if r["channel"] == "vsock" and
                  r["phase"].startswith("idle-"))
    none = "not measured in this run"
    if not idle:
        for name in ("idle connections < 1 KiB of QEMU memory each",
                     "the last 100 idle connects as fast as the first 100",
                     "packets per s with N open connections >= 0.8x with 1",
                     "device CPU per packet with N open connections <= "
                     "1.25x with 1"):
            target(name, None, none)
        return []
    n, r = idle[-1]
    target("%d idle connections < 1 KiB of QEMU memory each" % n,
           r["own_per_conn"] < 1024,
           "%.0f B/conn of QEMU's own memory (VmRSS delta %.0f B/conn)"
           % (r["own_per_conn"], r["vmrss_per_conn"]))
    name = "the last 100 of %d connect as fast as the first 100 " \
        "(median within 1.5x)" % n
    if r.get("first_med_us") and r.get("last_med_us"):
        target(name, r["last_med_us"] <= 1.5 * r["first_med_us"],
               "%.0f vs %.0f us" % (r["last_med_us"], r["first_med_us"]))
    else:
        target(name, None, none)
    p1 = _get(res, "vsock", "pps-1", "writes_per_s")
    pn = _get(res, "vsock", "pps-%d" % n, "writes_per_s")
    name = "packets per s with %d open connections >= 0.8x with 1" % n
    if p1 and pn:
        target(name, pn >= 0.8 * p1, "%.0f vs %.0f writes/s" % (pn, p1))
    else:
        target(name, None, none)
    c1 = _get(res, "vsock", "pps-1", "device_us_per_write")
    cn = _get(res, "vsock", "pps-%d" % n, "device_us_per_write")
    name = "device CPU per packet with %d open connections <= 1.25x with 1" \
        % n
    if c1 and cn:
        # the rate above follows the guest's vCPU, whose CPU time per
        # write varies by half from run to run here; this is the device's
        target(name, cn <= 1.25 * c1, "%.2f vs %.2f us per write" % (cn, c1))
    else:
        target(name, None, none)
    return []
    n, r = idle[-1]
    target("%d idle connections < 1 KiB of QEMU memory each" % n,
           r["own_per_conn"] < 1024,
           "%.0f B/conn of QEMU's own memory (VmRSS delta %.0f B/conn)"
           % (r["own_per_conn"], r["vmrss_per_conn"]))
    if r.get("first_med_us") and r.get("last_med_us"):
        target("the last 100 of %d connect as fast as the first 100 "
               "(median within 1.5x)" % n,
               r["last_med_us"] <= 1.5 * r["first_med_us"],
               "%.0f vs %.0f us" % (r["last_med_us"], r["first_med_us"]))
    p1 = _get(res, "vsock", "pps-1", "writes_per_s")
    pn = _get(res, "vsock", "pps-%d" % n, "writes_per_s")
    if p1 and pn:
        target("packets per s with %d open connections >= 0.8x with 1" % n,
               pn >= 0.8 * p1, "%.0f vs %.0f writes/s" % (pn, p1))
    c1 = _get(res, "vsock", "pps-1", "device_us_per_write")
    cn = _get(res, "vsock", "pps-%d" % n, "device_us_per_write")
    if c1 and cn:
        # the rate above follows the guest's vCPU, whose CPU time per
        # write varies by half from run to run here; this is the device's
        target("device CPU per packet with %d open connections <= 1.25x "
               "with 1" % n, cn <= 1.25 * c1,
               "%.2f vs %.2f us per write" % (cn, c1))
    return []
