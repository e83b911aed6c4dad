#!/usr/bin/env python3
#
# virtio-vsock-user functional tests: links over TLS
#
# Links between two QEMUs over TCP on 127.0.0.1 with TLS.
#
# The guests' and the link's helpers are in ../vsock_user_link.py.
#
#   links-tls-microvm         two QEMUs linked over TCP on 127.0.0.1 with
#                             tls-creds-psk: 4 MiB cross intact; a peer
#                             without TLS never brings the link up, and one
#                             that connects while the link is up is dropped
#                             without touching it
#   links-tls-wrong-key-microvm  PSK keys differ: no link, tls-failures
#                             counted, the guests' connects get ECONNRESET
#   links-tls-x509-microvm    tls-creds-x509, certificates made by openssl
#   links-tls-x509-wrong-ca-microvm  each end's certificates from a CA the
#                             other does not trust: as a wrong PSK key
#
# Copyright (c) 2026 The virtio-vsock-user authors
#
# SPDX-License-Identifier: GPL-2.0-or-later

import os
import shutil
import socket
import subprocess
import sys

import vsock_user as vsu
import vsock_user_host as hs
from vsock_user_link import (closed_by_qemu, expect_same_stream, guest_args,
                             hello, link_stat, wait_link)



def check_tls(r, tmp):
    """Two QEMUs linked over TCP with tls-creds-psk; a plain peer is not."""
    r.need_device("virtio-vsock-user")
    da, db, psk = (os.path.join(tmp, d) for d in ("a", "b", "psk"))
    for d in (da, db, psk):
        os.mkdir(d)
    with open(os.path.join(psk, "keys.psk"), "w") as f:
        f.write("qemu:%s\n" % os.urandom(32).hex())
    lsock, port = hs.tcp_listen_fd()
    nbytes = 4 << 20

    def creds(endpoint):
        return ["-object", "tls-creds-psk,id=tls0,endpoint=%s,dir=%s%s" %
                (endpoint, psk, ",username=qemu" if endpoint == "client"
                 else "")]

    a = hs.Guest(r, da, "microvm", "link-send",
                 creds("server") +
                 ["-object", "vsock-user-link,id=l0,vsock=%s,addr=fd:%d,"
                  "server=on,cids=6,tls-creds=tls0" %
                  (hs.DEV_ID, lsock.fileno())] +
                 guest_args("microvm", 5),
                 params={"peercid": 6, "port": 5700, "bytes": nbytes},
                 timeout=240, pass_fds=(lsock.fileno(),))
    lsock.close()
    # a peer without TLS never brings the link up; the socket listens
    # already, so it connects at once and QEMU accepts it when it runs
    plain = socket.create_connection(("127.0.0.1", port), timeout=5)
    plain.sendall(hello(6, [5]))
    if not closed_by_qemu(plain):
        raise vsu.Fail("QEMU kept a plain-text peer on a TLS link")
    plain.close()
    if link_stat(a, "state") == "up":
        raise vsu.Fail("a plain-text peer brought a TLS link up")
    b = hs.Guest(r, db, "microvm", "link-recv",
                 creds("client") +
                 ["-object", "vsock-user-link,id=l0,vsock=%s,addr=127.0.0.1:"
                  "%d,cids=5,tls-creds=tls0,reconnect-ms=100" %
                  (hs.DEV_ID, port)] + guest_args("microvm", 6),
                 params={"port": 5700, "bytes": nbytes}, timeout=240)
    wait_link(a, "state", lambda v: v == "up", what="up")
    # a plain peer while the link is up (b's guest still boots): it is
    # dropped at its first bytes and the link stays as it is
    stranger = socket.create_connection(("127.0.0.1", port), timeout=5)
    stranger.sendall(hello(6, [5]))
    if not closed_by_qemu(stranger):
        raise vsu.Fail("QEMU kept a plain-text peer next to its TLS link")
    stranger.close()
    after = {k: link_stat(a, k) for k in ("state", "reconnects",
                                          "tls-failures")}
    if after != {"state": "up", "reconnects": 0, "tls-failures": 2}:
        raise vsu.Fail("after a plain peer next to the TLS link: %s, "
                       "expected up, 0 reconnects, 2 TLS failures" % after)
    ba = a.finish()
    bb = b.finish()
    expect_same_stream(r, ba, bb)
    return "4 MiB over TLS-PSK on 127.0.0.1, sha256 equal; plain peers " \
        "refused, before the link was up and next to it"


