#!/usr/bin/env python3
#
# virtio-vsock-user functional tests: boot, heartbeat, EIF
#
# Guests that boot and talk to the device: boot on microvm and pc, the
# loopback transport, the heartbeat, a connect that gets RST, 200 rounds of
# the heartbeat's handshake against a host peer that closes (no lingering
# closes) and the EIF images on QEMU's loader and -M nitro-enclave.
#
# Each check_* function gets the test and its directory for sockets and
# logs (vsock_user.VsockUserTest) and returns a note for the test's log.
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
import time

import vsock_user as vsu
from vsock_user_host import Qmp


VSOCK_MMIO = ["-device", "virtio-vsock-user,guest-cid=16,parent-cid=3"]
VSOCK_PCI = ["-device", "virtio-vsock-user-pci,guest-cid=16,parent-cid=3"]


def check_boot_microvm(r, tmp):
    b = r.boot(tmp, "microvm", "boot", timeout=60)
    r.expect_pass(b, "boot")
    return "init at %ss guest uptime" % b.uptime_at_init


def check_boot_pc(r, tmp):
    b = r.boot(tmp, "pc", "boot", timeout=90)
    r.expect_pass(b, "boot")
    return "init at %ss guest uptime" % b.uptime_at_init


def check_loopback_microvm(r, tmp):
    """Guest tools against each other on the loopback transport (CID 1)."""
    b = r.boot(tmp, "microvm", "loopback", timeout=90)
    r.expect_pass(b, "loopback")
    if "STREAM-CHECK OK" not in b.serial:
        raise vsu.Fail("no STREAM-CHECK OK line")
    rate = vsu.guest_value(b.serial, "STREAM mode=recv", "mib_per_s")
    return "4 MiB stream at %s MiB/s" % rate


def check_heartbeat_microvm(r, tmp):
    r.need_device("virtio-vsock-user")
    b = r.boot(tmp, "microvm", "heartbeat", VSOCK_MMIO, timeout=60)
    r.expect_pass(b, "heartbeat")


def check_connect_reset_microvm(r, tmp):
    r.need_device("virtio-vsock-user")
    b = r.boot(tmp, "microvm", "connect-reset", VSOCK_MMIO, timeout=60,
               params={"max_ms": 500, "unbound_port": 9999})
    r.expect_pass(b, "connect-reset")
    times = re.findall(r"CONNECT cid=(\d+) port=(\d+) result=(\S+) "
                       r"elapsed_ms=([0-9.]+)", b.serial)
    return ", ".join("cid %s: %s in %s ms" % (c, res, ms)
                     for c, _, res, ms in times)


def echo_once_server(lsock, n, errors):
    """For each of N clients: read one byte, send it back, close."""
    try:
        for _ in range(n):
            conn, _ = lsock.accept()
            with conn:
                conn.settimeout(60)
                b = conn.recv(1)
                if b:
                    conn.sendall(b)
    except OSError as e:
        errors.append("host peer: %s" % e)


