#!/usr/bin/env python3
"""Generate the patch series a QEMU maintainer would review: make series.

The series is described once, in subprojects/qemu-series/series: for each
patch its subject, its commit message, which of our files it adds (glob
patterns on the repository's paths, which are the paths in QEMU's tree)
and which parts of our patches to upstream files it carries
(subprojects/packagefiles/qemu/*.patch, per patch file and upstream path).
Files that belong to this repository only (the build glue, the guest
images, ...) are listed there as not in the series.  The cover letter is
subprojects/qemu-series/cover-letter.

This script builds the series as commits in a scratch git repository,
starting from the pristine upstream files (the orig tarball of the pinned
QEMU base, without Debian's patches, or the tree given with --base), one
commit per patch, and writes them with git format-patch to build/series/:
0000-cover-letter.patch, then one NNNN-subject.patch per patch.  The
MAINTAINERS entry (from our MAINTAINERS patch) grows with the series:
each patch adds the F: lines of the files it adds.

It fails, naming them, on any of our files that no patch and no "not in
the series" rule places, on any part of our upstream patches that no
patch carries, and on any file of the series that the MAINTAINERS entry
does not cover.  With --checkpatch it then runs QEMU's
scripts/checkpatch.pl over every generated patch and over our patches to
upstream files (Signed-off-by is left to whoever submits the series, so
--no-signoff).

usage: scripts/series.py [--base DIR] [--out DIR] [--checkpatch]
"""

import argparse
import fnmatch
import os
import re
import shutil
import subprocess
import sys
import tarfile

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SERIES_DIR = os.path.join(TOP, "subprojects", "qemu-series")
PATCH_DIR = os.path.join(TOP, "subprojects", "packagefiles", "qemu")
PIN = os.path.join(TOP, "subprojects", "qemu.pin")
NOT_IN_SERIES = "(not in the series)"


class Error(Exception):
    pass


class Patch:
    def __init__(self, subject):
        self.subject = subject
        self.files = []         # glob patterns on our paths
        self.upstream = []      # (patch file glob, path glob)
        self.body = []
        self.placed = []        # our files it adds
        self.sections = []      # Section objects it carries
        self.maint_f = []       # the MAINTAINERS F: patterns after it


class Section:
    """The part of one of our upstream patches that changes one file."""

    def __init__(self, patch_file, path, text):
        self.patch_file = patch_file
        self.path = path
        self.text = text
        self.owner = None


def parse_series(path):
    """subprojects/qemu-series/series -> [Patch]; the first may be the
    NOT_IN_SERIES rules."""
    patches = []
    cur = None
    key = None
    in_body = False
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            line = line.rstrip("\n")
            if line.startswith("== "):
                cur = Patch(line[3:].strip())
                patches.append(cur)
                key, in_body = None, False
                continue
            if cur is None:
                if line.strip() and not line.startswith("#"):
                    raise Error("%s:%d: text before the first '== '" %
                                (path, n))
                continue
            if in_body:
                cur.body.append(line)
                continue
            if line.startswith("#"):
                continue
            if not line.strip():
                in_body = key is not None
                key = None
                continue
            m = re.match(r"^(files|upstream):\s*(.*)$", line)
            if m:
                key = m.group(1)
                words = m.group(2).split()
            elif line[0] in " \t" and key:
                words = line.split()
            else:
                raise Error("%s:%d: expected 'files:', 'upstream:' or an "
                            "indented pattern" % (path, n))
            for w in words:
                if key == "files":
                    cur.files.append(w)
                else:
                    pf, _, pp = w.partition(":")
                    cur.upstream.append((pf, pp or "*"))
    for p in patches:
        while p.body and not p.body[-1].strip():
            p.body.pop()
        while p.body and not p.body[0].strip():
            p.body.pop(0)
    return patches


def split_patch_file(name):
    """One of our upstream patches -> its Sections, in order."""
    with open(os.path.join(PATCH_DIR, name), encoding="utf-8") as f:
        text = f.read()
    sections = []
    # a file's part starts at its "diff --git" line (git format-patch) or,
    # in a plain diff, at its "---" line
    marker = r"^diff --git " if re.search(r"^diff --git ", text, re.M) \
        else r"^--- (a/\S+|/dev/null)"
    starts = [m.start() for m in re.finditer(marker, text, re.M)]
    for i, s in enumerate(starts):
        end = starts[i + 1] if i + 1 < len(starts) else len(text)
        chunk = text[s:end]
        m = re.search(r"^\+\+\+ b/(\S+)", chunk, re.M)
        if not m:
            raise Error("%s: a '---' line without '+++ b/PATH'" % name)
        # a format-patch trailer ("-- \n2.x") ends the last section
        chunk = re.split(r"^-- $", chunk, maxsplit=1, flags=re.M)[0]
        sections.append(Section(name, m.group(1), chunk))
    if not sections:
        raise Error("%s: no file changes found" % name)
    return sections


