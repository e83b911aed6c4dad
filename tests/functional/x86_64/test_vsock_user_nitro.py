#!/usr/bin/env python3
#
# virtio-vsock-user functional tests: standalone Nitro Enclaves
#
# -M nitro-enclave boots an EIF with no vhost.  The image is the demo
# enclave of `make run` (contrib/nitro-demo): our guest kernel and an init
# in AWS's order, heartbeat first, then an application that greets the
# parent on vsock port 5005; contrib/nitro-demo/run.py plays the parent's
# host side.
#
# Copyright (c) 2026 The virtio-vsock-user authors
#
# SPDX-License-Identifier: GPL-2.0-or-later

import os
import re
import socket
import subprocess
import sys
import threading

import vsock_user as vsu

TOP = vsu.ROOT
DEMO = os.path.join(TOP, "contrib", "nitro-demo")

sys.path.insert(0, os.path.join(TOP, "scripts"))
import eif  # noqa: E402  (scripts/eif.py)


def demo_eif(r):
    r.need_machine("nitro-enclave")
    p = subprocess.run(["bash", os.path.join(DEMO, "build.sh")],
                       capture_output=True, text=True, timeout=900)
    if p.returncode != 0:
        raise vsu.Fail("contrib/nitro-demo/build.sh failed: %s" %
                   vsu.last_line(p.stderr))
    return p.stdout.strip().splitlines()[-1]


def run_demo(r, tmp, eif_path, *qemu_args, timeout=90):
    cmd = [sys.executable, os.path.join(DEMO, "run.py"),
           "--qemu", r.qemu, "--eif", eif_path, "--expect-greeting",
           "--timeout", str(timeout), "--"] + list(qemu_args)
    p = subprocess.run(cmd, capture_output=True, text=True,
                       timeout=timeout + 30)
    with open(os.path.join(tmp, "serial.log"), "w") as f:
        f.write(p.stdout + p.stderr)
    return p


