#!/usr/bin/env python3
"""Which of our source files call which, from the objects QEMU built.

Reads the defined and undefined symbols (nm) of the objects built from
hw/virtio/vsock-user/*.c, draws an edge A -> B when A uses a function or
variable B defines, and prints the edges and every cycle among the files.
It exits 1 if there is a cycle: the device's files must form layers that
call only downwards (docs/devel/vsock-user-code-map.rst).

  scripts/file-graph.py build/qemu            # the edges, then the verdict
  scripts/file-graph.py --quiet build/qemu    # only the verdict
"""

import argparse
import glob
import os
import re
import subprocess
import sys

OBJ_RE = re.compile(r"hw_virtio_vsock-user_(.+)\.c\.o$")


def symbols(obj):
    out = subprocess.run(["nm", "--defined-only", obj], capture_output=True,
                         text=True, check=True).stdout
    defined = {line.split()[-1] for line in out.splitlines()
               if len(line.split()) == 3 and line.split()[1] in "TDBR"}
    out = subprocess.run(["nm", "--undefined-only", obj], capture_output=True,
                         text=True, check=True).stdout
    used = {line.split()[-1] for line in out.splitlines() if line.strip()}
    return defined, used


def cycles(graph):
    """Strongly connected components with more than one file (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build", help="QEMU build directory (build/qemu)")
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args()

    objs = {}
    for obj in glob.glob(os.path.join(args.build, "**", "*.c.o"),
                         recursive=True):
        m = OBJ_RE.search(os.path.basename(obj))
        if m and "fuzz" not in obj:
            objs[m.group(1) + ".c"] = obj
    if not objs:
        sys.exit("file-graph: no objects of hw/virtio/vsock-user in %s"
                 % args.build)
    defs, uses = {}, {}
    for name, obj in objs.items():
        defs[name], uses[name] = symbols(obj)
    owner = {}
    for name, syms in defs.items():
        for s in syms:
            owner.setdefault(s, name)
    graph = {name: set() for name in objs}
    for name, used in uses.items():
        for s in used:
            o = owner.get(s)
            if o and o != name:
                graph[name].add(o)
    if not args.quiet:
        for name in sorted(graph):
            print("%s -> %s" % (name, ", ".join(sorted(graph[name])) or "-"))
    found = cycles(graph)
    for comp in found:
        print("cycle: " + " <-> ".join(comp))
    print("file-graph: %d files, %d calls between them, %d cycle(s)"
          % (len(graph), sum(len(v) for v in graph.values()), len(found)))
    sys.exit(1 if found else 0)


if __name__ == "__main__":
    main()
