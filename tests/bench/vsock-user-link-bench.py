#!/usr/bin/env python3
"""Guest-to-guest throughput over a vsock-user-link (a benchmark, not a test).

Boots two TCG guests whose virtio-vsock-user devices are linked over a Unix
socket and runs the kernel's vsock_perf (tools/testing/vsock) between them,
both directions in turn; guest A (CID 5) receives first.  The table goes to
build/bench/links.md.  Part of make bench.
"""

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
GUEST_DIR = os.path.join(ROOT, "build", "guest")
CMDLINE = ("console=ttyS0 reboot=t panic=-1 pci=off nomodules "
           "i8042.noaux i8042.nomux i8042.nopnp i8042.dumbkbd "
           "random.trust_cpu=on")
PERF_RE = re.compile(r"PERF-(RX|TX) port=(\d+) (?:rx|tx) performance: "
                     r"([0-9.]+) Gbits/s")


def boot(args, tmp, name, role, cid, peer, link_opts):
    serial = os.path.join(tmp, name + ".log")
    cmd = [args.qemu, "-M", "microvm,acpi=off", "-accel", "tcg", "-m",
           args.mem, "-smp", "1", "-nodefaults", "-no-user-config",
           "-display", "none", "-no-reboot", "-serial", "file:" + serial,
           "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04",
           "-kernel", args.kernel, "-initrd", args.initramfs,
           "-append", "%s vsocktest.scenario=link-perf vsocktest.role=%s "
           "vsocktest.peercid=%d vsocktest.bytes=%d vsocktest.vsk=%d" %
           (CMDLINE, role, peer, args.bytes, args.vsk_size),
           "-object", "vsock-user-link,id=l0,vsock=v0," + link_opts,
           "-device", "virtio-vsock-user,id=v0,guest-cid=%d" % cid]
    return subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL,
                            stderr=subprocess.STDOUT), serial


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
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="vsock-link-bench-")
    link = os.path.join(tmp, "l.sock")
    t0 = time.monotonic()
    a, sa = boot(args, tmp, "a", "a", 5, 6,
                 "addr=unix:%s,server=on,cids=6" % link)
    b, sb = boot(args, tmp, "b", "b", 6, 5,
                 "addr=unix:%s,cids=5,reconnect-ms=100" % link)
    status = []
    for p in (a, b):
        try:
            status.append(p.wait(timeout=args.timeout))
        except subprocess.TimeoutExpired:
            p.kill()
            status.append("timeout")
    elapsed = time.monotonic() - t0
    res = {}
    for name, path in (("a", sa), ("b", sb)):
        with open(path, errors="replace") as f:
            for m in PERF_RE.finditer(f.read()):
                res[(name, m.group(1), m.group(2))] = float(m.group(3))
    rows = [
        ("B (CID 6) -> A (CID 5)", res.get(("b", "TX", "1234")),
         res.get(("a", "RX", "1234"))),
        ("A (CID 5) -> B (CID 6)", res.get(("a", "TX", "1235")),
         res.get(("b", "RX", "1235"))),
    ]

    def fmt(g):
        return "%.0f" % (g * 1000 / 8 / 1.048576) if g is not None else "-"
    lines = ["vsock_perf between two linked TCG guests (microvm, unix link, "
             "%d MiB per direction, vsock buffer %d KiB; %.0f s)" %
             (args.bytes >> 20, args.vsk_size >> 10, elapsed), "",
             "| direction | sender MiB/s | receiver MiB/s |",
             "| --- | --- | --- |"]
    lines += ["| %s | %s | %s |" % (d, fmt(tx), fmt(rx)) for d, tx, rx in rows]
    text = "\n".join(lines) + "\n"
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        f.write(text)
    print(text, end="")
    if any(tx is None or rx is None for _, tx, rx in rows) or \
            status != [1, 1]:
        print("error: a direction did not complete (QEMU exit %s); logs in "
              "%s" % (status, tmp))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