def check_tls_wrong_key(r, tmp):
    """PSK keys that differ: the link never comes up, both QEMUs run on,
    counted, and both guests' connects are refused at once."""
    r.need_device("virtio-vsock-user")
    da, db, ka, kb = (os.path.join(tmp, d) for d in ("a", "b", "ka", "kb"))
    for d in (da, db, ka, kb):
        os.mkdir(d)
    for d in (ka, kb):
        with open(os.path.join(d, "keys.psk"), "w") as f:
            f.write("qemu:%s\n" % os.urandom(32).hex())

    def creds(endpoint, d):
        return ["-object", "tls-creds-psk,id=tls0,endpoint=%s,dir=%s%s" %
                (endpoint, d, ",username=qemu" if endpoint == "client"
                 else "")]

    expect_tls_refused(r, da, db, creds("server", ka), creds("client", kb))
    return "wrong PSK: link never up, TLS failures counted on both, both " \
        "guests' connects refused with ECONNRESET"


def expect_tls_refused(r, da, db, creds_a, creds_b):
    """Guest 5 (listening link, @creds_a) and guest 6 (connecting link,
    @creds_b) whose TLS handshakes fail: the link never comes up, both
    QEMUs count the failures and report them once, and every connect of
    both guests to the other is refused at once."""
    lsock, port = hs.tcp_listen_fd()
    fd = lsock.fileno()
    a = hs.Guest(r, da, "microvm", "link-refused",
                 creds_a +
                 ["-object", "vsock-user-link,id=l0,vsock=%s,addr=fd:%d,"
                  "server=on,cids=6,tls-creds=tls0" % (hs.DEV_ID, fd)] +
                 guest_args("microvm", 5),
                 params={"peercid": 6, "port": 5700, "count": 6},
                 timeout=240, pass_fds=(fd,))
    lsock.close()
    b = hs.Guest(r, db, "microvm", "link-refused",
                 creds_b +
                 ["-object", "vsock-user-link,id=l0,vsock=%s,addr=127.0.0.1:"
                  "%d,cids=5,tls-creds=tls0,reconnect-ms=200" %
                  (hs.DEV_ID, port)] + guest_args("microvm", 6),
                 params={"peercid": 5, "port": 5700, "count": 6},
                 timeout=240)
    wait_link(b, "tls-failures", lambda v: v >= 2, what="2 TLS failures")
    wait_link(a, "tls-failures", lambda v: v >= 2, what="2 TLS failures")
    for g in (a, b):
        state = link_stat(g, "state")
        if state == "up":
            raise vsu.Fail("the link came up without a TLS session")
    ba = a.finish()
    bb = b.finish()
    for boot in (ba, bb):
        r.expect_pass(boot, "link-refused")
    for g, who in ((a, "that connected to fd:%d" % fd),
                   (b, "listening on 127.0.0.1:%d" % port)):
        log = vsu.read_text(g.qlog_path)
        want = "TLS with the QEMU %s failed" % who
        if log.count(want) != 1:
            raise vsu.Fail("'%s' reported %d times, expected once: %s" %
                           (want, log.count(want), vsu.last_line(log)))


def openssl(args, cwd):
    p = subprocess.run(["openssl"] + args, cwd=cwd, capture_output=True,
                       text=True, timeout=60)
    if p.returncode != 0:
        raise vsu.Fail("openssl %s: %s" % (args[0], vsu.last_line(p.stderr)))


def make_x509(d):
    """A CA, a server cert for 127.0.0.1 and a client cert, as
    tls-creds-x509 wants them in dir= (ca-cert.pem, server-*.pem,
    client-*.pem)."""
    with open(os.path.join(d, "ext.cnf"), "w") as f:
        f.write("[server]\nbasicConstraints=critical,CA:FALSE\n"
                "keyUsage=critical,digitalSignature,keyEncipherment\n"
                "extendedKeyUsage=serverAuth\n"
                "subjectAltName=IP:127.0.0.1\n"
                "[client]\nbasicConstraints=critical,CA:FALSE\n"
                "keyUsage=critical,digitalSignature,keyEncipherment\n"
                "extendedKeyUsage=clientAuth\n")
    openssl(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
             "-subj", "/CN=vsock-user test CA", "-keyout", "ca-key.pem",
             "-out", "ca-cert.pem", "-addext",
             "basicConstraints=critical,CA:TRUE", "-addext",
             "keyUsage=critical,keyCertSign,cRLSign"], d)
    for who in ("server", "client"):
        openssl(["req", "-newkey", "rsa:2048", "-nodes", "-subj",
                 "/CN=127.0.0.1" if who == "server" else "/CN=client",
                 "-keyout", who + "-key.pem", "-out", who + ".csr"], d)
        openssl(["x509", "-req", "-in", who + ".csr", "-CA", "ca-cert.pem",
                 "-CAkey", "ca-key.pem", "-CAcreateserial", "-days", "2",
                 "-extfile", "ext.cnf", "-extensions", who,
                 "-out", who + "-cert.pem"], d)


