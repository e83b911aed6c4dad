#!/usr/bin/env bash
# Prepare the QEMU source tree our build uses: build/src/qemu.  (Its path
# must not start with the build directory's, build/qemu: meson would take
# every source file for a generated one.)
#
#  1. the base: Debian's source package pinned in subprojects/qemu.pin,
#     fetched through apt into a cache outside the build tree, verified
#     (size and SHA-256) before anything is unpacked, and unpacked once with
#     dpkg-source (Debian's patches applied) into a pristine cache copy;
#     or, with --qemu-src=DIR, an existing QEMU 10.x tree (left untouched);
#  2. a copy of that base (mtimes kept) with our patch series
#     subprojects/packagefiles/qemu/*.patch applied in order;
#  3. our own files (hw/, include/, chardev/, tests/qtest/, docs/, qapi/,
#     our C files in tests/unit/ and tests/bench/, our Python files in
#     tests/functional/) linked in at the
#     same relative paths, so that editing one of them rebuilds only it.
#
# Re-running is cheap: nothing is fetched or copied again, only a changed
# patch series is re-applied (to the files it touches) and links refreshed.
#
# usage: scripts/qemu-source.sh [--qemu-src=DIR] [--cache-dir=DIR] [--fetch-only]
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
top=$(dirname "$here")
pin="$top/subprojects/qemu.pin"
patchdir="$top/subprojects/packagefiles/qemu"
tree="$top/build/src/qemu"
cache="${VSOCK_USER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/virtio-vsock-user}"
qemu_src=
fetch_only=

die() { echo "qemu-source: $*" >&2; exit 1; }

for arg in "$@"; do
    case "$arg" in
        --qemu-src=*) qemu_src=${arg#*=} ;;
        --cache-dir=*) cache=${arg#*=} ;;
        --fetch-only) fetch_only=1 ;;
        *) die "unknown argument '$arg'" ;;
    esac
done

pin_get() { awk -v k="$1" '$1 == k { print $2; exit }' "$pin"; }
[ -f "$pin" ] || die "missing $pin"
package=$(pin_get package)
version=$(pin_get version)
suites=$(awk '$1 == "suites" { $1 = ""; sub(/^ +/, ""); print; exit }' "$pin")
[ -n "$package" ] && [ -n "$version" ] && [ -n "$suites" ] ||
    die "$pin lacks package, version or suites"

check_file() {  # name size sha256 path -> 0 if it matches
    [ -f "$4" ] || return 1
    [ "$(stat -c %s "$4")" = "$2" ] || return 1
    [ "$(sha256sum "$4" | cut -d' ' -f1)" = "$3" ]
}

