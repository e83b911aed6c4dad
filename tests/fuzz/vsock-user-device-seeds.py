#!/usr/bin/env python3
"""Seeds and a dictionary for QEMU's generic-fuzz on virtio-vsock-user.

usage: vsock-user-device-seeds.py --dict FILE
       vsock-user-device-seeds.py --seeds DIR --transport mmio|pci

The dictionary (libFuzzer -dict format, committed as
tests/fuzz/vsock-user-device.dict; --check compares) holds 44-byte
little-endian virtio_vsock_hdr values for both CID layouts (guest 16 /
parent 3 on microvm, guest 3 / host 2 on pc) to the ports the fuzz
configurations serve (hybrid 5000 and 1234, forward 8000, heartbeat 9000),
every op, and the virtio register values a driver writes.

A seed is a generic-fuzz command stream (tests/qtest/fuzz/generic_fuzz.c):
commands separated by "FUZZ", the first byte of each an opcode.  Each seed
initialises the device as a driver does (status, features, the three
queues), then adds DMA patterns and kicks the tx queue.  generic-fuzz fills
every region the device reads from guest memory with the next pattern in
turn, so the patterns are, in the order the device reads them: the avail
index, the avail ring entry, the descriptor, the packet.  The device may
read other ring fields first (notification flags), so the seeds come in
every rotation of that list.  Neither seeds nor dictionary need be exact;
they put the fuzzer past the header checks sooner.
"""

import argparse
import struct

import fuzz_seeds

# generic_fuzz.c's opcodes
OP_WRITE, OP_ADD_DMA_PATTERN, OP_CLEAR_DMA_PATTERNS, OP_CLOCK_STEP = 3, 7, 8, 9
SEP = b"FUZZ"
BYTE, WORD, LONG, QUAD = range(4)

OPS = {"REQUEST": 1, "RESPONSE": 2, "RST": 3, "SHUTDOWN": 4, "RW": 5,
       "CREDIT_UPDATE": 6, "CREDIT_REQUEST": 7}
STREAM, SEQPACKET = 1, 2
F_SEQPACKET = 1 << 1    # VIRTIO_VSOCK_F_SEQPACKET
EOM, EOR = 1, 2
LAYOUTS = {"mmio": (16, 3), "pci": (3, 2)}      # (guest CID, parent CID)
PORTS = [5000, 1234, 8000, 9000]
GUEST_PORT = 1024
BUF_ALLOC = 256 * 1024

RING = 0x100000        # queue q's rings at RING + q * 0x10000
PACKET = 0x200000      # the packet a seed's descriptor points to
QSIZE = 128


def hdr(src_cid, dst_cid, src_port, dst_port, op, length=0, type_=STREAM,
        flags=0, buf_alloc=BUF_ALLOC, fwd_cnt=0):
    """struct virtio_vsock_hdr, 44 bytes, little-endian."""
    return struct.pack("<QQIIIHHIII", src_cid, dst_cid, src_port, dst_port,
                       length, type_, op, flags, buf_alloc, fwd_cnt)


def write(base, offset, value, size=LONG):
    return bytes([OP_WRITE]) + struct.pack("<BBxxIQ", size, base, offset,
                                           value)


def pattern(data):
    assert SEP not in data
    return bytes([OP_ADD_DMA_PATTERN, 0, 0]) + data


def mmio_init(base):
    """A legacy virtio-mmio driver (microvm's default) taking SEQPACKET
    and bringing up rx, tx and event queues."""
    cmds = [write(base, 0x70, 0), write(base, 0x70, 1), write(base, 0x70, 3),
            write(base, 0x24, 0), write(base, 0x20, F_SEQPACKET),
            write(base, 0x28, 4096)]
    for q in range(3):
        cmds += [write(base, 0x30, q), write(base, 0x38, QSIZE),
                 write(base, 0x3c, 4096),
                 write(base, 0x40, (RING + q * 0x10000) >> 12)]
    cmds.append(write(base, 0x70, 7))
    return cmds, lambda q: write(base, 0x50, q)


def pci_init(common, notify):
    """A modern virtio-pci driver: SEQPACKET and VERSION_1, then the three
    queues."""
    cmds = [write(common, 0x14, 0, BYTE), write(common, 0x14, 1, BYTE),
            write(common, 0x14, 3, BYTE),
            write(common, 0x08, 0), write(common, 0x0c, F_SEQPACKET),
            write(common, 0x08, 1), write(common, 0x0c, 1),
            write(common, 0x14, 0xb, BYTE)]
    for q in range(3):
        ring = RING + q * 0x10000
        cmds += [write(common, 0x16, q, WORD), write(common, 0x18, QSIZE, WORD)]
        for off, addr in ((0x20, ring), (0x28, ring + 0x800),
                          (0x30, ring + 0x1000)):
            cmds += [write(common, off, addr & 0xffffffff),
                     write(common, off + 4, addr >> 32)]
        cmds.append(write(common, 0x1c, 1, WORD))
    cmds.append(write(common, 0x14, 0xf, BYTE))
    # notify_off_multiplier is 4 and queue q's notify_off is q
    return cmds, lambda q: write(notify, 0x3000 + 4 * q, q)


def tx_patterns(idx, head, packet):
    """The DMA patterns for one tx buffer, in the order they are read."""
    desc = struct.pack("<QIHH", PACKET + 0x1000 * head, len(packet), 0, 0)
    return [struct.pack("<H", idx), struct.pack("<H", head), desc, packet]


