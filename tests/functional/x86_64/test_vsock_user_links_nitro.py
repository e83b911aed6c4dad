#!/usr/bin/env python3
#
# virtio-vsock-user functional tests: links with -M nitro-enclave machines
#
# Enclaves as the nitro-enclave machine boots them (an EIF, the device the
# machine makes, enclave-cid=) linked to a parent VM (a microvm guest with
# CID 3):
#
#   links-nitro-parent        -M nitro-enclave boots the demo EIF with a link
#                             to a parent VM (guest CID 3) whose own
#                             listeners answer the heartbeat on 3:9000 and
#                             take the greeting on 3:5005
#   links-nitro-relay         two nitro-enclave machines (CIDs 16 and 17)
#                             linked to one parent VM with relay-cids: 1 MiB
#                             from enclave 16 to enclave 17 through it, and
#                             a SEQPACKET exchange of messages back from 17
#                             to 16, message boundaries kept
#
# The guests' and the links' helpers are in ../vsock_user_link.py.
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
import vsock_user_host as hs
from vsock_user_link import (expect_same_stream, guest_args, link_args,
                             obj_stat, relay_parent_args)

TOP = vsu.ROOT
sys.path.insert(0, os.path.join(TOP, "scripts"))
import eif  # noqa: E402  (scripts/eif.py)


def check_nitro_parent(r, tmp):
    """-M nitro-enclave boots the demo EIF; a parent VM (CID 3) answers."""
    r.need_machine("nitro-enclave")
    r.need_device("virtio-vsock-user")
    p = subprocess.run(["bash", os.path.join(TOP, "contrib", "nitro-demo",
                                                 "build.sh")],
                           capture_output=True, text=True, timeout=900)
    if p.returncode != 0:
        raise vsu.Fail("contrib/nitro-demo/build.sh failed: %s" %
                       vsu.last_line(p.stderr))
    eif_path = p.stdout.strip().splitlines()[-1]
    dp = os.path.join(tmp, "parent")
    os.mkdir(dp)
    link = os.path.join(tmp, "enc16.sock")
    parent = hs.Guest(r, dp, "microvm", "link-parent",
                      link_args(link, True, [16]) +
                      guest_args("microvm", 3), timeout=180)
    parent.wait_for("PARENT-READY")
    cmd = [r.qemu, "-M", "nitro-enclave", "-kernel", eif_path, "-nographic",
           "-no-reboot", "-m", "512M", "-accel", r.accel or "tcg",
           "-object", "vsock-user-link,id=parent,addr=unix:%s,cids=3" % link]
    with open(os.path.join(tmp, "enclave-cmdline.txt"), "w") as f:
        f.write(" ".join(vsu.shell_quote(a) for a in cmd) + "\n")
    e = subprocess.run(cmd, capture_output=True, text=True, timeout=120,
                           stdin=subprocess.DEVNULL)
    out = e.stdout + e.stderr
    with open(os.path.join(tmp, "enclave.log"), "w") as f:
        f.write(out)
    b = parent.finish()
    for want in ("enclave: heartbeat OK", "enclave: application exited"):
        if want not in out:
            raise vsu.Fail("missing %r in the enclave's output: %s" %
                           (want, vsu.last_line(out)))
    r.expect_pass(b, "link-parent")
    m = re.search(r"PARENT-GREETING: (.*)", b.serial)
    return "the parent VM's own listeners served the heartbeat and got: %s" \
        % (m.group(1).strip()[:60] if m else "?")


def enclave_eif(r, tmp, name, params):
    """An EIF of the test guest (its kernel and initramfs) whose command
    line runs the scenario and PARAMS given."""
    cmdline = vsu.CMDLINE_MICROVM + "".join(
        " vsocktest.%s=%s" % kv for kv in params.items())
    with open(r.args.kernel, "rb") as k, open(r.args.initramfs, "rb") as i:
        image = eif.build(k.read(), cmdline, [i.read()])
    path = os.path.join(tmp, name + ".eif")
    with open(path, "wb") as f:
        f.write(image)
    return path


