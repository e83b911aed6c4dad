#!/usr/bin/env bash
# Install the Debian packages the build and the tests need, if any is missing.
#
# Idempotent: when everything is present it only runs dpkg-query.  The
# backports entry it may add is derived from the machine's own apt sources
# (scripts/apt-archive.py), so no mirror host is written anywhere.
#
# usage: scripts/install-deps.sh [--check]
#   --check   only report what is missing (exit 1 if anything is)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
top=$(dirname "$here")

# Packages from the release itself.
pkgs=(
    build-essential pkg-config python3 python3-venv ninja-build flex bison
    libglib2.0-dev libfdt-dev libslirp-dev libpixman-1-dev libcbor-dev
    libgnutls28-dev zlib1g-dev dpkg-dev xz-utils patch
    seabios qemu-system-data ipxe-qemu
    # the TLS link test's x509 CA and certificates (tests_links.py)
    openssl
    # the fuzzers (clang, libFuzzer); llvm's llvm-symbolizer names the
    # functions in sanitizer reports
    clang libclang-rt-14-dev llvm
)
# The guest side (kernel, initramfs) lists its own.
if [ -f "$top/tests/guest/deps.txt" ]; then
    while read -r p; do
        case "$p" in ''|'#'*) ;; *) pkgs+=("$p") ;; esac
    done < "$top/tests/guest/deps.txt"
fi
# Packages that bookworm only has in backports.
bpo_pkgs=(meson python3-pycotap linux-source-6.12)

need_meson="1.5"

missing=()
for p in "${pkgs[@]}" "${bpo_pkgs[@]}"; do
    st=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
    [ "$st" = installed ] || missing+=("$p")
done
if command -v meson >/dev/null 2>&1 &&
   ! dpkg --compare-versions "$(meson --version)" ge "$need_meson"; then
    missing+=(meson)
fi

if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi
if [ "${1:-}" = --check ]; then
    echo "missing packages: ${missing[*]}"
    exit 1
fi

echo "install-deps: installing ${missing[*]}"
sudo=
if [ "$(id -u)" != 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        sudo=sudo
    else
        echo "install-deps: not root and no sudo; install as root:" \
             "${missing[*]}" >&2
        exit 1
    fi
fi

codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
if [ "$codename" != bookworm ]; then
    echo "install-deps: warning: tested on Debian bookworm, this is" \
         "'${codename:-unknown}'" >&2
fi

# bookworm-backports: meson >= 1.5, python3-pycotap, linux-source-6.12.
if [ "$codename" = bookworm ] &&
   ! grep -rqs "bookworm-backports" /etc/apt/sources.list \
        /etc/apt/sources.list.d/; then
    read -r uri keyring < <(python3 "$here/apt-archive.py")
    list=/etc/apt/sources.list.d/virtio-vsock-user-backports.sources
    {
        echo "Types: deb"
        echo "URIs: $uri"
        echo "Suites: bookworm-backports"
        echo "Components: main"
        [ "$keyring" = - ] || echo "Signed-By: $keyring"
    } | $sudo tee "$list" >/dev/null
    echo "install-deps: added bookworm-backports from $uri ($list)"
fi

export DEBIAN_FRONTEND=noninteractive
if ! $sudo apt-get update -q >/tmp/vsock-user-apt-update.log 2>&1 ||
   grep -q '^\(W\|E\): Failed to fetch' /tmp/vsock-user-apt-update.log; then
    echo "install-deps: 'apt-get update' failed (no network to the Debian" \
         "archive?); see /tmp/vsock-user-apt-update.log" >&2
    exit 1
fi

rel=()
bpo=()
for p in "${missing[@]}"; do
    case " ${bpo_pkgs[*]} " in
        *" $p "*) bpo+=("$p") ;;
        *) rel+=("$p") ;;
    esac
done
if [ ${#rel[@]} -gt 0 ]; then
    $sudo apt-get install -y -q --no-install-recommends "${rel[@]}" ||
        { echo "install-deps: could not install ${rel[*]}" >&2; exit 1; }
fi
if [ ${#bpo[@]} -gt 0 ]; then
    t=()
    [ "$codename" = bookworm ] && t=(-t bookworm-backports)
    $sudo apt-get install -y -q --no-install-recommends "${t[@]}" "${bpo[@]}" ||
        { echo "install-deps: could not install ${bpo[*]}" >&2; exit 1; }
fi
