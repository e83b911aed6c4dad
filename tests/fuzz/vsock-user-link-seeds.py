#!/usr/bin/env python3
"""Seeds and a dictionary for the vsock-user-link fuzz targets.

usage: vsock-user-link-seeds.py --dict FILE [--check]
       vsock-user-link-seeds.py --seeds DIR

The targets (tests/qtest/fuzz/vsock-user-link-fuzz.c) play the QEMU at the
other end of a link: the guest behind it has CID 7, the device's guest CID
16; the link relays to CID 8.  An input is a flags byte, with REPEAT a
repeat count byte, then the bytes the peer sends after its hello (with
RAW_HELLO: all it sends, hello included).

The seeds are what the other QEMU sends in a session as the link
documentation describes it (docs/system/devices/virtio/vsock-user-links.rst,
"The wire"): a connection opened from guest 7 to guest 16 (REQUEST), data,
credit, shutdown and RST; SEQPACKET messages; a connection answered
(RESPONSE); hellos of every kind the link refuses; frames for a relayed
CID and from a CID the link does not carry; a flood of either; malformed
headers.  They are built here from the format, not recorded.

The dictionary (libFuzzer -dict format, committed as
tests/fuzz/vsock-user-link.dict; --check compares) holds those headers,
hellos and CIDs.
"""

import argparse
import struct

import fuzz_seeds

OPS = {"REQUEST": 1, "RESPONSE": 2, "RST": 3, "SHUTDOWN": 4, "RW": 5,
       "CREDIT_UPDATE": 6, "CREDIT_REQUEST": 7}
STREAM, SEQPACKET = 1, 2
EOM, EOR = 1, 2
GUEST_CID, PEER_CID, RELAY_CID, OTHER_CID = 16, 7, 8, 9
HELLO_MAGIC, HELLO_VERSION = 0x4b4e4c56, 1
PEER_PORT, GUEST_PORT = 1024, 5000
BUF_ALLOC = 256 * 1024

# the input's first byte (vsock-user-link-fuzz.c)
F_RAW_HELLO, F_GUEST, F_NO_READ, F_REPEAT, F_HALF_CLOSE, F_RESET = (
    0x01, 0x02, 0x04, 0x08, 0x10, 0x20)


def hdr(op, length=0, src_cid=PEER_CID, dst_cid=GUEST_CID,
        src_port=PEER_PORT, dst_port=GUEST_PORT, type_=STREAM, flags=0,
        buf_alloc=BUF_ALLOC, fwd_cnt=0):
    """struct virtio_vsock_hdr, 44 bytes, little-endian."""
    return struct.pack("<QQIIIHHIII", src_cid, dst_cid, src_port, dst_port,
                       length, type_, op, flags, buf_alloc, fwd_cnt)


def hello(src_cid=PEER_CID, cids=(GUEST_CID,), version=HELLO_VERSION):
    return (struct.pack("<QQIIIHHIII", src_cid, 0, HELLO_MAGIC, version,
                        8 * len(cids), 0, 0, 0, 0, 0) +
            b"".join(struct.pack("<Q", c) for c in cids))


def pkt(op, payload=b"", **kw):
    return hdr(OPS[op], len(payload), **kw) + payload


def stream_session():
    return (pkt("REQUEST") + pkt("RW", b"hello") +
            pkt("CREDIT_REQUEST") + pkt("CREDIT_UPDATE", fwd_cnt=5) +
            pkt("RW", bytes(range(256)) * 16) + pkt("SHUTDOWN", flags=3) +
            pkt("RST"))


def seqpacket_session():
    return (pkt("REQUEST", type_=SEQPACKET) +
            pkt("RW", b"part", type_=SEQPACKET) +
            pkt("RW", b"end", type_=SEQPACKET, flags=EOM | EOR) +
            pkt("SHUTDOWN", type_=SEQPACKET, flags=3))


def many_connections(n=80):
    return b"".join(pkt("REQUEST", src_port=PEER_PORT + i) for i in range(n))