def seeds(transport):
    guest, parent = LAYOUTS[transport]
    out = {}
    streams = []
    for port in PORTS:
        req = hdr(guest, parent, GUEST_PORT, port, OPS["REQUEST"])
        data = b"GET / HTTP/1.0\r\n\r\n"
        rw = hdr(guest, parent, GUEST_PORT, port, OPS["RW"], len(data)) + data
        shut = hdr(guest, parent, GUEST_PORT, port, OPS["SHUTDOWN"], flags=3)
        streams.append(("port%d" % port, [req, rw, shut]))
    # port 1234's host peer is a SOCK_SEQPACKET listener
    msg = b"one message"
    streams.append(("seqpacket", [
        hdr(guest, parent, GUEST_PORT, 1234, OPS["REQUEST"], type_=SEQPACKET),
        hdr(guest, parent, GUEST_PORT, 1234, OPS["RW"], len(msg),
            type_=SEQPACKET, flags=EOM | EOR) + msg,
        hdr(guest, parent, GUEST_PORT, 1234, OPS["SHUTDOWN"], flags=3,
            type_=SEQPACKET)]))
    streams.append(("credit", [
        hdr(guest, parent, GUEST_PORT, 5000, OPS["REQUEST"]),
        hdr(guest, parent, GUEST_PORT, 5000, OPS["CREDIT_REQUEST"]),
        hdr(guest, parent, GUEST_PORT, 5000, OPS["RST"])]))
    if transport == "mmio":
        # microvm's transports are eight 512-byte regions; the device is on
        # one of them (generic-fuzz counts the matched regions by address)
        inits = [("slot%d" % i, mmio_init(i)) for i in range(8)]
    else:
        # msix table and pba, then BAR4's common, isr, device, notify
        inits = [("bar%d" % i, pci_init(i, i)) for i in range(2, 6)]
        inits = [("bar", pci_init(2, 5))] + inits
    for iname, (init, kick) in inits:
        for sname, packets in streams:
            for rot in range(4):
                cmds = list(init)
                for n, pkt in enumerate(packets):
                    pats = tx_patterns(n + 1, n, pkt)
                    pats = pats[rot:] + pats[:rot]
                    cmds.append(bytes([OP_CLEAR_DMA_PATTERNS]))
                    cmds += [pattern(p) for p in pats]
                    cmds.append(kick(1))
                    cmds.append(bytes([OP_CLOCK_STEP]))
                    cmds.append(kick(0))
                out["%s-%s-r%d" % (iname, sname, rot)] = SEP.join(cmds)
    return out


def dictionary():
    lines = ['# virtio-vsock-user: generated by tests/fuzz/'
             'vsock-user-device-seeds.py --dict; do not edit',
             'separator="FUZZ"']

    def esc(b):
        return "".join("\\x%02x" % c for c in b)

    for transport, (guest, parent) in sorted(LAYOUTS.items()):
        for port in PORTS:
            for name, op in sorted(OPS.items(), key=lambda x: x[1]):
                flags = 3 if name == "SHUTDOWN" else 0
                h = hdr(guest, parent, GUEST_PORT, port, op, flags=flags,
                        length=5 if name == "RW" else 0)
                lines.append('%s_%s_%d="%s"' % (transport, name.lower(), port,
                                                esc(h)))
        h = hdr(guest, parent, GUEST_PORT, 1234, OPS["REQUEST"],
                type_=SEQPACKET)
        lines.append('%s_seqpacket_request="%s"' % (transport, esc(h)))
        h = hdr(guest, parent, GUEST_PORT, 1234, OPS["RW"], length=5,
                type_=SEQPACKET, flags=EOM)
        lines.append('%s_seqpacket_rw_eom="%s"' % (transport, esc(h)))
        lines.append('%s_cids="%s"' % (transport, esc(struct.pack(
            "<QQ", guest, parent))))
    for name, val in (("desc_packet", struct.pack("<QIHH", PACKET, 49, 0, 0)),
                      ("desc_next", struct.pack("<QIHH", PACKET, 44, 1, 1)),
                      ("desc_write", struct.pack("<QIHH", PACKET, 4096, 2, 0)),
                      ("desc_indirect", struct.pack("<QIHH", PACKET, 32, 4, 0)),
                      ("avail_idx_1", struct.pack("<H", 1)),
                      ("version_1", struct.pack("<I", 1)),
                      ("status_ok", struct.pack("<I", 0xf)),
                      ("qsize", struct.pack("<H", QSIZE)),
                      ("buf_alloc", struct.pack("<I", BUF_ALLOC)),
                      ("pfn", struct.pack("<I", RING >> 12))):
        lines.append('%s="%s"' % (name, esc(val)))
    return "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dict", metavar="FILE")
    ap.add_argument("--check", action="store_true",
                    help="with --dict: fail if FILE is not what it would be")
    ap.add_argument("--seeds", metavar="DIR")
    ap.add_argument("--transport", choices=sorted(LAYOUTS))
    args = ap.parse_args()
    if args.dict:
        fuzz_seeds.write_dict(args.dict, dictionary(), args.check)
    if args.seeds:
        if not args.transport:
            ap.error("--seeds needs --transport")
        fuzz_seeds.write_seeds(args.seeds, seeds(args.transport))


if __name__ == "__main__":
    main()
