#!/usr/bin/env python3
"""Build, dump and verify Enclave Image Format (EIF) v4 files.

    eif.py build --kernel bzImage --cmdline STR --ramdisk A [--ramdisk B ...]
                 [--metadata JSON|@FILE] [--default-mem BYTES]
                 [--default-cpus N] -o out.eif
    eif.py dump FILE
    eif.py verify FILE

Layout (all integers big-endian, nothing padded):
  header, 548 bytes:
    @0   magic ".eif"            @4   u16 version (4)     @6   u16 flags (0)
    @8   u64 default_mem         @16  u64 default_cpus    @24  u16 reserved
    @26  u16 num_sections        @28  u64 section_offsets[32]
    @284 u64 section_sizes[32]   @540 u32 unused          @544 u32 crc32
  then each section: u16 type, u16 flags (0), u64 size, payload.
  Section types: 1 kernel, 2 cmdline (no trailing NUL), 3 ramdisk,
  4 signature, 5 metadata.  "build" writes kernel, cmdline, metadata (if
  any), then the ramdisks in order.
  crc32 (zlib) runs over header bytes [0, 544) and then, in section-table
  order, over every section header and payload.

"verify" rejects what QEMU's EIF loader rejects and says why; it exits 0
for a loadable image, 1 for a rejected one and 2 for usage or I/O errors.
Only the Python standard library is used.
"""

import argparse
import json
import struct
import sys
import zlib

MAGIC = b".eif"
VERSION = 4
HEADER_SIZE = 548
CRC_OFFSET = 544
MAX_SECTIONS = 32
SECTION_HEADER_SIZE = 12
# >H version, >H flags, >Q mem, >Q cpus, >H reserved, >H count
HEADER_FIXED = struct.Struct(">4sHHQQHH")
SECTION_HEADER = struct.Struct(">HHQ")
OFFSETS_AT = 28
SIZES_AT = OFFSETS_AT + 8 * MAX_SECTIONS
UNUSED_AT = SIZES_AT + 8 * MAX_SECTIONS
INT64_MAX = (1 << 63) - 1

KERNEL, CMDLINE, RAMDISK, SIGNATURE, METADATA = 1, 2, 3, 4, 5
SECTION_NAMES = {
    0: "invalid",
    KERNEL: "kernel",
    CMDLINE: "cmdline",
    RAMDISK: "ramdisk",
    SIGNATURE: "signature",
    METADATA: "metadata",
}


class EifError(Exception):
    """The image would be rejected by QEMU's loader; str() is the reason."""


def section_name(stype):
    return SECTION_NAMES.get(stype, "unknown(%d)" % stype)


def build(kernel, cmdline, ramdisks, metadata=None, default_mem=0,
          default_cpus=0):
    """Return the bytes of an EIF v4 image.

    kernel, ramdisks[i], metadata: bytes; cmdline: str or bytes.
    """
    if isinstance(cmdline, str):
        cmdline = cmdline.encode()
    if not ramdisks:
        raise ValueError("at least one ramdisk is required")
    sections = [(KERNEL, kernel), (CMDLINE, cmdline)]
    if metadata is not None:
        sections.append((METADATA, metadata))
    sections += [(RAMDISK, r) for r in ramdisks]
    return build_sections(sections, default_mem, default_cpus)


def build_sections(sections, default_mem=0, default_cpus=0):
    """Return the bytes of an EIF v4 image of [(type, payload bytes)].

    No rule about which sections there must be is checked: tests use it to
    make images that loaders must reject.
    """
    if len(sections) > MAX_SECTIONS:
        raise ValueError("too many sections (%d > %d)"
                         % (len(sections), MAX_SECTIONS))

    offsets, sizes, body = [], [], []
    pos = HEADER_SIZE
    for stype, payload in sections:
        offsets.append(pos)
        sizes.append(len(payload))
        body.append(SECTION_HEADER.pack(stype, 0, len(payload)))
        body.append(payload)
        pos += SECTION_HEADER_SIZE + len(payload)
    pad = MAX_SECTIONS - len(sections)
    header = (HEADER_FIXED.pack(MAGIC, VERSION, 0, default_mem, default_cpus,
                                0, len(sections)) +
              struct.pack(">32Q", *(offsets + [0] * pad)) +
              struct.pack(">32Q", *(sizes + [0] * pad)) +
              struct.pack(">I", 0))
    assert len(header) == CRC_OFFSET
    crc = zlib.crc32(header)
    for chunk in body:
        crc = zlib.crc32(chunk, crc)
    return b"".join([header, struct.pack(">I", crc)] + body)


