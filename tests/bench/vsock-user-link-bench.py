#!/usr/bin/env python3
"""Guest-to-guest throughput over a vsock-user-link (a benchmark, not a test).

Boots two TCG guests whose virtio-vsock-user devices are linked over a Unix
socket and runs the kernel's vsock_perf (tools/testing/vsock) between them,
both directions in turn; guest A (CID 5) receives first.  Then request /
response rounds between them (vsock-rr, a connection per round) over a Unix
link and over a TCP link on 127.0.0.1, in alternating runs (unix, tcp,
unix, tcp, ...): a TCP link must stay within 1.2x of a Unix one.  Then the
same two
guests as sibling VMs of one vhost-device-vsock daemon (two --vm entries,
vhost-user-vsock-device in each QEMU, guest RAM in shared memfd), what a
user of vhost-user would run; a direction that moves nothing within
--vhost-timeout seconds is recorded as stalled.  The table goes to
build/bench/links.md.  Part of make bench.
"""

import argparse
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_report  # noqa: E402  (source_commit, links_report)
import bench_vhost_user  # noqa: E402  (find_daemon)

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
GUEST_DIR = os.path.join(ROOT, "build", "guest")
CMDLINE = ("console=ttyS0 reboot=t panic=-1 pci=off nomodules "
           "i8042.noaux i8042.nomux i8042.nopnp i8042.dumbkbd "
           "random.trust_cpu=on no_timer_check")
RR_RE = re.compile(r"RR client port=1300 rounds=(\d+) max_ms=([0-9.]+) "
                   r"avg_ms=([0-9.]+)")
PERF_RE = re.compile(r"PERF-(RX|TX) port=(\d+) (?:rx|tx) performance: "
                     r"([0-9.]+) Gbits/s")


def boot(args, tmp, name, role, cid, peer, device_args, machine_opts="",
         size=None, scenario="link-perf", params="", pass_fds=()):
    serial = os.path.join(tmp, name + ".log")
    cmd = [args.qemu, "-M", "microvm,acpi=off" + machine_opts, "-accel",
           "tcg", "-m", args.mem, "-smp", "1", "-nodefaults",
           "-no-user-config", "-display", "none", "-no-reboot",
           "-serial", "file:" + serial,
           "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04",
           "-kernel", args.kernel, "-initrd", args.initramfs,
           "-append", "%s vsocktest.scenario=%s vsocktest.role=%s "
           "vsocktest.peercid=%d vsocktest.bytes=%d vsocktest.vsk=%d%s%s" %
           (CMDLINE, scenario, role, peer, size[1] if size else args.bytes,
            args.vsk_size, " vsocktest.buf=%d" % size[0] if size else "",
            params)] + \
        device_args
    return subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL,
                            stderr=subprocess.STDOUT,
                            pass_fds=pass_fds), serial


def link_args(cid, link_opts):
    return ["-object", "vsock-user-link,id=l0,vsock=v0," + link_opts,
            "-device", "virtio-vsock-user,id=v0,guest-cid=%d" % cid]


def vhost_args(args, sock):
    return ["-object", "memory-backend-memfd,id=mem,size=%s,share=on" %
            args.mem, "-chardev", "socket,id=vhu,path=%s" % sock,
            "-device", "vhost-user-vsock-device,chardev=vhu"]


def wait_pair(procs, timeout):
    """Exit statuses of both QEMUs; "timeout" for one killed after
    TIMEOUT seconds."""
    status = []
    end = time.monotonic() + timeout
    for p in procs:
        try:
            status.append(p.wait(timeout=max(1, end - time.monotonic())))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
            status.append("timeout")
    return status


def results(serials):
    res = {}
    for name, path in serials:
        with open(path, errors="replace") as f:
            for m in PERF_RE.finditer(f.read()):
                res[(name, m.group(1), m.group(2))] = float(m.group(3))
    return [
        (res.get(("b", "TX", "1234")), res.get(("a", "RX", "1234"))),
        (res.get(("a", "TX", "1235")), res.get(("b", "RX", "1235"))),
    ]


