#!/usr/bin/env python3
"""Find the Debian archive this machine's apt already uses.

Prints "URI KEYRING" for the first apt source entry (deb822 .sources or
one-line .list) that serves the machine's own codename (bookworm, ...), so
that callers can add deb-src or backports entries that point at the same
mirror without the repository naming any host.  KEYRING is "-" when the
entry has no Signed-By.  Exits 1 with one line on stderr when none is found.
"""

import glob
import os
import sys


def codename():
    try:
        with open("/etc/os-release", encoding="utf-8") as f:
            for line in f:
                key, _, value = line.strip().partition("=")
                if key == "VERSION_CODENAME":
                    return value.strip('"')
    except OSError:
        pass
    return None


def deb822_entries(path):
    with open(path, encoding="utf-8") as f:
        text = f.read()
    for stanza in text.split("\n\n"):
        fields = {}
        key = None
        for line in stanza.splitlines():
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            if line[0] in " \t" and key:
                fields[key] += " " + line.strip()
                continue
            key, _, value = line.partition(":")
            key = key.strip().lower()
            fields[key] = value.strip()
        if not fields or fields.get("enabled", "yes").lower() == "no":
            continue
        if "deb" not in fields.get("types", "").split():
            continue
        for uri in fields.get("uris", "").split():
            yield uri, fields.get("suites", "").split(), \
                fields.get("signed-by", "-") or "-"


def oneline_entries(path):
    with open(path, encoding="utf-8") as f:
        for line in f:
            words = line.split("#", 1)[0].split()
            if len(words) < 3 or words[0] != "deb":
                continue
            words = words[1:]
            keyring = "-"
            if words[0].startswith("["):
                opts = []
                while words:
                    w = words.pop(0)
                    opts.append(w.strip("[]"))
                    if w.endswith("]"):
                        break
                for opt in opts:
                    if opt.startswith("signed-by="):
                        keyring = opt.split("=", 1)[1]
            if len(words) >= 2:
                yield words[0], [words[1]], keyring


def main():
    name = codename()
    if not name:
        print("apt-archive: cannot tell the Debian codename from "
              "/etc/os-release", file=sys.stderr)
        return 1
    files = []
    if os.path.exists("/etc/apt/sources.list"):
        files.append("/etc/apt/sources.list")
    files += sorted(glob.glob("/etc/apt/sources.list.d/*.list"))
    files += sorted(glob.glob("/etc/apt/sources.list.d/*.sources"))
    for path in files:
        reader = deb822_entries if path.endswith(".sources") \
            else oneline_entries
        try:
            entries = list(reader(path))
        except OSError:
            continue
        for uri, suites, keyring in entries:
            if name in suites:
                print(uri.rstrip("/"), keyring)
                return 0
    print("apt-archive: no apt source serves '%s'; add the Debian archive "
          "to /etc/apt/sources.list.d/ first" % name, file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
