#!/usr/bin/env python3
"""Unit tests for scripts/eif.py (Enclave Image Format v4 writer/checker).

Run standalone: python3 tests/unit/test_eif.py
"""

import io
import os
import struct
import subprocess
import sys
import tempfile
import unittest
import zlib
from contextlib import redirect_stderr, redirect_stdout
import importlib.util

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
EIF_PY = os.path.join(ROOT, "scripts", "eif.py")
_spec = importlib.util.spec_from_file_location("eif", EIF_PY)
eif = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(eif)

# A fake bzImage: the "HdrS" boot-protocol signature at 0x202.
KERNEL = bytes(range(256)) * 2 + b"\0" * 2
KERNEL = KERNEL[:0x202] + b"HdrS" + KERNEL[0x206:]
CMDLINE = "console=ttyS0 reboot=t"
RAMDISK1 = b"ramdisk-one\n" * 3
RAMDISK2 = b"second"
METADATA = b'{"ImageName":"test"}'


def be16(data, off):
    return struct.unpack_from(">H", data, off)[0]


def be32(data, off):
    return struct.unpack_from(">I", data, off)[0]


def be64(data, off):
    return struct.unpack_from(">Q", data, off)[0]


def qemu_crc(data):
    """CRC as QEMU's loader computes it, following the section table."""
    crc = zlib.crc32(data[:544])
    for i in range(min(be16(data, 26), 32)):
        off = be64(data, 28 + 8 * i)
        if off + 12 > len(data):
            break
        size = be64(data, off + 4)
        crc = zlib.crc32(data[off:off + 12 + size], crc)
    return crc


def with_crc(data):
    data = bytearray(data)
    struct.pack_into(">I", data, 544, qemu_crc(data))
    return bytes(data)


def put16(data, off, v):
    data = bytearray(data)
    struct.pack_into(">H", data, off, v)
    return bytes(data)


def put64(data, off, v):
    data = bytearray(data)
    struct.pack_into(">Q", data, off, v)
    return bytes(data)


def sample(metadata=METADATA, ramdisks=(RAMDISK1, RAMDISK2)):
    return eif.build(KERNEL, CMDLINE, list(ramdisks), metadata,
                     default_mem=512 << 20, default_cpus=2)


