#!/usr/bin/env bash
# Build the functional-test guest kernel (bzImage) and Linux's own vsock
# test programs from Debian's linux-source-6.12.
#
# usage: tests/guest/build-kernel.sh OUTDIR
#
# OUTDIR receives bzImage, kernel.config (the final .config) and, when they
# build, vsock_test, vsock_perf and vsock_diag_test (statically linked).
# Results are cached in $VSOCK_USER_CACHE (default
# ${XDG_CACHE_HOME:-$HOME/.cache}/virtio-vsock-user), keyed by a hash of
# the source package version, tests/guest/kernel.config and this script,
# so a second run only copies files.
#
# Environment: KERNEL_CONFIG_FRAGMENT (default tests/guest/kernel.config),
# LINUX_SOURCE_TARBALL (default
# /usr/src/linux-source-6.12.tar.xz), JOBS (default 2), VSOCK_USER_HEAVY_LOCK
# (default /tmp/vsock-user-heavy.lock; heavy steps run under flock on it).

set -euo pipefail

die() {
    echo "build-kernel.sh: error: $*" >&2
    exit 1
}

log() {
    echo "build-kernel.sh: $*" >&2
}

[ $# -eq 1 ] || die "usage: $0 OUTDIR"
OUTDIR=$1

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
FRAGMENT=${KERNEL_CONFIG_FRAGMENT:-$HERE/kernel.config}
SELF=$HERE/build-kernel.sh
TARBALL=${LINUX_SOURCE_TARBALL:-/usr/src/linux-source-6.12.tar.xz}
CACHE=${VSOCK_USER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/virtio-vsock-user}
JOBS=${JOBS:-2}
LOCK=${VSOCK_USER_HEAVY_LOCK:-/tmp/vsock-user-heavy.lock}

# --- prerequisites -----------------------------------------------------------

need_cmd() {
    # need_cmd COMMAND DEBIAN-PACKAGE
    command -v "$1" >/dev/null 2>&1 ||
        die "'$1' not found: install the Debian package '$2' (see tests/guest/deps.txt)"
}

need_cmd make make
need_cmd gcc gcc
need_cmd bc bc
need_cmd flex flex
need_cmd bison bison
need_cmd flock util-linux
need_cmd sha256sum coreutils
need_cmd xz xz-utils
need_cmd perl perl
[ -f "$TARBALL" ] ||
    die "$TARBALL not found: install 'linux-source-6.12' (apt-get install -t bookworm-backports linux-source-6.12)"
[ -f /usr/include/libelf.h ] ||
    die "libelf.h not found: install the Debian package 'libelf-dev'"
[ -f /usr/include/openssl/ssl.h ] ||
    die "openssl headers not found: install the Debian package 'libssl-dev'"
[ -f "$FRAGMENT" ] || die "$FRAGMENT not found"

# --- cache key ---------------------------------------------------------------

if version=$(dpkg-query -W -f='${Version}' linux-source-6.12 2>/dev/null) &&
   [ -n "$version" ] && [ "$TARBALL" = /usr/src/linux-source-6.12.tar.xz ]; then
    :
else
    # Not the Debian package: identify the tarball by its contents.
    version=sha-$(sha256sum "$TARBALL" | cut -c1-16)
fi
key=$( { echo "$version"; cat "$FRAGMENT" "$SELF"; } | sha256sum | cut -c1-16)

SRC=$CACHE/linux-source-6.12-$version
OBJ=$CACHE/kernel-obj
RESULT=$CACHE/kernel-$key

install_results() {
    mkdir -p "$OUTDIR"
    local f
    for f in bzImage kernel.config vsock_test vsock_perf vsock_diag_test; do
        if [ -f "$RESULT/$f" ]; then
            cp -pf "$RESULT/$f" "$OUTDIR/$f"
        fi
    done
    log "kernel $key ($version) -> $OUTDIR/bzImage"
}

if [ -f "$RESULT/done" ]; then
    install_results
    exit 0
fi

mkdir -p "$CACHE"
exec 9>"$LOCK"
log "waiting for $LOCK"
flock 9
# Another run may have finished while we waited.
if [ -f "$RESULT/done" ]; then
    install_results
    exit 0
fi

# --- source tree ---------------------------------------------------------------

if [ ! -f "$SRC/.unpacked" ]; then
    log "unpacking $TARBALL into $SRC"
    rm -rf "$SRC" "$SRC.tmp"
    mkdir -p "$SRC.tmp"
    tar -xJf "$TARBALL" -C "$SRC.tmp" --strip-components=1
    mv "$SRC.tmp" "$SRC"
    touch "$SRC/.unpacked"
fi

# --- configuration -----------------------------------------------------------

start=$(date +%s)
mkdir -p "$OBJ"
kmake() {
    make -C "$SRC" O="$OBJ" ARCH=x86_64 "$@"
}

log "configuring (tinyconfig + $FRAGMENT)"
kmake -s tinyconfig >/dev/null
(cd "$OBJ" &&
 KCONFIG_CONFIG=.config "$SRC/scripts/kconfig/merge_config.sh" -m \
     -O "$OBJ" .config "$FRAGMENT" >/dev/null)
kmake -s olddefconfig >/dev/null

# Every option the fragment asks for must have survived olddefconfig (a
# missing dependency silently drops an option).
missing=()
while IFS= read -r line; do
    case $line in
    CONFIG_*=*)
        opt=${line%%=*}
        if ! grep -qxF -- "$line" "$OBJ/.config"; then
            got=$(grep -E "^(# )?${opt}[= ]" "$OBJ/.config" || echo "absent")
            missing+=("$opt (wanted '${line#*=}', got: $got)")
        fi
        ;;
    "# CONFIG_"*" is not set")
        opt=${line#\# }
        opt=${opt%% *}
        if grep -qE "^$opt=" "$OBJ/.config"; then
            missing+=("$opt (wanted unset, got: $(grep -E "^$opt=" "$OBJ/.config"))")
        fi
        ;;
    esac
done < "$FRAGMENT"
if [ ${#missing[@]} -gt 0 ]; then
    for m in "${missing[@]}"; do
        echo "build-kernel.sh: error: kernel option not set as requested: $m" >&2
    done
    die "${#missing[@]} option(s) of $FRAGMENT missing from the final .config (unmet dependency?)"
fi

# --- kernel ------------------------------------------------------------------

log "building bzImage with -j$JOBS (takes a few minutes)"
kmake -j"$JOBS" bzImage > "$OBJ/build.log" 2>&1 || {
    tail -n 30 "$OBJ/build.log" >&2
    die "kernel build failed, full log: $OBJ/build.log"
}

mkdir -p "$RESULT.tmp"
cp "$OBJ/arch/x86/boot/bzImage" "$RESULT.tmp/bzImage"
cp "$OBJ/.config" "$RESULT.tmp/kernel.config"
log "bzImage built in $(( $(date +%s) - start ))s"

# --- tools/testing/vsock ---------------------------------------------------------

# Needs the exported uapi headers; build in a copy so the source stays clean.
kmake -s headers_install >/dev/null
TOOLS=$CACHE/vsock-tools-obj
rm -rf "$TOOLS"
cp -r "$SRC/tools/testing/vsock" "$TOOLS"
tools_cflags="-O2 -Wall -I. -I$SRC/tools/include -I$OBJ/usr/include"
tools_cflags+=" -Wno-pointer-sign -fno-strict-overflow -fno-strict-aliasing"
tools_cflags+=" -fno-common -U_FORTIFY_SOURCE -D_GNU_SOURCE"
for prog in vsock_test vsock_perf vsock_diag_test; do
    if make -C "$TOOLS" CFLAGS="$tools_cflags" LDFLAGS=-static "$prog" \
         >> "$TOOLS/build.log" 2>&1; then
        cp "$TOOLS/$prog" "$RESULT.tmp/$prog"
    else
        log "warning: $prog did not build statically (log: $TOOLS/build.log)"
    fi
done

rm -rf "$RESULT"
mv "$RESULT.tmp" "$RESULT"
touch "$RESULT/done"
log "total $(( $(date +%s) - start ))s"
install_results