def run_links(args, tmp, size=None):
    """Linked devices; SIZE: (write size, bytes), else vsock_perf's."""
    link = os.path.join(tmp, "l.sock")
    if os.path.exists(link):
        os.unlink(link)
    a, sa = boot(args, tmp, "a", "a", 5, 6,
                 link_args(5, "addr=unix:%s,server=on,cids=6" % link),
                 size=size)
    b, sb = boot(args, tmp, "b", "b", 6, 5,
                 link_args(6, "addr=unix:%s,cids=5,reconnect-ms=100" %
                           link), size=size)
    status = wait_pair((a, b), args.timeout)
    return results((("a", sa), ("b", sb))), status


def run_rr(args, tmp, transport):
    """--rr-rounds request/response rounds of --rr-size bytes between the
    linked guests over a TRANSPORT ("unix" or "tcp") link: the client's
    {"avg_ms", "max_ms"} per round, or None; and the QEMUs' exit."""
    lsock = None
    if transport == "unix":
        addr = caddr = "unix:" + os.path.join(tmp, "rr.sock")
        if os.path.exists(addr[5:]):
            os.unlink(addr[5:])
    else:
        # the listening QEMU takes a socket bound here (no port found free
        # and bound again)
        lsock = socket.create_server(("127.0.0.1", 0), backlog=4)
        addr = "fd:%d" % lsock.fileno()
        caddr = "127.0.0.1:%d" % lsock.getsockname()[1]
    params = " vsocktest.rounds=%d vsocktest.size=%d" % (args.rr_rounds,
                                                        args.rr_size)
    a, _ = boot(args, tmp, "rr-a", "a", 5, 6,
                link_args(5, "addr=%s,server=on,cids=6" % addr),
                scenario="link-rr", params=params,
                pass_fds=(lsock.fileno(),) if lsock else ())
    if lsock:
        lsock.close()
    b, sb = boot(args, tmp, "rr-b", "b", 6, 5,
                 link_args(6, "addr=%s,cids=5,reconnect-ms=100" % caddr),
                 scenario="link-rr", params=params)
    status = wait_pair((a, b), args.timeout)
    with open(sb, errors="replace") as f:
        m = RR_RE.search(f.read())
    if status != [1, 1] or not m or int(m.group(1)) != args.rr_rounds:
        return None, status
    return {"avg_ms": float(m.group(3)), "max_ms": float(m.group(2))}, status