def check_heartbeat_many(r, tmp, machine, device):
    """The handshake 2 x 200 times against a host peer that closes.

    nitro-heartbeat answers once per boot, so the rounds go to a host
    socket (uds-path): QEMU closes each connection when its peer does,
    as it did after each heartbeat, and no close may linger.
    """
    count = 200
    uds = os.path.join(tmp, "v.sock")
    lsock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    lsock.bind(uds + "_9000")
    lsock.listen(64)
    lsock.settimeout(300)
    errors = []
    t = threading.Thread(target=echo_once_server,
                         args=(lsock, 2 * count, errors), daemon=True)
    t.start()
    try:
        b = r.boot(tmp, machine, "heartbeat-many",
                   ["-device", device + ",guest-cid=16,parent-cid=3,"
                    "heartbeat=off,uds-path=" + uds],
                   timeout=300, params={"count": count})
    finally:
        lsock.close()
    if errors:
        raise vsu.Fail(errors[0])
    r.expect_pass(b, "heartbeat-many")
    runs = re.findall(r"HEARTBEAT OK count=(\d+) total_ms=([0-9.]+) "
                      r"avg_ms=([0-9.]+) max_ms=([0-9.]+) "
                      r"max_close_ms=([0-9.]+)", b.serial)
    if len(runs) != 2:
        raise vsu.Fail("expected 2 HEARTBEAT OK lines, found %d" % len(runs))
    if "LINGER-CHECK OK" not in b.serial:
        raise vsu.Fail("no LINGER-CHECK OK line")
    notes = []
    for (n, total, avg, mx, mxc), what in zip(runs, ["close", "SO_LINGER"]):
        total = float(total)
        if int(n) != count:
            raise vsu.Fail("ran %s heartbeats, wanted %d" % (n, count))
        # 200 x 8 s would be a lingering close; allow TCG slowness.
        if total > 60000:
            raise vsu.Fail("%d heartbeats (%s) took %.1f s: closes linger?"
                       % (count, what, total / 1000))
        notes.append("%s: %d in %.2f s, max close %.1f ms"
                     % (what, count, total / 1000, float(mxc)))
    return "; ".join(notes)


def check_close_200_microvm(r, tmp):
    r.need_device("virtio-vsock-user")
    return check_heartbeat_many(r, tmp, "microvm", "virtio-vsock-user")


def check_heartbeat_pc(r, tmp):
    r.need_device("virtio-vsock-user-pci")
    b = r.boot(tmp, "pc", "heartbeat", VSOCK_PCI, timeout=90)
    r.expect_pass(b, "heartbeat")


def check_close_200_pc(r, tmp):
    r.need_device("virtio-vsock-user-pci")
    return check_heartbeat_many(r, tmp, "pc", "virtio-vsock-user-pci")


def check_eif_qemu_loader(r, tmp):
    """QEMU's own EIF loader (nitro-enclave machine) loads our EIF and
    refuses it with one byte flipped."""
    r.need_machine("nitro-enclave")
    good = os.path.join(tmp, "guest.eif")
    bad = os.path.join(tmp, "corrupt.eif")
    p = subprocess.run([sys.executable, vsu.EIF_PY, "build",
                        "--kernel", r.args.kernel,
                        "--cmdline", vsu.CMDLINE_MICROVM,
                        "--ramdisk", r.args.initramfs, "-o", good],
                       capture_output=True, text=True)
    if p.returncode:
        raise vsu.Fail("eif.py build failed: %s" % p.stderr.strip())
    with open(good, "rb") as f:
        data = bytearray(f.read())
    data[-1] ^= 0xff
    with open(bad, "wb") as f:
        f.write(data)

    def start(path, name):
        # Paused (-S): QEMU loads the EIF while it creates the machine,
        # then waits on QMP with the guest not started.
        qmp = os.path.join(tmp, "qmp.sock")
        cmd = [r.qemu, "-M", "nitro-enclave", "-accel", "tcg", "-S",
               "-m", "256M", "-nodefaults", "-no-user-config",
               "-display", "none", "-no-reboot", "-serial", "none",
               "-qmp", "unix:%s,server=on,wait=off" % qmp] + r.fw_args + \
            ["-kernel", path]
        log = os.path.join(tmp, name)
        with open(log, "w") as out:
            proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                                    stdout=out, stderr=subprocess.STDOUT)
        r.procs.append(proc)            # killed when the test ends
        return proc, log, qmp

    proc, log, _ = start(bad, "qemu-corrupt.log")
    try:
        status = proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        raise vsu.Fail("QEMU did not refuse a corrupt EIF (still running "
                       "after 20 s)")
    out_bad = vsu.read_text(log)
    if status != 1 or "CRC mismatch" not in out_bad:
        raise vsu.Fail("QEMU did not reject a corrupt EIF with 'CRC "
                       "mismatch' and exit status 1 (status %s): %s" %
                       (status, vsu.last_line(out_bad)))

    # The good one: the machine exists, paused before the guest's first
    # instruction, and QEMU said nothing; then it quits cleanly.
    proc, log, qmp_path = start(good, "qemu.log")
    qmp = Qmp(qmp_path, time.monotonic() + 20)
    state = qmp.cmd("query-status")
    qmp.cmd("quit")
    qmp.close()
    status = proc.wait(timeout=20)
    out_good = vsu.read_text(log)
    if state.get("status") != "prelaunch" or status != 0 or out_good.strip():
        raise vsu.Fail("QEMU with our EIF: status %r, exit status %s, "
                       "output %r (expected prelaunch, 0 and nothing)" %
                       (state.get("status"), status, out_good.strip()))
    return "QEMU: corrupt EIF: %s; ours: loaded, machine %s" % (
        vsu.last_line(out_bad)[:80], state.get("status"))


