#!/usr/bin/env python3
"""Write a directory tree as a gzip-compressed "newc" cpio archive.

usage: mkcpio.py STAGING_DIR OUT.cpio.gz [--node PATH:c|b:MAJOR:MINOR ...]

The archive is reproducible: entries are sorted, owned by root, with mtime 0
(or $SOURCE_DATE_EPOCH), and the gzip header carries no name or time.
--node adds a device node (e.g. dev/console:c:5:1) that an unprivileged user
could not create in the staging directory.
"""

import gzip
import os
import stat
import sys
import tempfile


def usage(msg):
    sys.stderr.write("mkcpio.py: error: %s\n" % msg)
    sys.stderr.write("usage: mkcpio.py STAGING_DIR OUT.cpio.gz "
                     "[--node PATH:c|b:MAJOR:MINOR ...]\n")
    sys.exit(2)


class Writer:
    def __init__(self, out, mtime):
        self.out = out
        self.mtime = mtime
        self.ino = 1

    def entry(self, name, mode, data=b"", rdev=(0, 0), nlink=1):
        name_b = name.encode() + b"\0"
        fields = [self.ino, mode, 0, 0, nlink, self.mtime, len(data),
                  0, 0, rdev[0], rdev[1], len(name_b), 0]
        self.ino += 1
        hdr = b"070701" + b"".join(b"%08x" % f for f in fields)
        self.out.write(hdr + name_b)
        self.out.write(b"\0" * (-(len(hdr) + len(name_b)) % 4))
        self.out.write(data)
        self.out.write(b"\0" * (-len(data) % 4))


def main(argv):
    if len(argv) < 3:
        usage("need STAGING_DIR and OUT")
    staging, out_path = argv[1], argv[2]
    nodes = []
    rest = argv[3:]
    while rest:
        if rest[0] != "--node" or len(rest) < 2:
            usage("unexpected argument %r" % rest[0])
        try:
            path, kind, major, minor = rest[1].split(":")
            nodes.append((path.strip("/"), kind, int(major), int(minor)))
            if kind not in ("c", "b"):
                raise ValueError
        except ValueError:
            usage("bad --node %r" % rest[1])
        rest = rest[2:]
    if not os.path.isdir(staging):
        usage("%s is not a directory" % staging)

    mtime = int(os.environ.get("SOURCE_DATE_EPOCH", "0"))
    paths = []
    for root, dirs, files in os.walk(staging):
        for n in dirs + files:
            full = os.path.join(root, n)
            paths.append(os.path.relpath(full, staging))
    paths.sort()

    # A private temporary name: two builds of the same image may run at once.
    fd, tmp = tempfile.mkstemp(prefix=os.path.basename(out_path) + ".",
                               dir=os.path.dirname(os.path.abspath(out_path)))
    os.fchmod(fd, 0o644)
    with os.fdopen(fd, "wb") as raw:
        with gzip.GzipFile(filename="", mode="wb", fileobj=raw,
                           mtime=0, compresslevel=9) as gz:
            w = Writer(gz, mtime)
            for rel in paths:
                full = os.path.join(staging, rel)
                st = os.lstat(full)
                perm = stat.S_IMODE(st.st_mode)
                if stat.S_ISDIR(st.st_mode):
                    w.entry(rel, stat.S_IFDIR | perm, nlink=2)
                elif stat.S_ISLNK(st.st_mode):
                    target = os.readlink(full).encode()
                    w.entry(rel, stat.S_IFLNK | 0o777, target)
                elif stat.S_ISREG(st.st_mode):
                    with open(full, "rb") as f:
                        w.entry(rel, stat.S_IFREG | perm, f.read())
                else:
                    usage("%s: unsupported file type" % full)
            for path, kind, major, minor in nodes:
                fmt = stat.S_IFCHR if kind == "c" else stat.S_IFBLK
                w.entry(path, fmt | 0o600, rdev=(major, minor))
            w.entry("TRAILER!!!", 0)
    os.replace(tmp, out_path)


if __name__ == "__main__":
    main(sys.argv)
