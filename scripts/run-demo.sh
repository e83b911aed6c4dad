#!/usr/bin/env bash
# make run: boot an enclave image on -M nitro-enclave, standalone.
#
# usage: scripts/run-demo.sh QEMU [EIF]
# Without EIF it builds and boots the demo image (contrib/nitro-demo): our
# guest kernel and an init in AWS's order, heartbeat first, then an
# application that greets the parent on vsock port 5005, which the host
# side prints.  With EIF it boots that image the same way.
set -euo pipefail
qemu=$1
eif=${2:-}
top=$(cd "$(dirname "$0")/.." && pwd)

if [ -z "$eif" ]; then
    echo "Building the demo enclave image (cached after the first run)..."
    eif=$(bash "$top/contrib/nitro-demo/build.sh")
    exec python3 "$top/contrib/nitro-demo/run.py" --qemu "$qemu" \
        --eif "$eif" --expect-greeting
fi
[ -f "$eif" ] || { echo "run-demo: no such EIF: $eif" >&2; exit 1; }
exec python3 "$top/contrib/nitro-demo/run.py" --qemu "$qemu" --eif "$eif"
