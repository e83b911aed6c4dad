#!/usr/bin/env bash
# The demo: boot an enclave image on -M nitro-enclave with nothing else.
# usage: scripts/run-demo.sh QEMU [EIF]
set -euo pipefail
qemu=$1
eif=${2:-}
top=$(cd "$(dirname "$0")/.." && pwd)

echo "virtio-vsock-user demo"
echo "  QEMU: $qemu"
"$qemu" -device help 2>/dev/null | grep -E '"virtio-vsock-user(-pci)?"' |
    sed 's/^/  device: /'
if [ -z "$eif" ]; then
    echo "The standalone nitro-enclave boot and the demo EIF are not there yet"
    echo "(issue 6): this build has the device types listed above."
    exit 0
fi
exec "$qemu" -M nitro-enclave -kernel "$eif" -nographic -m 512M
