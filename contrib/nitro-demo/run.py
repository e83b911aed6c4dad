#!/usr/bin/env python3
"""Boot an enclave image on -M nitro-enclave with nothing else running.

The parent's side of the demo: QEMU alone plays the parent instance (the
nitro-heartbeat device model answers the enclave's heartbeat on a
vsock-user chardev of its virtio-vsock-user device), and one
vsock-user-forward object hands the enclave's connections to parent port
5005 to a Unix socket this script listens on, printing what arrives.

usage: run.py --qemu QEMU --eif EIF [--timeout SECS] [--expect-greeting]
Exit status: QEMU's, or 1 if --expect-greeting and no greeting arrived.
"""

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

GREETING_PORT = 5005


def log(msg):
    print("parent: " + msg, flush=True)


def serve(sock, got):
    """Accept connections and print what each one says."""
    while True:
        try:
            conn, _ = sock.accept()
        except OSError:
            return
        with conn:
            data = b""
            while True:
                chunk = conn.recv(4096)
                if not chunk:
                    break
                data += chunk
        text = data.decode("utf-8", "replace").strip()
        got.append(text)
        log("received on vsock port %d: %s" % (GREETING_PORT, text))


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--qemu", required=True)
    p.add_argument("--eif", required=True)
    p.add_argument("--timeout", type=float, default=120)
    p.add_argument("--expect-greeting", action="store_true")
    p.add_argument("qemu_args", nargs="*",
                   help="more QEMU arguments (after --)")
    args = p.parse_args()

    tmp = tempfile.mkdtemp(prefix="vsock-user-demo-")
    path = os.path.join(tmp, "greeting.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(path)
    sock.listen(8)
    got = []
    threading.Thread(target=serve, args=(sock, got), daemon=True).start()

    cmd = [args.qemu, "-M", "nitro-enclave", "-kernel", args.eif,
           "-nographic", "-m", "512M", "-no-reboot",
           "-object", "vsock-user-forward,id=greeting,guest-port=%d,"
           "connect=unix:%s" % (GREETING_PORT, path)] + args.qemu_args
    log("booting %s on -M nitro-enclave: no vhost, no daemon, "
        "no parent VM" % args.eif)
    log("QEMU answers the heartbeat on 3:9000 and forwards 3:%d to %s" %
        (GREETING_PORT, path))
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL)
    try:
        status = proc.wait(timeout=args.timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        log("the enclave did not exit within %.0f s; stopped it" %
            args.timeout)
        status = 124
    except KeyboardInterrupt:
        proc.kill()
        proc.wait()
        status = 130
    sock.close()
    shutil.rmtree(tmp, ignore_errors=True)
    log("the enclave exited after %.1f s; QEMU exit status %d" %
        (time.monotonic() - t0, status))
    if status == 0 and args.expect_greeting and not got:
        log("no greeting arrived: the demo failed")
        return 1
    return status


if __name__ == "__main__":
    sys.exit(main())
