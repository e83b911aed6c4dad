#!/usr/bin/env python3
#
# virtio-vsock-user functional tests: chardev
#
# The vsock-user chardev and nitro-heartbeat with real guests.
#
# - chardev-qmp-microvm: the guest runs query-status on its own QEMU's QMP
#   monitor, which QEMU puts on a vsock port (-mon chardev= on a vsock-user
#   chardev): the command line of docs/system/devices/virtio/
#   vsock-user-chardev.rst.
# - nitro-enclave-heartbeat-reset: the EIF on -M nitro-enclave answers its
#   heartbeat through nitro-heartbeat (trace event nitro_heartbeat_done),
#   reboots, and heartbeats again in the same QEMU.
#
# Copyright (c) 2026 The virtio-vsock-user authors
#
# SPDX-License-Identifier: GPL-2.0-or-later

import os
import re
import subprocess
import sys
import time

import vsock_user as vsu


VSOCK_MMIO = ["-device", "virtio-vsock-user,guest-cid=16,parent-cid=3"]
TRACE_RE = re.compile(r"\bnitro_heartbeat_(done|rearm)\b")


def check_qmp_microvm(r, tmp):
    r.need_device("virtio-vsock-user")
    b = r.boot(tmp, "microvm", "qmp",
               VSOCK_MMIO + ["-chardev", "vsock-user,id=qmp0,port=4444",
                             "-mon", "chardev=qmp0,mode=control"],
               timeout=60, params={"port": 4444})
    r.expect_pass(b, "qmp")
    status = vsu.guest_value(b.serial, "QMP OK", "status")
    if status != "running":
        raise vsu.Fail("query-status over vsock said %s" % status)
    return "query-status over vsock: %s (QEMU %s)" % (
        status, vsu.guest_value(b.serial, "QMP OK", "greeting"))


def build_eif(r, tmp):
    path = os.path.join(tmp, "guest.eif")
    p = subprocess.run([sys.executable, vsu.EIF_PY, "build",
                        "--kernel", r.args.kernel,
                        "--cmdline", vsu.CMDLINE_MICROVM,
                        "--ramdisk", r.args.initramfs, "-o", path],
                       capture_output=True, text=True)
    if p.returncode:
        raise vsu.Fail("eif.py build failed: %s" % p.stderr.strip())
    return path


def check_enclave_reset(r, tmp):
    """A rebooting enclave gets its heartbeat answered every time."""
    r.need_machine("nitro-enclave")
    eif_path = build_eif(r, tmp)
    serial = os.path.join(tmp, "serial.log")
    qlog = os.path.join(tmp, "qemu.log")
    # No -no-reboot and no isa-debug-exit: after its heartbeat the guest's
    # /init reboots (reboot -f, reboot=t), and QEMU resets the enclave.
    cmd = ([r.qemu, "-M", "nitro-enclave", "-accel", r.accel or "tcg",
            "-m", "256M", "-nodefaults", "-no-user-config",
            "-display", "none", "-serial", "file:" + serial] + r.fw_args +
           ["-kernel", eif_path, "-append", "vsocktest.scenario=heartbeat",
            "-trace", "nitro_heartbeat_done", "-trace",
            "nitro_heartbeat_rearm"])
    with open(os.path.join(tmp, "cmdline.txt"), "w") as f:
        f.write(" ".join(vsu.shell_quote(a) for a in cmd) + "\n")
    passes = 0
    with open(qlog, "w") as out:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 180
            while passes < 2:
                if proc.poll() is not None:
                    raise vsu.Fail("QEMU exited (status %d) after %d "
                                   "heartbeat(s): %s" %
                                   (proc.returncode, passes,
                                    vsu.last_line(vsu.read_text(qlog))))
                if time.monotonic() > deadline:
                    raise vsu.Fail("%d heartbeat(s) in 180 s" % passes)
                text = vsu.read_text(serial)
                if "VSOCKTEST-RESULT: heartbeat FAIL" in text:
                    raise vsu.Fail("a heartbeat failed: %s" %
                                   vsu.guest_failure_hint(text))
                passes = text.count("VSOCKTEST-RESULT: heartbeat PASS")
                time.sleep(0.2)
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    text = vsu.read_text(serial)
    passes = text.count("VSOCKTEST-RESULT: heartbeat PASS")
    events = TRACE_RE.findall(vsu.read_text(qlog))
    done, rearm = events.count("done"), events.count("rearm")
    # one answer per boot, armed again by every reset in between
    if done != passes or rearm < passes - 1 or rearm > passes:
        raise vsu.Fail("%d heartbeats passed, nitro-heartbeat answered %d "
                       "and was armed again %d times" %
                       (passes, done, rearm))
    return "%d boots, %d answers from nitro-heartbeat, %d re-arms" % (
        passes, done, rearm)


class VsockUserChardev(vsu.VsockUserTest):

    def test_chardev_qmp_microvm(self):
        self.note(check_qmp_microvm(self, self.tmp))

    def test_nitro_enclave_heartbeat_reset(self):
        self.note(check_enclave_reset(self, self.tmp))


if __name__ == '__main__':
    vsu.VsockUserTest.main()