def start_enclave(r, tmp, name, cid, eif_path, link_path, other):
    """-M nitro-enclave,enclave-cid=CID booting EIF_PATH, its link to the
    parent carrying the parent (3) and the OTHER enclave; returns the
    process and its console's file."""
    log = os.path.join(tmp, name + ".log")
    cmd = [r.qemu, "-M", "nitro-enclave,enclave-cid=%d" % cid,
           "-kernel", eif_path, "-nographic", "-no-reboot", "-m", "512M",
           "-accel", r.accel or "tcg",
           "-object", "vsock-user-link,id=parent,addr=unix:%s,cids=3,"
           "cids=%d,reconnect-ms=100" % (link_path, other)]
    with open(os.path.join(tmp, name + "-cmdline.txt"), "w") as f:
        f.write(" ".join(vsu.shell_quote(a) for a in cmd) + "\n")
    with open(log, "w") as out:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT)
    return proc, log


def enclave_boot(proc, log, scenario, timeout):
    """The enclave's outcome as a vsu.Boot: its console is its serial."""
    b = vsu.Boot()
    t0 = time.monotonic()
    try:
        b.status = proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        b.timed_out = True
        proc.kill()
        proc.wait()
    b.elapsed = time.monotonic() - t0
    b.serial = b.qemu_log = vsu.read_text(log)
    b.read_result(scenario)
    return b


SEQ_SIZES = (1, 100, 3733, 65536, 65537)


def check_nitro_relay(r, tmp):
    """Two nitro-enclave machines relayed by their parent VM: a stream
    from 16 to 17, then SEQPACKET messages from 17 to 16."""
    r.need_machine("nitro-enclave")
    r.need_device("virtio-vsock-user")
    dp = os.path.join(tmp, "parent")
    os.mkdir(dp)
    l16, l17 = (os.path.join(tmp, "enc%d.sock" % c) for c in (16, 17))
    nbytes = 1 << 20
    sizes = ",".join(str(n) for n in SEQ_SIZES)
    parent = hs.Guest(r, dp, "microvm", "link-idle",
                      relay_parent_args(l16, l17, True) +
                      guest_args("microvm", 3), timeout=300)
    parent.wait_for("LINK-IDLE")
    procs = []
    for cid, other, role, path in ((17, 16, "b", l17), (16, 17, "a", l16)):
        image = enclave_eif(r, tmp, "e%d" % cid, {
            "scenario": "link-relay-pair", "role": role, "peercid": other,
            "port": 5800, "bytes": nbytes, "sizes": sizes})
        procs.append(start_enclave(r, tmp, "e%d" % cid, cid, image, path,
                                   other))
    b17, b16 = (enclave_boot(p, log, "link-relay-pair", 240)
                for p, log in procs)
    relayed = (obj_stat(parent, "l0", "relayed"),
               obj_stat(parent, "l1", "relayed"))
    parent.qmp.cmd("quit")
    parent.proc.wait(timeout=30)
    expect_same_stream(r, b16, b17, ("link-relay-pair", "link-relay-pair"))
    want_recv = "SEQPACKET recv port=5801 n=%d bytes=%d" % (len(SEQ_SIZES),
                                                            sum(SEQ_SIZES))
    want_send = "SEQPACKET send port=5801 n=%d bytes=%d" % (len(SEQ_SIZES),
                                                            sum(SEQ_SIZES))
    for b, want in ((b16, want_recv), (b17, want_send)):
        if want not in b.serial:
            raise vsu.Fail("no '%s' in the enclave's console: %s" %
                           (want, vsu.guest_failure_hint(b.serial)))
    if not relayed[0] or not relayed[1]:
        raise vsu.Fail("relayed counters %s: expected frames both ways" %
                       (relayed,))
    return "1 MiB from nitro-enclave 16 to 17 through the parent, sha256 " \
        "equal; %d SEQPACKET messages (%d bytes, MSG_EOR) from 17 to 16; " \
        "relayed %d + %d frames" % ((len(SEQ_SIZES), sum(SEQ_SIZES)) +
                                    relayed)


class VsockUserLinksNitro(vsu.VsockUserTest):

    def test_links_nitro_parent(self):
        self.note(check_nitro_parent(self, self.tmp))

    def test_links_nitro_relay(self):
        self.note(check_nitro_relay(self, self.tmp))


if __name__ == '__main__':
    vsu.VsockUserTest.main()