def patch_file_message(name):
    """The commit message body of one of our upstream patches, for a patch
    of the series that carries just that patch."""
    with open(os.path.join(PATCH_DIR, name), encoding="utf-8") as f:
        text = f.read()
    m = re.search(r"^Subject: .*?\n\n(.*?)\n---\n", text, re.M | re.S)
    return m.group(1).rstrip("\n").split("\n") if m else []


def maintainers_glob(pattern, path):
    """Does a MAINTAINERS F: pattern cover path?  A trailing / covers the
    directory's whole subtree; * and ? stop at a /."""
    if pattern.endswith("/"):
        return path.startswith(pattern)
    rx = "".join("[^/]*" if c == "*" else "[^/]" if c == "?" else
                 re.escape(c) for c in pattern)
    return re.fullmatch(rx, path) is not None


def git(repo, *args, env=None, out=False):
    full = dict(os.environ)
    full.update(env or {})
    r = subprocess.run(["git", "-C", repo] + list(args), env=full,
                       check=True, stdout=subprocess.PIPE if out else
                       subprocess.DEVNULL)
    return r.stdout.decode() if out else None


def pin_value(key):
    with open(PIN, encoding="utf-8") as f:
        for line in f:
            w = line.split()
            if len(w) >= 2 and w[0] == key:
                return w[1:]
    raise Error("%s has no '%s' line" % (PIN, key))


def base_files(base, paths):
    """The pristine upstream content of paths, as {path: bytes or None}."""
    got = {}
    if base:
        for p in paths:
            f = os.path.join(base, p)
            got[p] = open(f, "rb").read() if os.path.exists(f) else None
        return got
    cache = os.environ.get("VSOCK_USER_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or
        os.path.join(os.path.expanduser("~"), ".cache"), "virtio-vsock-user")
    orig = None
    with open(PIN, encoding="utf-8") as f:
        for line in f:
            w = line.split()
            if len(w) == 4 and w[0] == "file" and ".orig.tar." in w[1]:
                orig = os.path.join(cache, "downloads", w[1])
    if not orig or not os.path.exists(orig):
        raise Error("the QEMU base is not fetched yet (%s); run make "
                    "qemu-src first, or give --base DIR" % orig)
    with tarfile.open(orig) as tar:
        for m in tar:
            rel = m.name.split("/", 1)[-1]
            if rel in paths and m.isfile():
                got[rel] = tar.extractfile(m).read()
    for p in paths:
        got.setdefault(p, None)
    return got