class Image:
    """A parsed EIF; fields mirror the header."""

    def __init__(self):
        self.magic = b""
        self.version = 0
        self.flags = 0
        self.default_mem = 0
        self.default_cpus = 0
        self.reserved = 0
        self.num_sections = 0
        self.offsets = []
        self.sizes = []
        self.unused = 0
        self.crc = 0
        self.computed_crc = None
        # (index, type, flags, offset, size, payload)
        self.sections = []
        self.warnings = []


def parse(data):
    """Parse and check an EIF the way QEMU's loader does.

    Returns an Image; raises EifError with the reason on the first problem
    that would make QEMU refuse the file.  Checks QEMU does not make are
    reported in Image.warnings.
    """
    img = Image()
    if len(data) < HEADER_SIZE:
        raise EifError("truncated header: file has %d bytes, the header "
                       "needs %d" % (len(data), HEADER_SIZE))
    (img.magic, img.version, img.flags, img.default_mem, img.default_cpus,
     img.reserved, img.num_sections) = HEADER_FIXED.unpack_from(data, 0)
    img.offsets = list(struct.unpack_from(">32Q", data, OFFSETS_AT))
    img.sizes = list(struct.unpack_from(">32Q", data, SIZES_AT))
    img.unused, img.crc = struct.unpack_from(">II", data, UNUSED_AT)

    if img.magic != MAGIC:
        raise EifError("bad magic %r (expected %r)" % (img.magic, MAGIC))
    for i, size in enumerate(img.sizes):
        if size > INT64_MAX:
            raise EifError("section size out of bounds: section_sizes[%d] = "
                           "%d" % (i, size))
    if img.version < VERSION:
        raise EifError("version %d < 4" % img.version)
    if img.flags != 0:
        raise EifError("header flags 0x%x != 0" % img.flags)
    if img.num_sections > MAX_SECTIONS:
        raise EifError("%d sections > %d" % (img.num_sections, MAX_SECTIONS))

    crc = zlib.crc32(data[:CRC_OFFSET])
    seen = {}
    for i in range(img.num_sections):
        off = img.offsets[i]
        if off > INT64_MAX or off + SECTION_HEADER_SIZE > len(data):
            raise EifError("section %d out of bounds: header at offset %d, "
                           "file size %d" % (i, off, len(data)))
        stype, sflags, ssize = SECTION_HEADER.unpack_from(data, off)
        crc = zlib.crc32(data[off:off + SECTION_HEADER_SIZE], crc)
        if sflags != 0:
            raise EifError("section %d (%s): flags 0x%x != 0"
                           % (i, section_name(stype), sflags))
        if ssize != img.sizes[i]:
            raise EifError("section %d (%s): size mismatch: header table "
                           "says %d, section header says %d"
                           % (i, section_name(stype), img.sizes[i], ssize))
        if stype in (KERNEL, CMDLINE) and stype in seen:
            raise EifError("more than one %s section" % section_name(stype))
        start = off + SECTION_HEADER_SIZE
        if start + ssize > len(data):
            raise EifError("section %d (%s) out of bounds: payload %d..%d, "
                           "file size %d" % (i, section_name(stype), start,
                                             start + ssize, len(data)))
        payload = data[start:start + ssize]
        crc = zlib.crc32(payload, crc)
        seen[stype] = True
        img.sections.append((i, stype, sflags, off, ssize, payload))

    for stype in (KERNEL, CMDLINE, RAMDISK):
        if stype not in seen:
            raise EifError("no %s section" % section_name(stype))
    img.computed_crc = crc
    if crc != img.crc:
        raise EifError("CRC mismatch: header has 0x%08x, computed 0x%08x"
                       % (img.crc, crc))

    # Things QEMU accepts but a well-formed image does not have.
    if img.reserved:
        img.warnings.append("reserved field is 0x%x, not 0" % img.reserved)
    if img.unused:
        img.warnings.append("unused field is 0x%x, not 0" % img.unused)
    for i in range(img.num_sections, MAX_SECTIONS):
        if img.offsets[i] or img.sizes[i]:
            img.warnings.append("table entry %d beyond num_sections is not "
                                "zero" % i)
    for _, stype, _, _, _, payload in img.sections:
        if stype == KERNEL and payload[0x202:0x206] != b"HdrS":
            img.warnings.append("kernel section is not an x86 bzImage "
                                "(no HdrS signature)")
        if stype == CMDLINE and payload.endswith(b"\0"):
            img.warnings.append("cmdline ends with a NUL byte")
        if stype == SIGNATURE:
            img.warnings.append("signature section present: its CBOR is not "
                                "checked here (QEMU parses it)")
        if stype not in SECTION_NAMES or stype == 0:
            img.warnings.append("section of unknown type %d (QEMU skips "
                                "it)" % stype)
    return img


def _read(path):
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as e:
        sys.stderr.write("eif.py: error: %s: %s\n" % (path, e.strerror))
        sys.exit(2)