def check_eif_nitro_enclave_heartbeat(r, tmp):
    """Our EIF on -M nitro-enclave with no vhost (standalone mode)."""
    r.need_machine("nitro-enclave")
    r.need_device("virtio-vsock-user")
    path = os.path.join(tmp, "guest.eif")
    p = subprocess.run([sys.executable, vsu.EIF_PY, "build",
                        "--kernel", r.args.kernel,
                        "--cmdline", vsu.CMDLINE_MICROVM,
                        "--ramdisk", r.args.initramfs, "-o", path],
                       capture_output=True, text=True)
    if p.returncode:
        raise vsu.Fail("eif.py build failed: %s" % p.stderr.strip())
    # QEMU appends -append to the EIF's own command line.
    b = r.boot(tmp, "microvm", "heartbeat",
               ["-trace", "nitro_heartbeat_done"], timeout=90, kernel=path,
               initrd=False, machine_args=["-M", "nitro-enclave"],
               cmdline="")
    if b.result is None and ("vhost-user-vsock" in b.qemu_log or
                             "'vsock' machine option" in b.qemu_log):
        raise vsu.Skip("nitro-enclave still needs vsock=<chardev> for "
                   "vhost-user-vsock (standalone mode not built yet)")
    r.expect_pass(b, "heartbeat")
    # answered by the nitro-heartbeat device model, once
    done = re.findall(r"\bnitro_heartbeat_done\b", b.qemu_log)
    if len(done) != 1:
        raise vsu.Fail("trace event nitro_heartbeat_done seen %d times, "
                       "expected once" % len(done))
    return "init at %ss guest uptime, answered by nitro-heartbeat" % \
        b.uptime_at_init


class VsockUserBoot(vsu.VsockUserTest):

    def test_boot_microvm(self):
        self.note(check_boot_microvm(self, self.tmp))

    def test_boot_pc(self):
        self.note(check_boot_pc(self, self.tmp))

    def test_loopback_microvm(self):
        self.note(check_loopback_microvm(self, self.tmp))

    def test_eif_qemu_loader(self):
        self.note(check_eif_qemu_loader(self, self.tmp))

    def test_heartbeat_microvm(self):
        self.note(check_heartbeat_microvm(self, self.tmp))

    def test_connect_reset_microvm(self):
        self.note(check_connect_reset_microvm(self, self.tmp))

    def test_close_200_microvm(self):
        self.note(check_close_200_microvm(self, self.tmp))

    def test_heartbeat_pc(self):
        self.note(check_heartbeat_pc(self, self.tmp))

    def test_close_200_pc(self):
        self.note(check_close_200_pc(self, self.tmp))

    def test_eif_nitro_enclave_heartbeat(self):
        self.note(check_eif_nitro_enclave_heartbeat(self, self.tmp))


if __name__ == '__main__':
    vsu.VsockUserTest.main()
