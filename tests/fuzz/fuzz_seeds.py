"""What the fuzz seed generators (tests/fuzz/*-seeds.py) share: the
dictionary file, written or checked, and the seed files."""

import os
import sys


def write_dict(path, text, check):
    """Write the dictionary @text to @path, or with @check exit with a
    message when @path holds something else."""
    if check:
        with open(path) as f:
            if f.read() != text:
                sys.exit("%s is out of date: run %s --dict %s" % (
                    path, sys.argv[0], path))
        return
    with open(path, "w") as f:
        f.write(text)


def write_seeds(directory, seeds):
    """One file per seed, {name: bytes}, in @directory."""
    os.makedirs(directory, exist_ok=True)
    for name, data in seeds.items():
        with open(os.path.join(directory, name), "wb") as f:
            f.write(data)
