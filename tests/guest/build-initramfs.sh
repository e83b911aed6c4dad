#!/usr/bin/env bash
# Build the functional-test guest initramfs.
#
# usage: tests/guest/build-initramfs.sh OUT.cpio.gz [--init FILE]
#            [--scenario FILE ...] [--add FILE[:GUEST-PATH] ...]
#
# Contents: busybox-static (all applets as symlinks), the static programs
# built from tests/guest/src/*.c into /bin, socat with the shared libraries
# ldd reports, tests/guest/init as /init (or FILE given with --init),
# tests/guest/scenarios/* (plus --scenario files) in /scenarios, and the
# vsock_test/vsock_perf binaries when build-kernel.sh left them next to OUT.

set -euo pipefail

die() {
    echo "build-initramfs.sh: error: $*" >&2
    exit 1
}

usage="usage: $0 OUT.cpio.gz [--init FILE] [--scenario FILE ...] [--add FILE[:GUEST-PATH] ...]"
[ $# -ge 1 ] || die "$usage"
case $1 in
-*) die "$usage" ;;
esac
OUT=$1
shift

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
INIT=$HERE/init
SCENARIOS=()
ADDS=()
while [ $# -gt 0 ]; do
    [ $# -ge 2 ] || die "$usage"
    case $1 in
    --init) INIT=$2 ;;
    --scenario) SCENARIOS+=("$2") ;;
    --add) ADDS+=("$2") ;;
    *) die "unknown option '$1'; $usage" ;;
    esac
    shift 2
done
[ -f "$INIT" ] || die "init script '$INIT' not found"

BUSYBOX=${BUSYBOX:-/bin/busybox}
[ -x "$BUSYBOX" ] || die "$BUSYBOX not found: install the Debian package 'busybox-static'"
if file -L "$BUSYBOX" 2>/dev/null | grep -q 'dynamically linked'; then
    die "$BUSYBOX is dynamically linked: install 'busybox-static' instead of 'busybox'"
fi
SOCAT=$(command -v socat) || die "socat not found: install the Debian package 'socat'"
command -v gcc >/dev/null || die "gcc not found: install the Debian package 'gcc'"
command -v ldd >/dev/null || die "ldd not found: install the Debian package 'libc-bin'"
command -v python3 >/dev/null || die "python3 not found: install the Debian package 'python3'"
[ -f /usr/lib/x86_64-linux-gnu/libc.a ] ||
    die "static libc missing: install the Debian package 'libc6-dev'"
[ -f /usr/include/linux/vm_sockets_diag.h ] ||
    die "linux/vm_sockets_diag.h missing: install the Debian package 'linux-libc-dev'"

STAGE=$(mktemp -d "${TMPDIR:-/tmp}/vsock-initramfs.XXXXXX")
trap 'rm -rf "$STAGE"' EXIT
mkdir -p "$STAGE"/{bin,sbin,usr/bin,usr/sbin,dev,proc,sys,tmp,root,scenarios,etc}
chmod 1777 "$STAGE/tmp"

# busybox and its applets
cp "$BUSYBOX" "$STAGE/bin/busybox"
for applet in $("$BUSYBOX" --list-full); do
    case $applet in
    bin/busybox | linuxrc) continue ;;
    esac
    [ -e "$STAGE/$applet" ] || ln -s /bin/busybox "$STAGE/$applet"
done

# our programs
for src in "$HERE"/src/*.c; do
    prog=$(basename "$src" .c)
    gcc -static -O2 -Wall -Werror -I"$HERE/src" -o "$STAGE/bin/$prog" "$src" ||
        die "compiling $src failed"
done

# socat and its shared libraries (copied to the same paths)
rm -f "$STAGE/usr/bin/socat" "$STAGE/bin/socat"
cp "$SOCAT" "$STAGE/usr/bin/socat"
for lib in $(ldd "$SOCAT" | grep -o '/[^ ]*'); do
    mkdir -p "$STAGE/$(dirname "$lib")"
    cp -L "$lib" "$STAGE/$lib"
done

# Linux's vsock test programs, if build-kernel.sh produced them
for prog in vsock_test vsock_perf vsock_diag_test; do
    if [ -f "$(dirname "$OUT")/$prog" ]; then
        cp "$(dirname "$OUT")/$prog" "$STAGE/usr/bin/$prog"
    fi
done

# init and scenarios
cp "$INIT" "$STAGE/init"
chmod 755 "$STAGE/init"
cp "$HERE"/scenarios/* "$STAGE/scenarios/"
for s in ${SCENARIOS[@]+"${SCENARIOS[@]}"}; do
    [ -f "$s" ] || die "scenario '$s' not found"
    cp "$s" "$STAGE/scenarios/"
done
chmod 755 "$STAGE"/scenarios/*
for a in ${ADDS[@]+"${ADDS[@]}"}; do
    src=${a%%:*}
    dst=${a#*:}
    [ "$dst" != "$a" ] || dst=/usr/bin/$(basename "$src")
    [ -f "$src" ] || die "--add: '$src' not found"
    mkdir -p "$STAGE/$(dirname "$dst")"
    cp "$src" "$STAGE/$dst"
done
echo "root:x:0:0:root:/root:/bin/sh" > "$STAGE/etc/passwd"
echo "root:x:0:" > "$STAGE/etc/group"

mkdir -p "$(dirname "$OUT")"
python3 "$HERE/mkcpio.py" "$STAGE" "$OUT" \
    --node dev/console:c:5:1 --node dev/null:c:1:3 ||
    die "writing $OUT failed"
echo "build-initramfs.sh: $OUT ($(du -k "$OUT" | cut -f1) KiB)" >&2