def run_siblings(args, tmp, daemon, size=None):
    """The same two guests as sibling VMs of one vhost-device-vsock."""
    vt = tempfile.mkdtemp(prefix="vhost-", dir=tmp)
    socks = [os.path.join(vt, "%s.sock" % n) for n in ("a", "b")]
    dlog = open(os.path.join(vt, "daemon.log"), "w")
    dproc = subprocess.Popen(
        [daemon] + sum((["--vm", "guest-cid=%d,socket=%s,uds-path=%s" %
                         (cid, sock, os.path.join(vt, "%d.hs" % cid))]
                        for cid, sock in zip((5, 6), socks)), []),
        stdin=subprocess.DEVNULL, stdout=dlog, stderr=subprocess.STDOUT)
    try:
        end = time.monotonic() + 10
        while not all(os.path.exists(s) for s in socks):
            if dproc.poll() is not None or time.monotonic() > end:
                return None, "the daemon did not open its sockets (%s)" % \
                    dlog.name
            time.sleep(0.05)
        a, sa = boot(args, vt, "a", "a", 5, 6, vhost_args(args, socks[0]),
                     ",memory-backend=mem", size)
        b, sb = boot(args, vt, "b", "b", 6, 5, vhost_args(args, socks[1]),
                     ",memory-backend=mem", size)
        status = wait_pair((a, b), args.vhost_timeout)
        return results((("a", sa), ("b", sb))), status
    finally:
        dproc.kill()
        dproc.wait()
        dlog.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--qemu", default=os.path.join(
        ROOT, "build", "qemu", "qemu-system-x86_64"))
    ap.add_argument("--kernel", default=os.path.join(GUEST_DIR, "bzImage"))
    ap.add_argument("--initramfs",
                    default=os.path.join(GUEST_DIR, "initramfs.cpio.gz"))
    ap.add_argument("--bytes", type=int, default=256 << 20,
                    help="bytes per direction (default 256 MiB)")
    ap.add_argument("--vsk-size", type=int, default=256 << 10,
                    help="SO_VM_SOCKETS_BUFFER_SIZE on both sides")
    ap.add_argument("--mem", default="256M")
    ap.add_argument("--timeout", type=int, default=600)
    ap.add_argument("--out", default=os.path.join(ROOT, "build", "bench",
                                                  "links.md"))
    ap.add_argument("--json", default=os.path.join(ROOT, "build", "bench",
                                                   "links.json"),
                    help="the run's figures, from which scripts/"
                    "bench_tables.py renders the table again (default "
                    "build/bench/links.json)")
    ap.add_argument("--vhost-timeout", type=int, default=60,
                    help="seconds the vhost-device-vsock siblings have for "
                    "both directions of one write size (default 60)")
    ap.add_argument("--small-buf", type=int, default=2048,
                    help="the second write size, below one rx buffer "
                    "(default 2048; 0: skip)")
    ap.add_argument("--small-bytes", type=int, default=32 << 20,
                    help="bytes per direction at --small-buf (default 32 "
                    "MiB)")
    ap.add_argument("--rr-rounds", type=int, default=200,
                    help="request/response rounds per run over a unix and "
                    "a TCP link (default 200; 0: skip)")
    ap.add_argument("--rr-size", type=int, default=64,
                    help="bytes of each request (default 64)")
    ap.add_argument("--rr-repeat", type=int, default=3,
                    help="runs per link kind, alternating (default 3)")
    ap.add_argument("--fetch", action=argparse.BooleanOptionalAction,
                    default=True, help="fetch vhost-device-vsock (Debian "
                    "sid) into the cache if it is not there (default on); "
                    "--no-fetch skips the siblings when it is not")
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="vsock-link-bench-")
    t0 = time.monotonic()
    daemon, ver = bench_vhost_user.find_daemon(args.fetch)
    # (label, size): vsock_perf's own 128 KiB writes, then small ones
    sizes = [("128 KiB writes, %d MiB" % (args.bytes >> 20), None)]
    if args.small_buf:
        sizes.append(("%d-byte writes, %d MiB" % (args.small_buf,
                                                   args.small_bytes >> 20),
                      (args.small_buf, args.small_bytes)))
    rows, failed = [], []
    for label, size in sizes:
        ours, status = run_links(args, tmp, size)
        if not all(tx and rx for tx, rx in ours) or status != [1, 1]:
            failed.append("%s: QEMU exit %s" % (label, status))
        theirs, vstatus = None, ver
        if daemon:
            theirs, vstatus = run_siblings(args, tmp, daemon, size)
        for i, d in enumerate(("B (CID 6) -> A (CID 5)",
                               "A (CID 5) -> B (CID 6)")):
            rows.append((d, label, ours[i], theirs[i] if theirs else None,
                         vstatus))
    rr = []
    for rnd in range(args.rr_repeat if args.rr_rounds else 0):
        for transport in ("unix", "tcp"):
            res, status = run_rr(args, tmp, transport)
            if not res:
                failed.append("request/response over %s, run %d: QEMU exit "
                              "%s" % (transport, rnd + 1, status))
            rr.append({"transport": transport, "round": rnd, "result": res})
    elapsed = time.monotonic() - t0
    data = {"info": {"date": time.strftime("%Y-%m-%d %H:%M"),
                     "commit": bench_report.source_commit(),
                     "device_commit": bench_report.device_commit()},
            "args": {"vsk_size": args.vsk_size,
                     "vhost_timeout": args.vhost_timeout,
                     "bytes": args.bytes, "small_buf": args.small_buf,
                     "small_bytes": args.small_bytes},
            "daemon": bool(daemon), "version": ver, "elapsed": elapsed,
            "rows": [{"direction": d, "writes": label, "ours": ours,
                      "theirs": theirs, "status": vstatus}
                     for d, label, ours, theirs, vstatus in rows]}
    if args.rr_rounds:
        data["rr"] = {"rounds": args.rr_rounds, "size": args.rr_size,
                      "runs": rr}
    if args.json:
        os.makedirs(os.path.dirname(os.path.abspath(args.json)),
                    exist_ok=True)
        with open(args.json, "w") as f:
            json.dump(data, f, indent=1)
            f.write("\n")
    text = bench_report.links_report(data)

    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        f.write(text)
    print(text, end="")
    if failed:
        print("error: a direction did not complete (%s); logs in %s" %
              ("; ".join(failed), tmp))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