def apply_sections(tree, sections):
    for s in sections:
        r = subprocess.run(["patch", "-d", tree, "-p1", "-s", "-N",
                            "--no-backup-if-mismatch", "-r", "-"],
                           input=s.text.encode(), stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT)
        if r.returncode:
            raise Error("%s does not apply to %s on top of the patches "
                        "before it:\n%s" % (s.patch_file, s.path,
                                            r.stdout.decode()))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base", help="a pristine QEMU 10.2 tree (default: "
                    "the pinned base's orig tarball)")
    ap.add_argument("--out", default=os.path.join(TOP, "build", "series"))
    ap.add_argument("--checkpatch", action="store_true",
                    help="run scripts/checkpatch.pl on every patch")
    args = ap.parse_args()

    patches = parse_series(os.path.join(SERIES_DIR, "series"))
    rules = [p for p in patches if p.subject == NOT_IN_SERIES]
    patches = [p for p in patches if p.subject != NOT_IN_SERIES]
    problems = []

    # Our files: each to the first patch (or "not in the series" rule)
    # whose patterns match it.
    ours = subprocess.run(["git", "-C", TOP, "ls-files", "-z"], check=True,
                          stdout=subprocess.PIPE).stdout.decode()
    ours = [f for f in ours.split("\0")
            if f and os.path.exists(os.path.join(TOP, f))]
    unplaced = []
    for f in ours:
        for p in rules + patches:
            if any(fnmatch.fnmatchcase(f, g) for g in p.files):
                if p not in rules:
                    p.placed.append(f)
                break
        else:
            unplaced.append(f)
    if unplaced:
        problems.append("files no patch and no '%s' rule places (add them "
                        "to subprojects/qemu-series/series):\n  %s" %
                        (NOT_IN_SERIES, "\n  ".join(unplaced)))

    # Our upstream patches, file by file, each part to the first patch
    # that names it; the MAINTAINERS part grows with the series instead.
    patch_files = sorted(f for f in os.listdir(PATCH_DIR)
                         if f.endswith(".patch"))
    sections = []
    for pf in patch_files:
        sections += split_patch_file(pf)
    maint = [s for s in sections if s.path == "MAINTAINERS"]
    sections = [s for s in sections if s.path != "MAINTAINERS"]
    def names(p, s):
        return any(fnmatch.fnmatchcase(s.patch_file, pf) and
                   fnmatch.fnmatchcase(s.path, pp) for pf, pp in p.upstream)
    sections = [s for s in sections if not any(names(r, s) for r in rules)]
    unused = []
    for s in sections:
        for i, p in enumerate(patches):
            if names(p, s):
                s.owner = i
                p.sections.append(s)
                break
        else:
            unused.append("%s: %s" % (s.patch_file, s.path))
    if unused:
        problems.append("parts of subprojects/packagefiles/qemu/*.patch no "
                        "patch carries:\n  %s" % "\n  ".join(unused))
    # A file changed by two of our patches must see them in their order.
    for a in sections:
        for b in sections:
            if (a.path == b.path and a.patch_file < b.patch_file and
                    a.owner is not None and b.owner is not None and
                    a.owner > b.owner):
                problems.append("%s changes %s after %s does, but its "
                                "patch comes first in the series" %
                                (b.patch_file, a.path, a.patch_file))
    # A patch whose files are not here (yet, or any more) is left out.
    for p in [p for p in patches if not p.placed and not p.sections]:
        print("series: '%s' carries nothing; left out" % p.subject)
        patches.remove(p)
    for i, p in enumerate(patches):
        for sec in p.sections:
            sec.owner = i
    for i, p in enumerate(patches):
        files = {sec.patch_file for sec in p.sections}
        if not p.body and not p.placed and len(files) == 1:
            p.body = patch_file_message(files.pop())
        if not p.body:
            problems.append("patch %d '%s' has no commit message" %
                            (i + 1, p.subject))

    if problems:
        raise Error("\n".join(problems))

    # The scratch repository: the pristine upstream files first.
    work = os.path.join(TOP, "build", "series.work")
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    upstream_paths = sorted({s.path for s in sections} |
                            ({"MAINTAINERS"} if maint else set()))
    base = base_files(args.base, upstream_paths)
    for s in sections:
        if base[s.path] is None and not s.text.startswith("--- /dev/null"):
            raise Error("%s changes %s, which the base does not have" %
                        (s.patch_file, s.path))

    def write_base(tree):
        for p, data in base.items():
            if data is not None:
                os.makedirs(os.path.dirname(os.path.join(tree, p)) or tree,
                            exist_ok=True)
                with open(os.path.join(tree, p), "wb") as f:
                    f.write(data)

    # The MAINTAINERS entry: our MAINTAINERS patch applied to the base,
    # then each patch's version keeps the F: lines that cover a file of
    # the series so far.
    entry, entry_at, f_lines = [], 0, []
    if maint:
        tmp = os.path.join(work, ".maint")
        os.makedirs(tmp)
        write_base(tmp)
        old = base["MAINTAINERS"].decode().splitlines(True)
        apply_sections(tmp, maint)
        new = open(os.path.join(tmp, "MAINTAINERS"),
                   encoding="utf-8").read().splitlines(True)
        shutil.rmtree(tmp)
        i = 0
        while i < len(old) and old[i] == new[i]:
            i += 1
        added = len(new) - len(old)
        entry, entry_at = new[i:i + added], i
        if old[i:] != new[i + added:]:
            raise Error("our MAINTAINERS patch must add one block of lines")
        f_lines = [ln.split(None, 1)[1].strip() for ln in entry
                   if ln.startswith("F:")]
        series_files = [f for p in patches for f in p.placed]
        uncovered = [f for f in series_files
                     if not any(maintainers_glob(g, f) for g in f_lines)]
        if uncovered:
            raise Error("files of the series the MAINTAINERS entry does not "
                        "cover (add F: lines to its patch):\n  %s" %
                        "\n  ".join(uncovered))

    author = os.environ.get("SERIES_AUTHOR",
                            "virtio-vsock-user <virtio-vsock-user@invalid>")
    name, _, email = author.partition("<")
    date = git(TOP, "log", "-1", "--format=%ad", "--date=iso-strict",
               out=True).strip() or "2026-01-01T00:00:00Z"
    env = {"GIT_AUTHOR_NAME": name.strip(), "GIT_AUTHOR_EMAIL":
           email.rstrip(">"), "GIT_COMMITTER_NAME": name.strip(),
           "GIT_COMMITTER_EMAIL": email.rstrip(">"),
           "GIT_AUTHOR_DATE": date, "GIT_COMMITTER_DATE": date}
    git(work, "init", "-q")
    git(work, "config", "core.autocrlf", "false")
    write_base(work)
    git(work, "add", "-A")
    git(work, "commit", "-q", "-m", "base", env=env)
    git(work, "tag", "base")

    have = []
    for k, p in enumerate(patches):
        # the upstream files: the base with every part up to this patch
        for path, data in base.items():
            f = os.path.join(work, path)
            if data is None:
                if os.path.exists(f):
                    os.unlink(f)
            else:
                with open(f, "wb") as fh:
                    fh.write(data)
        apply_sections(work, [s for s in sections
                              if s.owner is not None and s.owner <= k])
        for f in p.placed:
            dst = os.path.join(work, f)
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            shutil.copyfile(os.path.join(TOP, f), dst)
            have.append(f)
        if maint:
            keep = [ln for ln in entry if not ln.startswith("F:") or
                    any(maintainers_glob(ln.split(None, 1)[1].strip(), f)
                        for f in have)]
            p.maint_f = [ln.split(None, 1)[1].strip() for ln in keep
                         if ln.startswith("F:")]
            if any(ln.startswith("F:") for ln in keep):
                lines = base["MAINTAINERS"].decode().splitlines(True)
                lines[entry_at:entry_at] = keep
                with open(os.path.join(work, "MAINTAINERS"), "w",
                          encoding="utf-8") as fh:
                    fh.write("".join(lines))
        git(work, "add", "-A")
        msg = p.subject + "\n\n" + "\n".join(p.body) + "\n"
        subprocess.run(["git", "-C", work, "commit", "-q", "-F", "-"],
                       input=msg.encode(), check=True,
                       env=dict(os.environ, **env))

    shutil.rmtree(args.out, ignore_errors=True)
    os.makedirs(args.out)
    git(work, "format-patch", "-q", "--cover-letter", "--no-signature",
        "--subject-prefix=PATCH", "-o", args.out, "base..HEAD", env=env)
    fill_cover_letter(os.path.join(args.out, "0000-cover-letter.patch"),
                      len(patches))
    written = sorted(os.listdir(args.out))
    print("series: %d patches and a cover letter in %s" %
          (len(patches), os.path.relpath(args.out, TOP)))
    for p, f in zip(patches, written[1:]):
        print("  %s  (%d files, %d upstream parts)" %
              (f, len(p.placed), len(p.sections)))

    if args.checkpatch:
        # the series, and our patches to upstream files as they are kept
        return checkpatch([(os.path.join(args.out, f), p)
                           for p, f in zip(patches, written[1:])] +
                          [(os.path.join(PATCH_DIR, f), None)
                           for f in patch_files])
    return 0