fetch_base() {
    local dl="$cache/downloads" name size sum need=()
    mkdir -p "$dl"
    while read -r _ name size sum; do
        if ! check_file "$name" "$size" "$sum" "$dl/$name"; then
            need+=("$name")
        fi
    done < <(grep '^file ' "$pin")
    [ ${#need[@]} -eq 0 ] && return 0

    echo "qemu-source: fetching $package $version through apt"
    command -v apt-get >/dev/null || die "apt-get not found: a Debian machine is needed (or use --qemu-src=DIR)"
    local uri keyring apt="$cache/apt"
    read -r uri keyring < <(python3 "$here/apt-archive.py") ||
        die "cannot derive a Debian archive from this machine's apt sources; use --qemu-src=DIR"
    # Without a Signed-By the entry takes no option at all, so that apt
    # checks it against its default keyrings (/etc/apt/trusted.gpg.d).
    local opt=
    [ "$keyring" = - ] || opt="[signed-by=$keyring] "
    # The pin holds the size and SHA-256 of every file, so a stale index
    # can not smuggle in other bytes: the Release files' dates
    # (Valid-Until, a clock ahead of or behind the archive's) are not
    # checked.  This archive's Release files are past their Valid-Until.
    local aptopts=(-o "Dir::Etc::SourceList=$apt/sources.list"
                   -o "Dir::Etc::SourceParts=$apt/none"
                   -o "Dir::State::Lists=$apt/lists"
                   -o "Acquire::Check-Valid-Until=false"
                   -o "Acquire::Check-Date=false"
                   -o "APT::Sandbox::User=root")
    # The suites that may carry the pinned version, in order: it leaves
    # sid first, then stays a while in testing and the backports suites.
    local s found= reached=
    for s in $suites; do
        rm -rf "$apt/lists"
        mkdir -p "$apt/lists/partial"
        echo "deb-src $opt$uri $s main" > "$apt/sources.list"
        if ! apt-get "${aptopts[@]}" update >"$apt/update-$s.log" 2>&1 ||
           grep -q '^\(W\|E\): Failed to fetch' "$apt/update-$s.log"; then
            continue
        fi
        reached=1
        if apt-cache "${aptopts[@]}" showsrc "$package" 2>/dev/null |
           grep -x "Version: $version" >/dev/null; then
            found=$s
            break
        fi
    done
    [ -n "$reached" ] ||
        die "cannot fetch a source index from $uri (suites: $suites; network?); see $apt/update-*.log"
    [ -n "$found" ] ||
        die "Debian $package $version is no longer in the archive (looked in: $suites); build on a QEMU 10.2.x tree instead: ./configure --qemu-src=DIR"
    echo "qemu-source: $package $version found in $found"
    local tmp
    tmp=$(mktemp -d "$cache/fetch.XXXXXX")
    (cd "$tmp" && apt-get "${aptopts[@]}" source --download-only \
        "$package=$version" >"$apt/source.log" 2>&1) ||
        { rm -rf "$tmp"; die "apt could not download $package=$version from $uri $found; see $apt/source.log"; }
    while read -r _ name size sum; do
        check_file "$name" "$size" "$sum" "$tmp/$name" || {
            local got
            got=$( [ -f "$tmp/$name" ] && sha256sum "$tmp/$name" | cut -d' ' -f1 || echo missing)
            rm -rf "$tmp"
            die "checksum mismatch for $name: expected $sum, got $got (the archive changed; check subprojects/qemu.pin)"
        }
        mv -f "$tmp/$name" "$dl/$name"
    done < <(grep '^file ' "$pin")
    rm -rf "$tmp"
}

unpack_base() {  # -> prints the pristine tree's path
    local pristine="$cache/$package-$version"
    pristine=${pristine//:/_}
    if [ ! -f "$pristine/.vsock-user-pristine" ]; then
        local dsc tmp
        dsc=$(awk '$1 == "file" && $2 ~ /\.dsc$/ { print $2 }' "$pin")
        tmp="$pristine.tmp"
        rm -rf "$tmp"
        echo "qemu-source: unpacking $dsc (Debian patches applied)" >&2
        dpkg-source -x "$cache/downloads/$dsc" "$tmp" >"$cache/unpack.log" 2>&1 ||
            die "dpkg-source could not unpack $dsc; see $cache/unpack.log"
        # dpkg-source leaves a copy of the upstream tarball beside the tree
        find "$cache" -maxdepth 1 -type f -name "${package}_*.tar.*" -delete
        echo "$version" > "$tmp/.vsock-user-pristine"
        rm -rf "$pristine"
        mv "$tmp" "$pristine"
    fi
    echo "$pristine"
}

check_tree() {
    local d=$1 v
    [ -d "$d" ] || die "--qemu-src: '$d' is not a directory"
    [ -f "$d/VERSION" ] && [ -f "$d/meson.build" ] && [ -f "$d/hw/virtio/meson.build" ] ||
        die "--qemu-src: '$d' is not a QEMU source tree (no VERSION, meson.build or hw/virtio/)"
    v=$(cat "$d/VERSION")
    case "$v" in
        10.*) ;;
        *) die "--qemu-src: '$d' is QEMU $v; a QEMU 10.x tree is needed" ;;
    esac
}

if [ -n "$qemu_src" ]; then
    base=$(cd "$qemu_src" 2>/dev/null && pwd) || die "--qemu-src: '$qemu_src' does not exist"
    check_tree "$base"
    origin="external $base"
else
    fetch_base
    [ -n "$fetch_only" ] && exit 0
    base=$(unpack_base)
    origin="debian $version"
fi

# 2. our tree: a copy of the base, recreated only when the base changes.
if [ ! -f "$tree/.vsock-user-origin" ] ||
   [ "$(cat "$tree/.vsock-user-origin")" != "$origin" ]; then
    echo "qemu-source: copying $origin into build/src/qemu"
    rm -rf "$tree" "$tree.tmp"
    mkdir -p "$tree.tmp"
    tar -C "$base" --exclude=.git --exclude=.vsock-user-pristine -cf - . |
        tar -C "$tree.tmp" -xf -
    echo "$origin" > "$tree.tmp/.vsock-user-origin"
    mv "$tree.tmp" "$tree"
    # A new tree invalidates the build directory configured against the old.
    rm -rf "$top/build/qemu"
fi

# The patch series: re-applied only when it changed, restoring first the
# files the previous series touched (other files keep their mtimes).
series=$(cd "$patchdir" 2>/dev/null && ls -1 ./*.patch 2>/dev/null | sort || true)
stamp=$(for p in $series; do
    echo "$(sha256sum "$patchdir/$p" | cut -c1-16) $p"
done)
if [ "$(cat "$tree/.vsock-user-patches" 2>/dev/null)" != "$stamp" ]; then
    # Keep the patched files as they are now, so that those the new series
    # leaves unchanged get their old mtimes back and are not rebuilt.
    saved=$(mktemp -d "$top/build/.patched.XXXXXX")
    if [ -f "$tree/.vsock-user-touched" ]; then
        while read -r f; do
            if [ -e "$tree/$f" ]; then
                mkdir -p "$saved/$(dirname "$f")"
                cp -p "$tree/$f" "$saved/$f"
            fi
        done < "$tree/.vsock-user-touched"
        while read -r f; do
            if [ -e "$base/$f" ]; then
                cp -p "$base/$f" "$tree/$f"
            else
                rm -f "$tree/$f"
            fi
        done < "$tree/.vsock-user-touched"
    fi
    : > "$tree/.vsock-user-touched"
    for p in $series; do
        sed -n 's|^+++ b/\([^[:space:]]*\).*|\1|p' "$patchdir/$p" >> "$tree/.vsock-user-touched"
        # Validate first so that a bad patch leaves no half-applied file.
        patch -d "$tree" -p1 --dry-run -s -N < "$patchdir/$p" >/dev/null 2>&1 ||
            die "patch ${p#./} does not apply to $origin; update it (see subprojects/packagefiles/qemu/)"
        patch -d "$tree" -p1 -s -N --no-backup-if-mismatch < "$patchdir/$p"
    done
    while read -r f; do
        if [ -f "$saved/$f" ] && cmp -s "$saved/$f" "$tree/$f"; then
            touch -r "$saved/$f" "$tree/$f"
        fi
    done < "$tree/.vsock-user-touched"
    rm -rf "$saved"
    printf '%s' "$stamp" > "$tree/.vsock-user-patches"
    [ -z "$series" ] || echo "qemu-source: applied $(echo "$series" | wc -l) patch(es)"
fi

# 3. the overlay: link our files in; drop links whose target went away.
find "$tree" -type l -lname "$top/*" ! -exec test -e {} \; -delete
link_in() {  # our file, its path in the tree
    if [ -e "$tree/$2" ] && [ ! -L "$tree/$2" ]; then
        die "our $1 would replace an upstream file; change upstream files through a patch"
    fi
    if [ "$(readlink "$tree/$2" 2>/dev/null)" != "$top/$1" ]; then
        mkdir -p "$(dirname "$tree/$2")"
        ln -sfn "$top/$1" "$tree/$2"
    fi
}
# Whole directories, and our files among QEMU's unit tests, benchmarks
# and functional tests.
for d in hw include chardev tests/qtest docs qapi tests/unit tests/bench \
         tests/functional; do
    [ -d "$top/$d" ] || continue
    case $d in
        tests/unit|tests/bench) pat='*vsock-user*.[ch]' ;;
        tests/functional) pat='*vsock_user*.py' ;;
        *) pat='*' ;;
    esac
    while IFS= read -r -d '' f; do
        rel=${f#"$top"/}
        link_in "$rel" "$rel"
    done < <(find "$top/$d" -type f -name "$pat" ! -name '*~' ! -name '.*' -print0)
done