def qemu_fails(r, tmp, args, expect):
    """QEMU must refuse ARGS at once, saying EXPECT, exit status 1."""
    cmd = [r.qemu, "-nographic", "-no-reboot", "-m", "512M"] + args
    try:
        p = subprocess.run(cmd, capture_output=True, text=True,
                           timeout=30, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise vsu.Fail("QEMU did not refuse %s (still running after 30 s)" %
                   " ".join(args))
    out = (p.stdout + p.stderr).strip()
    with open(os.path.join(tmp, "qemu.log"), "w") as f:
        f.write(out + "\n")
    if p.returncode != 1:
        raise vsu.Fail("exit status %d, expected 1: %s" %
                   (p.returncode, vsu.last_line(out)))
    if expect not in out:
        raise vsu.Fail("expected %r, QEMU said: %s" % (expect, out))
    lines = [ln for ln in out.splitlines() if ln.strip()]
    if len(lines) != 1:
        raise vsu.Fail("expected one line of error, got %d: %s" %
                   (len(lines), out))
    return lines[0]


def check_default(r, tmp):
    """Default options: heartbeat passes, the application runs."""
    p = run_demo(r, tmp, demo_eif(r), "-trace", "nitro_heartbeat_done")
    out = p.stdout
    if p.returncode != 0:
        raise vsu.Fail("demo exit status %d: %s" %
                   (p.returncode, vsu.last_line(out)))
    for want in ("enclave: heartbeat OK at ",
                 "parent: received on vsock port 5005: Hello from the "
                 "enclave",
                 "enclave: application exited",
                 "QEMU exit status 0"):
        if want not in out:
            raise vsu.Fail("missing %r in the demo's output" % want)
    # the heartbeat was answered by the nitro-heartbeat device model
    done = (out + p.stderr).count("nitro_heartbeat_done")
    if done != 1:
        raise vsu.Fail("trace event nitro_heartbeat_done seen %d times, "
                   "expected once" % done)
    for line in out.splitlines():
        if line.startswith("enclave: heartbeat OK at"):
            return line[len("enclave: "):]
    return ""


def check_heartbeat_off(r, tmp):
    """No heartbeat: the init stops the way a real enclave's does."""
    p = run_demo(r, tmp, demo_eif(r),
                 "-global", "virtio-vsock-user.heartbeat=off")
    out = p.stdout + p.stderr
    if "connect: Connection reset by peer (ECONNRESET)" not in out:
        raise vsu.Fail("the heartbeat's connect did not fail with "
                   "ECONNRESET: %s" % vsu.last_line(out))
    if "enclave: heartbeat to the parent failed" not in out:
        raise vsu.Fail("the init did not stop after the heartbeat")
    if "Hello from the enclave" in out or "application:" in out:
        raise vsu.Fail("the application ran without a heartbeat")
    if p.returncode == 0:
        raise vsu.Fail("the demo driver reported success")
    return "ECONNRESET, application not started"


def check_enclave_cid(r, tmp):
    """enclave-cid reaches the guest; reserved CIDs are refused."""
    r.need_machine("nitro-enclave")
    for cid in ("0", "3", "4294967295"):
        line = qemu_fails(r, tmp, ["-M", "nitro-enclave,enclave-cid=" +
                                   cid, "-kernel", "/dev/null"],
                          "enclave-cid %s is reserved" % cid)
    # A valid one: the enclave's kernel sends from it (every packet the
    # device takes from the guest has source CID 20), and the heartbeat
    # and the greeting to the parent work.
    p = run_demo(r, tmp, demo_eif(r), "-M", "nitro-enclave,enclave-cid=20",
                 "-trace", "virtio_vsock_user_tx_pkt")
    out = p.stdout + p.stderr
    if p.returncode != 0 or "Hello from the enclave" not in out:
        raise vsu.Fail("demo with enclave-cid=20: exit status %d: %s" %
                       (p.returncode, vsu.last_line(out)))
    srcs = re.findall(r"virtio_vsock_user_tx_pkt guest (\d+):\d+ -> "
                      r"(\d+):(\d+) (\w+)", out)
    if not srcs or {s[0] for s in srcs} != {"20"} or \
            ("20", "3", "9000", "REQUEST") not in srcs:
        raise vsu.Fail("enclave-cid=20: the guest's packets came from "
                       "CIDs %s (%d packets), expected only 20 and a "
                       "REQUEST to 3:9000" %
                       (sorted({s[0] for s in srcs}), len(srcs)))
    return "%s; enclave-cid=20: %d packets from the guest, all from CID " \
        "20" % (line, len(srcs))


def check_vhost_user_selected(r, tmp):
    """vsock=<chardev> keeps using vhost-user-vsock."""
    r.need_machine("nitro-enclave")
    path = os.path.join(tmp, "vhost.sock")
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(path)
    srv.listen(1)

    def hang_up():
        # A peer that accepts and closes: not a vhost-user backend.
        try:
            conn, _ = srv.accept()
            conn.close()
        except OSError:
            pass
    t = threading.Thread(target=hang_up, daemon=True)
    t.start()
    try:
        cmd = [r.qemu, "-M", "nitro-enclave,vsock=c", "-nographic",
               "-no-reboot", "-m", "512M", "-kernel", demo_eif(r),
               "-chardev", "socket,id=c,path=" + path]
        p = subprocess.run(cmd, capture_output=True, text=True,
                           timeout=60, stdin=subprocess.DEVNULL)
    finally:
        srv.close()
    out = (p.stdout + p.stderr).strip()
    with open(os.path.join(tmp, "qemu.log"), "w") as f:
        f.write(out + "\n")
    # vhost-user-vsock talked to the peer, which is no backend: realize
    # fails there (whether QEMU's first message or its reply found the
    # peer gone), and QEMU stops.  Without vsock= there is no vhost-user
    # device to fail.
    want = "%s: vhost_backend_init failed: Protocol error" % \
        os.path.basename(r.qemu)
    if p.returncode != 1 or vsu.last_line(out) != want:
        raise vsu.Fail("expected exit status 1 after %r, got %d after %r" %
                       (want, p.returncode, vsu.last_line(out)))
    return vsu.last_line(out)


def check_bad_eif(r, tmp):
    """Broken images: one clear error each, exit status 1."""
    good = open(demo_eif(r), "rb").read()
    # (index, type, flags, offset, size, payload)
    sections = [(sec[1], sec[5]) for sec in eif.parse(good).sections]
    bad = bytearray(good)
    bad[-100] ^= 0xff
    no_cmd = [sec for sec in sections if sec[0] != eif.CMDLINE]
    no_ram = [sec for sec in sections if sec[0] != eif.RAMDISK]
    cases = [
        ("crc", bytes(bad), "CRC mismatch"),
        ("no-cmdline", eif.build_sections(no_cmd), "No cmdline section"),
        ("no-ramdisk", eif.build_sections(no_ram), "No ramdisk section"),
    ]
    said = []
    for name, data, expect in cases:
        path = os.path.join(tmp, name + ".eif")
        with open(path, "wb") as f:
            f.write(data)
        said.append(qemu_fails(r, tmp, ["-M", "nitro-enclave",
                                        "-kernel", path], expect))
        # Our tool rejects what QEMU rejects, with the reason.
        v = subprocess.run([sys.executable,
                            os.path.join(TOP, "scripts", "eif.py"),
                            "verify", path], capture_output=True,
                           text=True)
        if v.returncode == 0:
            raise vsu.Fail("scripts/eif.py verify accepted %s" % name)
    return "; ".join(s.split(": ", 1)[-1] for s in said)


def check_make_run_eif(r, tmp):
    """make run EIF=PATH: scripts/run-demo.sh boots the image given, and
    names a path that is not there in one line."""
    script = os.path.join(TOP, "scripts", "run-demo.sh")
    p = subprocess.run(["bash", script, r.qemu, demo_eif(r)],
                       capture_output=True, text=True, timeout=120,
                       stdin=subprocess.DEVNULL)
    out = p.stdout + p.stderr
    with open(os.path.join(tmp, "run-demo.log"), "w") as f:
        f.write(out)
    if p.returncode != 0:
        raise vsu.Fail("run-demo.sh QEMU EIF exited %d: %s" %
                       (p.returncode, vsu.last_line(out)))
    for want in ("enclave: heartbeat OK at ",
                 "parent: received on vsock port 5005: Hello from the "
                 "enclave", "QEMU exit status 0"):
        if want not in out:
            raise vsu.Fail("missing %r in run-demo.sh's output" % want)
    missing = os.path.join(tmp, "none.eif")
    p = subprocess.run(["bash", script, r.qemu, missing],
                       capture_output=True, text=True, timeout=30,
                       stdin=subprocess.DEVNULL)
    want = "run-demo: no such EIF: %s" % missing
    if p.returncode != 1 or (p.stdout + p.stderr).strip() != want:
        raise vsu.Fail("a missing EIF: exit %d, %r; expected 1, %r" %
                       (p.returncode, (p.stdout + p.stderr).strip(), want))
    return "the demo EIF booted and greeted; a missing one: %r" % want


class VsockUserNitro(vsu.VsockUserTest):

    def test_nitro_enclave_demo(self):
        self.note(check_default(self, self.tmp))

    def test_nitro_enclave_heartbeat_off(self):
        self.note(check_heartbeat_off(self, self.tmp))

    def test_nitro_enclave_cid(self):
        self.note(check_enclave_cid(self, self.tmp))

    def test_nitro_enclave_vhost_user(self):
        self.note(check_vhost_user_selected(self, self.tmp))

    def test_nitro_enclave_bad_eif(self):
        self.note(check_bad_eif(self, self.tmp))

    def test_nitro_enclave_make_run_eif(self):
        self.note(check_make_run_eif(self, self.tmp))


if __name__ == '__main__':
    vsu.VsockUserTest.main()