def cmd_build(args):
    kernel = _read(args.kernel)
    ramdisks = [_read(r) for r in args.ramdisk]
    metadata = None
    if args.metadata is not None:
        text = args.metadata
        if text.startswith("@"):
            text = _read(text[1:]).decode("utf-8", "replace")
        try:
            json.loads(text)
        except ValueError as e:
            sys.stderr.write("eif.py: error: --metadata is not valid JSON: "
                             "%s\n" % e)
            return 2
        metadata = text.encode()
    if kernel[0x202:0x206] != b"HdrS":
        sys.stderr.write("eif.py: warning: %s does not look like a bzImage\n"
                         % args.kernel)
    try:
        out = build(kernel, args.cmdline, ramdisks, metadata,
                    args.default_mem, args.default_cpus)
    except ValueError as e:
        sys.stderr.write("eif.py: error: %s\n" % e)
        return 2
    try:
        with open(args.output, "wb") as f:
            f.write(out)
    except OSError as e:
        sys.stderr.write("eif.py: error: %s: %s\n" % (args.output,
                                                     e.strerror))
        return 2
    return 0


def _describe_payload(stype, payload):
    if stype in (CMDLINE, METADATA):
        text = payload.decode("utf-8", "replace")
        if len(text) > 200:
            text = text[:200] + "..."
        return " " + json.dumps(text)
    return ""


def cmd_dump(args):
    data = _read(args.file)
    try:
        img = parse(data)
        error = None
    except EifError as e:
        error = str(e)
        img = None
    if len(data) >= HEADER_SIZE:
        magic, version, flags, mem, cpus, reserved, count = \
            HEADER_FIXED.unpack_from(data, 0)
        offsets = struct.unpack_from(">32Q", data, OFFSETS_AT)
        sizes = struct.unpack_from(">32Q", data, SIZES_AT)
        unused, crc = struct.unpack_from(">II", data, UNUSED_AT)
        print("file:          %s (%d bytes)" % (args.file, len(data)))
        print("magic:         %r" % magic)
        print("version:       %d" % version)
        print("flags:         0x%x" % flags)
        print("default_mem:   %d" % mem)
        print("default_cpus:  %d" % cpus)
        print("reserved:      0x%x" % reserved)
        print("num_sections:  %d" % count)
        print("unused:        0x%x" % unused)
        print("crc32:         0x%08x" % crc)
        for i in range(min(count, MAX_SECTIONS)):
            line = "section %2d:    offset %d, size %d" % (i, offsets[i],
                                                          sizes[i])
            if offsets[i] + SECTION_HEADER_SIZE <= len(data):
                stype, sflags, ssize = SECTION_HEADER.unpack_from(
                    data, offsets[i])
                start = offsets[i] + SECTION_HEADER_SIZE
                line += ", type %s, flags 0x%x, header size %d" % (
                    section_name(stype), sflags, ssize)
                line += _describe_payload(stype, data[start:start + ssize])
            print(line)
    if img is not None:
        for w in img.warnings:
            print("warning:       %s" % w)
        print("verdict:       OK (QEMU's loader accepts this image)")
        return 0
    print("verdict:       INVALID: %s" % error)
    return 1


def cmd_verify(args):
    data = _read(args.file)
    try:
        img = parse(data)
    except EifError as e:
        sys.stderr.write("eif.py: %s: invalid EIF: %s\n" % (args.file, e))
        return 1
    for w in img.warnings:
        sys.stderr.write("eif.py: %s: warning: %s\n" % (args.file, w))
    kinds = [section_name(s[1]) for s in img.sections]
    print("%s: OK, EIF v%d, %d sections (%s), crc32 0x%08x"
          % (args.file, img.version, img.num_sections, ", ".join(kinds),
             img.crc))
    return 0


def main(argv=None):
    p = argparse.ArgumentParser(
        prog="eif.py",
        description="Build, dump and verify Enclave Image Format v4 files.")
    sub = p.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="write an EIF")
    b.add_argument("--kernel", required=True, help="bzImage")
    b.add_argument("--cmdline", required=True, help="kernel command line")
    b.add_argument("--ramdisk", required=True, action="append",
                   help="initramfs (repeat for more; order is kept)")
    b.add_argument("--metadata", help="JSON text, or @FILE")
    b.add_argument("--default-mem", type=int, default=0,
                   help="header default_mem (bytes, default 0)")
    b.add_argument("--default-cpus", type=int, default=0,
                   help="header default_cpus (default 0)")
    b.add_argument("-o", "--output", required=True)
    b.set_defaults(func=cmd_build)
    d = sub.add_parser("dump", help="print header and sections")
    d.add_argument("file")
    d.set_defaults(func=cmd_dump)
    v = sub.add_parser("verify", help="check like QEMU's loader")
    v.add_argument("file")
    v.set_defaults(func=cmd_verify)
    args = p.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
