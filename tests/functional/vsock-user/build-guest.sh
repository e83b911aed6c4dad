#!/usr/bin/env bash
# Prepare the functional-test guest in one command.
#
# usage: tests/functional/vsock-user/build-guest.sh [OUTDIR]
#
# OUTDIR (default build/guest under the repository root) receives bzImage,
# kernel.config, vsock_test/vsock_perf/vsock_diag_test, initramfs.cpio.gz
# and guest.eif (kernel + initramfs as an Enclave Image Format v4 file).
# The kernel is cached (tests/guest/build-kernel.sh); the initramfs and EIF
# are rebuilt only when their inputs are newer.

set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../../.." && pwd)
OUT=${1:-$ROOT/build/guest}
GUEST=$ROOT/tests/guest

"$GUEST/build-kernel.sh" "$OUT"

initrd=$OUT/initramfs.cpio.gz
if [ ! -f "$initrd" ] ||
   [ -n "$(find "$GUEST" "$OUT/vsock_test" -newer "$initrd" -print -quit 2>/dev/null)" ]; then
    "$GUEST/build-initramfs.sh" "$initrd"
fi

# The enclave kernel command line (see docs/devel/vsock-user-guest.rst).
cmdline="console=ttyS0 reboot=t panic=-1 pci=off nomodules i8042.noaux"
cmdline+=" i8042.nomux i8042.nopnp i8042.dumbkbd random.trust_cpu=on"
cmdline+=" no_timer_check"   # see CMDLINE_MICROVM in tests/functional/vsock_user.py
eif=$OUT/guest.eif
if [ ! -f "$eif" ] || [ "$initrd" -nt "$eif" ] || [ "$OUT/bzImage" -nt "$eif" ] ||
   [ "$ROOT/scripts/eif.py" -nt "$eif" ]; then
    python3 "$ROOT/scripts/eif.py" build --kernel "$OUT/bzImage" \
        --cmdline "$cmdline" --ramdisk "$initrd" \
        --metadata '{"ImageName":"virtio-vsock-user-test-guest"}' -o "$eif"
    python3 "$ROOT/scripts/eif.py" verify "$eif" >/dev/null
fi
echo "build-guest.sh: guest artifacts in $OUT" >&2