def seeds():
    s = {}
    for guest in (0, F_GUEST):
        g = "guest" if guest else "noguest"
        s["stream-" + g] = bytes([guest]) + stream_session()
        s["seqpacket-" + g] = bytes([guest]) + seqpacket_session()
        s["response-" + g] = bytes([guest]) + pkt("RESPONSE")
        s["many-conns-" + g] = bytes([guest]) + many_connections()
        s["rw-64k-" + g] = (bytes([guest]) + pkt("REQUEST") +
                            pkt("RW", b"\xa5" * 65536))
        s["flood-rw-" + g] = (bytes([guest | F_REPEAT, 64]) +
                              pkt("RW", b"x" * 100))
        s["reset-" + g] = bytes([guest | F_RESET]) + pkt("REQUEST")
        s["half-close-" + g] = (bytes([guest | F_HALF_CLOSE]) +
                                stream_session())
        s["no-read-" + g] = (bytes([guest | F_NO_READ | F_REPEAT, 16]) +
                             pkt("REQUEST", type_=3))
    s["relay"] = bytes([0]) + pkt("REQUEST", dst_cid=RELAY_CID)
    s["refused-dst"] = bytes([0]) + pkt("REQUEST", dst_cid=OTHER_CID)
    s["foreign-src"] = bytes([0]) + pkt("REQUEST", src_cid=OTHER_CID)
    s["flood-foreign-src"] = (bytes([F_REPEAT, 255]) +
                              pkt("RW", src_cid=OTHER_CID))
    s["flood-refused-dst"] = (bytes([F_REPEAT, 255]) +
                              pkt("RST", dst_cid=OTHER_CID))
    s["bad-type"] = bytes([0]) + pkt("REQUEST", type_=3)
    s["bad-op"] = bytes([0]) + hdr(9)
    s["long-len"] = bytes([0]) + hdr(OPS["RW"], 65537)
    s["payload-not-rw"] = bytes([0]) + hdr(OPS["REQUEST"], 4) + b"abcd"
    s["split-frame"] = bytes([0]) + pkt("RW", b"x" * 100)[:70]
    s["raw-hello-good"] = bytes([F_RAW_HELLO]) + hello() + pkt("REQUEST")
    s["raw-hello-own-cid"] = bytes([F_RAW_HELLO]) + hello(src_cid=GUEST_CID)
    s["raw-hello-uncarried"] = bytes([F_RAW_HELLO]) + hello(src_cid=OTHER_CID)
    s["raw-hello-no-guest"] = bytes([F_RAW_HELLO]) + hello(cids=(PEER_CID,))
    s["raw-hello-many-cids"] = bytes([F_RAW_HELLO]) + hello(
        cids=tuple(range(3, 3 + 70)))
    s["raw-hello-version"] = bytes([F_RAW_HELLO]) + hello(version=2)
    s["raw-hello-half"] = bytes([F_RAW_HELLO]) + hello()[:20]
    s["raw-frame-first"] = bytes([F_RAW_HELLO]) + pkt("REQUEST")
    return s


def dictionary():
    lines = ['# vsock-user-link: generated by tests/fuzz/'
             'vsock-user-link-seeds.py --dict; do not edit']

    def esc(b):
        return "".join("\\x%02x" % c for c in b)

    for name, op in sorted(OPS.items(), key=lambda x: x[1]):
        for type_, tname in ((STREAM, "stream"), (SEQPACKET, "seqpacket")):
            h = hdr(op, type_=type_,
                    flags=3 if name == "SHUTDOWN" else 0)
            lines.append('%s_%s="%s"' % (tname, name.lower(), esc(h)))
    for name, val in (
            ("hello", hello()),
            ("hello_hdr", hello()[:44]),
            ("hello_magic", struct.pack("<I", HELLO_MAGIC)),
            ("cids_peer_guest", struct.pack("<QQ", PEER_CID, GUEST_CID)),
            ("cids_peer_relay", struct.pack("<QQ", PEER_CID, RELAY_CID)),
            ("cid_guest", struct.pack("<Q", GUEST_CID)),
            ("cid_peer", struct.pack("<Q", PEER_CID)),
            ("cid_relay", struct.pack("<Q", RELAY_CID)),
            ("len_64k", struct.pack("<I", 65536)),
            ("len_over", struct.pack("<I", 65537)),
            ("buf_alloc", struct.pack("<I", BUF_ALLOC)),
            ("eom_eor", struct.pack("<I", EOM | EOR))):
        lines.append('%s="%s"' % (name, esc(val)))
    return "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dict", metavar="FILE")
    ap.add_argument("--check", action="store_true",
                    help="with --dict: fail if FILE is not what it would be")
    ap.add_argument("--seeds", metavar="DIR")
    args = ap.parse_args()
    if args.dict:
        fuzz_seeds.write_dict(args.dict, dictionary(), args.check)
    if args.seeds:
        fuzz_seeds.write_seeds(args.seeds, seeds())


if __name__ == "__main__":
    main()