class BuildLayout(unittest.TestCase):
    def setUp(self):
        self.data = sample()
        self.k_off = 548
        self.c_off = self.k_off + 12 + len(KERNEL)
        self.m_off = self.c_off + 12 + len(CMDLINE)
        self.r1_off = self.m_off + 12 + len(METADATA)
        self.r2_off = self.r1_off + 12 + len(RAMDISK1)
        self.end = self.r2_off + 12 + len(RAMDISK2)

    def test_header_fields(self):
        d = self.data
        self.assertEqual(d[0:4], b".eif")
        self.assertEqual(be16(d, 4), 4)
        self.assertEqual(be16(d, 6), 0)
        self.assertEqual(be64(d, 8), 512 << 20)
        self.assertEqual(be64(d, 16), 2)
        self.assertEqual(be16(d, 24), 0)
        self.assertEqual(be16(d, 26), 5)
        self.assertEqual(be32(d, 540), 0)

    def test_section_table(self):
        d = self.data
        offs = [be64(d, 28 + 8 * i) for i in range(32)]
        sizes = [be64(d, 284 + 8 * i) for i in range(32)]
        self.assertEqual(offs[:5], [self.k_off, self.c_off, self.m_off,
                                    self.r1_off, self.r2_off])
        self.assertEqual(sizes[:5], [len(KERNEL), len(CMDLINE),
                                     len(METADATA), len(RAMDISK1),
                                     len(RAMDISK2)])
        self.assertEqual(offs[5:], [0] * 27)
        self.assertEqual(sizes[5:], [0] * 27)

    def test_section_headers_and_payloads(self):
        d = self.data
        for off, stype, payload in [
                (self.k_off, 1, KERNEL), (self.c_off, 2, CMDLINE.encode()),
                (self.m_off, 5, METADATA), (self.r1_off, 3, RAMDISK1),
                (self.r2_off, 3, RAMDISK2)]:
            self.assertEqual(d[off:off + 12],
                             struct.pack(">HHQ", stype, 0, len(payload)))
            self.assertEqual(d[off + 12:off + 12 + len(payload)], payload)
        self.assertEqual(len(d), self.end)

    def test_cmdline_has_no_nul(self):
        d = self.data
        self.assertEqual(d[self.c_off + 12:self.m_off], CMDLINE.encode())

    def test_crc(self):
        d = self.data
        expect = zlib.crc32(d[:544] + d[548:])
        self.assertEqual(be32(d, 544), expect)
        self.assertEqual(be32(d, 544), qemu_crc(d))

    def test_exact_bytes(self):
        # Independent construction of the whole file.
        k, c, r = b"K" * 3, b"ro", b"RD"
        body = (struct.pack(">HHQ", 1, 0, 3) + k +
                struct.pack(">HHQ", 2, 0, 2) + c +
                struct.pack(">HHQ", 3, 0, 2) + r)
        offs = [548, 548 + 15, 548 + 15 + 14] + [0] * 29
        sizes = [3, 2, 2] + [0] * 29
        head = (b".eif" + struct.pack(">HHQQHH", 4, 0, 0, 0, 0, 3) +
                struct.pack(">32Q", *offs) + struct.pack(">32Q", *sizes) +
                b"\0\0\0\0")
        crc = zlib.crc32(head + body)
        expected = head + struct.pack(">I", crc) + body
        self.assertEqual(eif.build(k, "ro", [r]), expected)
        self.assertEqual(crc, 0x2BCF2F03)

    def test_no_metadata(self):
        d = eif.build(KERNEL, CMDLINE, [RAMDISK1])
        self.assertEqual(be16(d, 26), 3)
        img = eif.parse(d)
        self.assertEqual([s[1] for s in img.sections], [1, 2, 3])

    def test_parse_roundtrip(self):
        img = eif.parse(self.data)
        self.assertEqual(img.warnings, [])
        self.assertEqual([s[1] for s in img.sections], [1, 2, 5, 3, 3])
        self.assertEqual(img.sections[3][5], RAMDISK1)
        self.assertEqual(img.computed_crc, img.crc)

    def test_build_requires_ramdisk(self):
        with self.assertRaises(ValueError):
            eif.build(KERNEL, CMDLINE, [])

    def test_build_section_limit(self):
        eif.build(KERNEL, CMDLINE, [b"r"] * 30)
        with self.assertRaises(ValueError):
            eif.build(KERNEL, CMDLINE, [b"r"] * 31)


class Rejections(unittest.TestCase):
    """Every reason QEMU's hw/core/eif.c refuses an image."""

    def reject(self, data, words):
        with self.assertRaises(eif.EifError) as cm:
            eif.parse(data)
        msg = str(cm.exception)
        for w in words:
            self.assertIn(w, msg)
        return msg

    def test_truncated_header(self):
        self.reject(sample()[:547], ["truncated header"])
        self.reject(b"", ["truncated header"])

    def test_bad_magic(self):
        self.reject(with_crc(b".elf" + sample()[4:]), ["bad magic"])

    def test_old_version(self):
        self.reject(with_crc(put16(sample(), 4, 3)), ["version 3 < 4"])

    def test_newer_version_accepted(self):
        eif.parse(with_crc(put16(sample(), 4, 5)))

    def test_flags(self):
        self.reject(with_crc(put16(sample(), 6, 1)), ["flags 0x1 != 0"])

    def test_too_many_sections(self):
        self.reject(with_crc(put16(sample(), 26, 33)), ["33 sections > 32"])

    def test_size_beyond_ssize_max(self):
        # Checked for all 32 table entries, even unused ones.
        d = put64(sample(), 284 + 8 * 31, 1 << 63)
        self.reject(d, ["section size out of bounds"])

    def test_section_offset_out_of_bounds(self):
        d = sample()
        self.reject(with_crc(put64(d, 28 + 8 * 4, len(d) + 100)),
                    ["section 4 out of bounds"])
        self.reject(put64(d, 28, 1 << 63), ["section 0 out of bounds"])

    def test_payload_out_of_bounds(self):
        d = sample()
        self.reject(d[:-1], ["section 4 (ramdisk) out of bounds"])

    def test_section_flags(self):
        self.reject(with_crc(put16(sample(), 548 + 2, 1)),
                    ["section 0 (kernel): flags 0x1"])

    def test_size_mismatch(self):
        d = put64(sample(), 284, len(KERNEL) - 1)
        self.reject(with_crc(d), ["size mismatch", "kernel"])

    def _retype(self, data, index, stype):
        off = be64(data, 28 + 8 * index)
        return with_crc(put16(data, off, stype))

    def test_two_kernels(self):
        self.reject(self._retype(sample(), 2, 1), ["more than one kernel"])

    def test_two_cmdlines(self):
        self.reject(self._retype(sample(), 2, 2), ["more than one cmdline"])

    def test_no_kernel(self):
        self.reject(self._retype(sample(), 0, 5), ["no kernel section"])

    def test_no_cmdline(self):
        self.reject(self._retype(sample(), 1, 5), ["no cmdline section"])

    def test_no_ramdisk(self):
        d = sample(ramdisks=[RAMDISK1])
        self.reject(self._retype(d, 3, 5), ["no ramdisk section"])

    def test_crc_mismatch(self):
        d = bytearray(sample())
        d[-1] ^= 0xff
        self.reject(bytes(d), ["CRC mismatch"])
        d = bytearray(sample())
        d[545] ^= 1
        self.reject(bytes(d), ["CRC mismatch"])

    def test_unknown_section_type_accepted(self):
        img = eif.parse(self._retype(sample(), 2, 9))
        self.assertTrue(any("unknown type 9" in w for w in img.warnings))