def check_tls_x509(r, tmp):
    """tls-creds-x509 (verify-peer at both ends) over TCP on 127.0.0.1."""
    r.need_device("virtio-vsock-user")
    if not shutil.which("openssl"):
        raise vsu.Skip("no openssl (scripts/install-deps.sh installs it)")
    da, db, pki = (os.path.join(tmp, d) for d in ("a", "b", "pki"))
    for d in (da, db, pki):
        os.mkdir(d)
    make_x509(pki)
    lsock, port = hs.tcp_listen_fd()
    nbytes = 1 << 20
    a = hs.Guest(r, da, "microvm", "link-send",
                 ["-object", "tls-creds-x509,id=tls0,endpoint=server,dir=%s,"
                  "verify-peer=on" % pki,
                  "-object", "vsock-user-link,id=l0,vsock=%s,addr=fd:%d,"
                  "server=on,cids=6,tls-creds=tls0" %
                  (hs.DEV_ID, lsock.fileno())] +
                 guest_args("microvm", 5),
                 params={"peercid": 6, "port": 5700, "bytes": nbytes},
                 timeout=240, pass_fds=(lsock.fileno(),))
    lsock.close()
    b = hs.Guest(r, db, "microvm", "link-recv",
                 ["-object", "tls-creds-x509,id=tls0,endpoint=client,dir=%s,"
                  "verify-peer=on" % pki,
                  "-object", "vsock-user-link,id=l0,vsock=%s,addr=127.0.0.1:"
                  "%d,cids=5,tls-creds=tls0,reconnect-ms=100" %
                  (hs.DEV_ID, port)] + guest_args("microvm", 6),
                 params={"port": 5700, "bytes": nbytes}, timeout=240)
    wait_link(a, "state", lambda v: v == "up", what="up")
    ba = a.finish()
    bb = b.finish()
    expect_same_stream(r, ba, bb)
    return "1 MiB over TLS-x509 (CA, server cert for 127.0.0.1, client " \
        "cert) on 127.0.0.1, sha256 equal"


def check_tls_x509_wrong_ca(r, tmp):
    """tls-creds-x509 with verify-peer, each end's certificates from a CA
    the other does not trust: the link never comes up."""
    r.need_device("virtio-vsock-user")
    if not shutil.which("openssl"):
        raise vsu.Skip("no openssl (scripts/install-deps.sh installs it)")
    da, db, pa, pb = (os.path.join(tmp, d) for d in ("a", "b", "pa", "pb"))
    for d in (da, db, pa, pb):
        os.mkdir(d)
    make_x509(pa)
    make_x509(pb)

    def creds(endpoint, d):
        return ["-object", "tls-creds-x509,id=tls0,endpoint=%s,dir=%s,"
                "verify-peer=on" % (endpoint, d)]

    expect_tls_refused(r, da, db, creds("server", pa), creds("client", pb))
    return "x509 from two CAs: link never up, TLS failures counted on " \
        "both, both guests' connects refused with ECONNRESET"


class VsockUserLinksTls(vsu.VsockUserTest):

    def test_links_tls_microvm(self):
        self.note(check_tls(self, self.tmp))

    def test_links_tls_wrong_key_microvm(self):
        self.note(check_tls_wrong_key(self, self.tmp))

    def test_links_tls_x509_microvm(self):
        self.note(check_tls_x509(self, self.tmp))

    def test_links_tls_x509_wrong_ca_microvm(self):
        self.note(check_tls_x509_wrong_ca(self, self.tmp))


if __name__ == '__main__':
    vsu.VsockUserTest.main()