def fill_cover_letter(path, count):
    with open(os.path.join(SERIES_DIR, "cover-letter"),
              encoding="utf-8") as f:
        subject, _, body = f.read().partition("\n")
    body = body.strip("\n")
    body += "\n\nBased on QEMU %s.\n" % pin_value("upstream")[0]
    with open(path, encoding="utf-8") as f:
        text = f.read()
    text = text.replace("*** SUBJECT HERE ***", subject.strip())
    text = text.replace("*** BLURB HERE ***", body)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


MAINT_QUESTION = "WARNING: added, moved or deleted file(s):"


def checkpatch(files):
    """checkpatch.pl on each (patch file, Patch); 0 if all are clean.

    checkpatch asks "Does MAINTAINERS need updating?" of every patch that
    adds files without touching MAINTAINERS.  The entry covers a
    directory (F: hw/virtio/vsock-user/) from the first patch that adds
    a file there, so the later ones do not touch it; the question counts
    as answered when the MAINTAINERS entry as of that patch covers every
    file it adds, and as a failure otherwise.
    """
    tree = os.path.join(TOP, "build", "src", "qemu")
    script = os.path.join(tree, "scripts", "checkpatch.pl")
    if not os.path.exists(script):
        raise Error("no %s: run make qemu-src first" % script)
    bad = 0
    for f, patch in files:
        r = subprocess.run(["perl", script, "--no-tree", "--no-signoff",
                            "--terse", f], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT)
        out = r.stdout.decode()
        issues = [ln for ln in out.splitlines()
                  if re.search(r"\b(ERROR|WARNING)\b", ln)]
        notes = []
        covered = patch and all(any(maintainers_glob(g, a)
                                    for g in patch.maint_f)
                                for a in patch.placed)
        if covered and patch.placed:
            for ln in [ln for ln in issues if MAINT_QUESTION in ln]:
                issues.remove(ln)
                notes.append("MAINTAINERS question answered: the entry "
                             "covers all %d files it adds" %
                             len(patch.placed))
        status = "ok" if r.returncode == 0 and not issues else "FAIL"
        print("  checkpatch %-4s %s" % (status, os.path.relpath(f, TOP)))
        for ln in issues + notes:
            print("       " + ln)
        bad += status != "ok"
    print("checkpatch: %d passed, %d failed" % (len(files) - bad, bad))
    return 1 if bad else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Error as e:
        print("series: %s" % e, file=sys.stderr)
        sys.exit(1)
