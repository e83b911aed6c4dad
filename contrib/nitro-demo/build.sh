#!/usr/bin/env bash
# Build the demo enclave image: our guest kernel plus an initramfs whose
# /init follows AWS's init order (contrib/nitro-demo/init), as EIF v4.
#
# usage: contrib/nitro-demo/build.sh [OUTDIR]   (default build/demo)
# Prints the EIF's path.  The kernel is shared with the functional tests
# and cached; the initramfs and EIF are rebuilt when an input changes.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
out=${1:-$top/build/demo}
guest=$top/build/guest
mkdir -p "$out"

"$top/tests/guest/build-kernel.sh" "$guest" >&2

initrd=$out/demo-initramfs.cpio.gz
if [ ! -f "$initrd" ] ||
   [ -n "$(find "$here" "$top/tests/guest" -newer "$initrd" -print -quit)" ]; then
    "$top/tests/guest/build-initramfs.sh" "$initrd" --init "$here/init" >&2
fi

# AWS's enclave command line, but reboot=t: on microvm-based machines a
# triple fault is the reboot that -no-reboot turns into QEMU's exit; and
# no_timer_check: a TCG vCPU on a loaded host can fail the kernel's
# boot-time IO-APIC timer check, which panics.
cmdline="console=ttyS0 quiet loglevel=3 reboot=t panic=-1 pci=off nomodules"
cmdline+=" i8042.noaux i8042.nomux i8042.nopnp i8042.dumbkbd"
cmdline+=" random.trust_cpu=on no_timer_check"
eif=$out/demo.eif
if [ ! -f "$eif" ] || [ "$initrd" -nt "$eif" ] ||
   [ "$guest/bzImage" -nt "$eif" ] || [ "$here/build.sh" -nt "$eif" ]; then
    python3 "$top/scripts/eif.py" build --kernel "$guest/bzImage" \
        --cmdline "$cmdline" --ramdisk "$initrd" \
        --metadata '{"ImageName":"virtio-vsock-user-demo"}' -o "$eif" >&2
    python3 "$top/scripts/eif.py" verify "$eif" >/dev/null
fi
echo "$eif"
