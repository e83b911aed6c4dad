#!/usr/bin/env bash
# Fetch rust-vmm's vhost-device-vsock, the vhost-user daemon a user without
# /dev/vhost-vsock would pick, for make bench's comparison channel.
#
# Debian ships it in sid only.  Like scripts/qemu-source.sh for the qemu
# source package, apt runs with a private state (a one-line sources.list
# with a sid entry for the mirror this machine already uses, lists and
# cache under the cache directory), so the machine's own apt setup is
# neither read for packages nor changed.  The .deb is unpacked with
# dpkg-deb -x into the cache; nothing is installed.
#
# usage: scripts/vhost-device-vsock.sh [--cached-only] [--cache-dir=DIR]
#
# Prints the daemon's path on stdout.  --cached-only never downloads: it
# exits 3 (and says so on stderr) when the daemon is not cached yet.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
cache="${VSOCK_USER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/virtio-vsock-user}"
package=vhost-device-vsock
suite=sid
cached_only=

die() { echo "vhost-device-vsock: $*" >&2; exit 1; }

for arg in "$@"; do
    case "$arg" in
        --cached-only) cached_only=1 ;;
        --cache-dir=*) cache=${arg#*=} ;;
        *) die "unknown argument '$arg'" ;;
    esac
done

dest="$cache/$package"
bin="$dest/root/usr/bin/$package"
if [ -x "$bin" ]; then
    echo "$bin"
    exit 0
fi
if [ -n "$cached_only" ]; then
    echo "vhost-device-vsock: not cached in $dest (make bench fetches it)" >&2
    exit 3
fi

command -v apt-get >/dev/null || die "apt-get not found: a Debian machine is needed"
read -r uri keyring < <(python3 "$here/apt-archive.py") ||
    die "cannot derive a Debian archive from this machine's apt sources"
opt=
[ "$keyring" = - ] || opt="[signed-by=$keyring] "
apt="$cache/apt-$suite"
mkdir -p "$apt/lists/partial" "$apt/archives/partial" "$dest"
echo "deb $opt$uri $suite main" > "$apt/sources.list"
# The archive's Release files are past their Valid-Until (see
# qemu-source.sh); the package's checksum is still checked against the
# signed index.
aptopts=(-o "Dir::Etc::SourceList=$apt/sources.list"
         -o "Dir::Etc::SourceParts=$apt/none"
         -o "Dir::State::Lists=$apt/lists"
         -o "Dir::State::Status=$apt/status"
         -o "Dir::Cache=$apt/cache"
         -o "Acquire::Check-Valid-Until=false"
         -o "Acquire::Check-Date=false"
         -o "APT::Sandbox::User=root")
: > "$apt/status"
echo "vhost-device-vsock: fetching $package from $suite through apt" >&2
if ! apt-get "${aptopts[@]}" update >"$apt/update.log" 2>&1 ||
   grep -q '^\(W\|E\): Failed to fetch' "$apt/update.log"; then
    die "cannot fetch the $suite index from $uri; see $apt/update.log"
fi
tmp=$(mktemp -d "$cache/fetch.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && apt-get "${aptopts[@]}" download "$package" \
    >"$apt/download.log" 2>&1) ||
    die "apt could not download $package from $uri $suite; see $apt/download.log"
deb=$(ls "$tmp"/*.deb)
rm -rf "$dest/root.tmp"
dpkg-deb -x "$deb" "$dest/root.tmp"
dpkg-deb -f "$deb" Version > "$dest/root.tmp/VERSION"
mv "$deb" "$dest/"
rm -rf "$dest/root"
mv "$dest/root.tmp" "$dest/root"
[ -x "$bin" ] || die "$(basename "$deb") holds no usr/bin/$package"
echo "vhost-device-vsock: $(cat "$dest/root/VERSION") unpacked in $dest/root" >&2
echo "$bin"
