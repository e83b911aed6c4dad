#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""How long a hostile link peer can hold QEMU's main loop.

QEMU runs a virtio-vsock-user device (microvm, vCPUs stopped: only the
main loop matters here) with listening links; this script plays the QEMU
at the other end of a link and attacks it, while a QMP client sends
query-status every 10 ms and records each round trip.  A main loop that a
peer holds answers late: the longest round trip is the longest stall.

Attacks (each FLOOD seconds):
  idle          no attack: the round trip of an idle QEMU
  foreign-src   after a valid hello, 44-byte frames from a CID the link
                does not carry (dropped, never queued)
  refused-dst   frames to a CID that is neither the guest's nor relayed
                (each answered with an RST the peer never reads)
  bad-hellos    new connections, each with a hello of the wrong magic
                (each refused, the log within its budget)
  relay-down    frames to a CID another link carries and relays, while
                that link is down (each reset back to the peer)

Writes a JSON results file (--json) and prints the table; --table FILE
prints the reStructuredText table of a results file, which is how the
figures in docs/devel/vsock-user-fuzzing.rst are made.
"""

import argparse
import json
import multiprocessing
import os
import platform
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time

HDR = struct.Struct("<QQIIIHHIII")
HELLO_MAGIC = 0x4B4E4C56
HELLO_VERSION = 1
GUEST_CID = 16
PEER_CID = 7
OTHER_CID = 8          # carried by the second link, which stays down
OP_REQUEST, OP_RW, OP_CREDIT_UPDATE = 1, 5, 6
TYPE_STREAM = 1

ATTACKS = ["idle", "foreign-src", "refused-dst", "bad-hellos", "relay-down"]
TOP = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))


def frame(src_cid, dst_cid, src_port, dst_port, op, payload=b""):
    return HDR.pack(src_cid, dst_cid, src_port, dst_port, len(payload),
                    TYPE_STREAM, op, 0, 0, 0) + payload


def hello(src_cid, carries, magic=HELLO_MAGIC):
    body = struct.pack("<Q", carries)
    return HDR.pack(src_cid, 0, magic, HELLO_VERSION, len(body), 0, 0, 0, 0,
                    0) + body


class Qmp:
    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.connect(path)
        self.f = self.sock.makefile("rwb")
        self._read()
        self.cmd("qmp_capabilities")

    def _read(self):
        while True:
            msg = json.loads(self.f.readline())
            if "event" not in msg:
                return msg

    def cmd(self, name, **args):
        self.f.write(json.dumps({"execute": name, "arguments": args})
                     .encode() + b"\n")
        self.f.flush()
        rsp = self._read()
        if "return" not in rsp:
            raise RuntimeError("%s: %s" % (name, rsp))
        return rsp["return"]


def start_qemu(qemu, tmp):
    qmp = os.path.join(tmp, "qmp.sock")
    args = [qemu, "-M", "microvm,acpi=off,rtc=off,pit=off,pic=off",
            "-S", "-nodefaults", "-display", "none", "-m", "128M",
            "-accel", "tcg", "-qmp", "unix:%s,server=on,wait=off" % qmp,
            "-device", "virtio-vsock-user,guest-cid=%d,parent-cid=3,"
            "heartbeat=off" % GUEST_CID,
            "-object", "vsock-user-link,id=l0,addr=unix:%s/l0.sock,"
            "server=on,cids=%d,relay-cids=%d" % (tmp, PEER_CID, OTHER_CID),
            "-object", "vsock-user-link,id=l1,addr=unix:%s/l1.sock,"
            "server=on,cids=%d,relay-cids=%d" % (tmp, OTHER_CID, PEER_CID)]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL,
                            stderr=open(os.path.join(tmp, "qemu.log"), "w"))
    for _ in range(500):
        if os.path.exists(qmp) and os.path.exists(tmp + "/l0.sock"):
            break
        time.sleep(0.01)
    return proc, Qmp(qmp)


def link_stat(qmp, name):
    return qmp.cmd("qom-get", path="/objects/l0", property=name)


def peer_up(tmp, qmp):
    s = socket.socket(socket.AF_UNIX)
    s.connect(tmp + "/l0.sock")
    s.sendall(hello(PEER_CID, GUEST_CID))
    got = b""
    while len(got) < HDR.size + 8:
        got += s.recv(HDR.size + 8 - len(got))
    for _ in range(500):
        if qmp.cmd("qom-get", path="/objects/l0", property="state") == "up":
            return s
        time.sleep(0.01)
    raise RuntimeError("link l0 did not come up")


# The attacks run in a process of their own, so that the pinger's round
# trips measure QEMU, not the attacker's hold on Python's GIL.

def stream(sock, data, until, count):
    """Write @data (whole frames) until @until; count[0] += frames."""
    n = len(data) // HDR.size
    sock.setblocking(True)
    try:
        while time.monotonic() < until:
            sock.sendall(data)
            count[0] += n
    except OSError:
        count[1] += 1


def hellos(path, until, count):
    bad = hello(PEER_CID, GUEST_CID, magic=0x12345678)
    while time.monotonic() < until:
        try:
            s = socket.socket(socket.AF_UNIX)
            s.connect(path)
            s.sendall(bad)
            s.close()
            count[0] += 1
        except OSError:
            count[1] += 1


def run_attack(qemu, attack, seconds):
    with tempfile.TemporaryDirectory(prefix="vsock-user-stall-") as tmp:
        proc, qmp = start_qemu(qemu, tmp)
        try:
            count = multiprocessing.Array("Q", 2)
            until = time.monotonic() + seconds
            target = None
            if attack == "foreign-src":
                data = frame(99, GUEST_CID, 1000, 2000,
                             OP_CREDIT_UPDATE) * 1024
                target = (stream, (peer_up(tmp, qmp), data, until, count))
            elif attack == "refused-dst":
                data = frame(PEER_CID, 55, 1000, 2000, OP_REQUEST) * 1024
                target = (stream, (peer_up(tmp, qmp), data, until, count))
            elif attack == "relay-down":
                data = frame(PEER_CID, OTHER_CID, 1000, 2000,
                             OP_REQUEST) * 1024
                target = (stream, (peer_up(tmp, qmp), data, until, count))
            elif attack == "bad-hellos":
                target = (hellos, (tmp + "/l0.sock", until, count))
            th = None
            if target:
                th = multiprocessing.Process(target=target[0],
                                             args=target[1], daemon=True)
                th.start()
            rtts = []
            while time.monotonic() < until:
                t0 = time.monotonic()
                qmp.cmd("query-status")
                rtts.append((time.monotonic() - t0) * 1e6)
                time.sleep(0.01)
            if th:
                th.join(timeout=5)
                th.kill()
            stats = {
                "refused": link_stat(qmp, "refused"),
                "hellos-refused": link_stat(qmp, "hellos-refused"),
                "resets": link_stat(qmp, "resets"),
            }
            rtts.sort()
            return {
                "attack": attack,
                "seconds": seconds,
                "sent": count[0],
                "peer_errors": count[1],
                "pings": len(rtts),
                "rtt_median_us": round(statistics.median(rtts)),
                "rtt_p99_us": round(rtts[min(len(rtts) - 1,
                                             int(len(rtts) * 0.99))]),
                "rtt_max_us": round(rtts[-1]),
                "link": stats,
                "qemu_alive": proc.poll() is None,
            }
        finally:
            proc.kill()
            proc.wait()


def table(results):
    rows = [("Attack", "Sent", "Pings", "Median", "p99", "Longest stall")]
    for r in results["runs"]:
        rows.append((r["attack"], str(r["sent"]), str(r["pings"]),
                     "%.1f ms" % (r["rtt_median_us"] / 1000),
                     "%.1f ms" % (r["rtt_p99_us"] / 1000),
                     "%.1f ms" % (r["rtt_max_us"] / 1000)))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    sep = "  ".join("=" * w for w in widths)
    out = [sep]
    for i, r in enumerate(rows):
        out.append("  ".join(c.ljust(w) for c, w in zip(r, widths))
                   .rstrip())
        if i == 0:
            out.append(sep)
    out.append(sep)
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--qemu", default=os.path.join(
        TOP, "build/qemu/qemu-system-x86_64"))
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--attack", action="append", choices=ATTACKS)
    ap.add_argument("--json", help="write the results here")
    ap.add_argument("--table", metavar="FILE",
                    help="print the table of a results file and exit")
    args = ap.parse_args()
    if args.table:
        print(table(json.load(open(args.table))))
        return 0
    runs = [run_attack(args.qemu, a, args.seconds)
            for a in (args.attack or ATTACKS)]
    commit = subprocess.run(["git", "-C", TOP, "rev-parse", "--short=12",
                             "HEAD"], capture_output=True, text=True)
    results = {
        "info": {
            "date": time.strftime("%Y-%m-%d %H:%M"),
            "commit": commit.stdout.strip(),
            "host": "%s, %d CPUs, load %.2f" % (
                platform.platform(terse=True), os.cpu_count(),
                os.getloadavg()[0]),
        },
        "runs": runs,
    }
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
            f.write("\n")
    print(table(results))
    bad = [r["attack"] for r in runs if not r["qemu_alive"]]
    if bad:
        print("QEMU died under: %s" % ", ".join(bad))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