class CommandLine(unittest.TestCase):
    def run_eif(self, *args):
        out, err = io.StringIO(), io.StringIO()
        with redirect_stdout(out), redirect_stderr(err):
            try:
                rc = eif.main(list(args))
            except SystemExit as e:
                rc = e.code
        return rc, out.getvalue(), err.getvalue()

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.addCleanup(self.tmp.cleanup)
        self.paths = {}
        for name, data in [("kernel", KERNEL), ("r1", RAMDISK1),
                           ("r2", RAMDISK2)]:
            p = os.path.join(self.tmp.name, name)
            with open(p, "wb") as f:
                f.write(data)
            self.paths[name] = p
        self.out = os.path.join(self.tmp.name, "out.eif")

    def test_build_matches_library(self):
        rc, _, err = self.run_eif(
            "build", "--kernel", self.paths["kernel"], "--cmdline", CMDLINE,
            "--ramdisk", self.paths["r1"], "--ramdisk", self.paths["r2"],
            "--metadata", METADATA.decode(), "--default-mem",
            str(512 << 20), "--default-cpus", "2", "-o", self.out)
        self.assertEqual(rc, 0, err)
        with open(self.out, "rb") as f:
            self.assertEqual(f.read(), sample())
        rc, out, _ = self.run_eif("verify", self.out)
        self.assertEqual(rc, 0)
        self.assertIn("OK", out)
        rc, out, _ = self.run_eif("dump", self.out)
        self.assertEqual(rc, 0)
        self.assertIn("version:       4", out)
        self.assertIn('"console=ttyS0 reboot=t"', out)

    def test_bad_metadata(self):
        rc, _, err = self.run_eif(
            "build", "--kernel", self.paths["kernel"], "--cmdline", "x",
            "--ramdisk", self.paths["r1"], "--metadata", "{not json",
            "-o", self.out)
        self.assertEqual(rc, 2)
        self.assertIn("not valid JSON", err)

    def test_missing_input(self):
        rc, _, err = self.run_eif(
            "build", "--kernel", "/nonexistent/bzImage", "--cmdline", "x",
            "--ramdisk", self.paths["r1"], "-o", self.out)
        self.assertEqual(rc, 2)
        self.assertIn("/nonexistent/bzImage", err)

    def test_verify_rejects_with_reason(self):
        d = bytearray(sample())
        d[-1] ^= 0xff
        with open(self.out, "wb") as f:
            f.write(d)
        rc, _, err = self.run_eif("verify", self.out)
        self.assertEqual(rc, 1)
        self.assertIn("invalid EIF: CRC mismatch", err)
        rc, out, _ = self.run_eif("dump", self.out)
        self.assertEqual(rc, 1)
        self.assertIn("INVALID: CRC mismatch", out)

    def test_script_runs_standalone(self):
        with open(self.out, "wb") as f:
            f.write(b"garbage")
        p = subprocess.run([sys.executable, EIF_PY, "verify", self.out],
                           capture_output=True, text=True)
        self.assertEqual(p.returncode, 1)
        self.assertIn("truncated header", p.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=1)
