#!/usr/bin/env bash
# Install the Debian packages the build and the tests need, if any is missing.
#
# Debian 12 (bookworm) and 13 (trixie): packages are picked by what the
# release has.  The clang runtime (libFuzzer, the sanitizers) is the one
# of the release's default clang.  A package the release lacks, or has
# too old (bookworm's meson, python3-pycotap, which QEMU's qemu_test
# framework of the functional tests needs, and linux-source-6.12), comes
# from the release's backports suite, whose entry is added only then and
# derived from the machine's own apt sources (scripts/apt-archive.py), so
# no mirror host is written anywhere.
#
# Idempotent: when everything is present it only runs dpkg-query.
#
# usage: scripts/install-deps.sh [--check]
#   --check   only report what is missing (exit 1 if anything is)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
top=$(dirname "$here")

# Packages every supported release has in a version that works.
pkgs=(
    build-essential pkg-config python3 python3-venv ninja-build flex bison
    libglib2.0-dev libfdt-dev libslirp-dev libpixman-1-dev libcbor-dev
    libgnutls28-dev zlib1g-dev dpkg-dev xz-utils patch
    seabios qemu-system-data ipxe-qemu
    # the TLS link test's x509 CA and certificates
    # (tests/functional/x86_64/test_vsock_user_links_tls.py)
    openssl
    # QEMU's manual (make docs, in make check), with QEMU's Sphinx setup
    python3-sphinx python3-sphinx-rtd-theme
    # the fuzzers (clang, libFuzzer); llvm's llvm-symbolizer names the
    # functions in sanitizer reports
    clang llvm
)
# The guest side (kernel, initramfs) lists its own.
if [ -f "$top/tests/guest/deps.txt" ]; then
    while read -r p; do
        case "$p" in ''|'#'*) ;; *) pkgs+=("$p") ;; esac
    done < "$top/tests/guest/deps.txt"
fi
# Packages an older release has only in its backports suite; meson must be
# at least $need_meson (QEMU 10.2's).
newer_pkgs=(meson python3-pycotap linux-source-6.12)
need_meson="1.5"

installed() {
    [ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null)" = installed ]
}

# The clang runtime package of the release's default clang
# (libclang-rt-N-dev for clang-N); empty when clang is unknown so far.
clang_rt() {
    local n
    if installed clang; then
        n=$(dpkg-query -W -f='${Depends}' clang)
    else
        n=$(apt-cache depends clang 2>/dev/null || true)
    fi
    n=$(printf '%s\n' "$n" | grep -o 'clang-[0-9][0-9]*' | head -n 1)
    [ -z "$n" ] || echo "libclang-rt-${n#clang-}-dev"
}

missing=()
for p in "${pkgs[@]}" "${newer_pkgs[@]}"; do
    case " ${missing[*]} " in *" $p "*) continue ;; esac
    installed "$p" || missing+=("$p")
done
if command -v meson >/dev/null 2>&1 &&
   ! dpkg --compare-versions "$(meson --version)" ge "$need_meson"; then
    case " ${missing[*]} " in *" meson "*) ;; *) missing+=(meson) ;; esac
fi
rt=$(clang_rt)
if [ -n "$rt" ] && ! installed "$rt"; then
    missing+=("$rt")
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
case "$codename" in
    bookworm|trixie) ;;
    *) echo "install-deps: warning: tested on Debian bookworm and trixie," \
            "this is '${codename:-unknown}'" >&2 ;;
esac

export DEBIAN_FRONTEND=noninteractive
apt_update() {
    if ! $sudo apt-get update -q >/tmp/vsock-user-apt-update.log 2>&1 ||
       grep -q '^\(W\|E\): Failed to fetch' /tmp/vsock-user-apt-update.log; then
        echo "install-deps: 'apt-get update' failed (no network to the" \
             "Debian archive?); see /tmp/vsock-user-apt-update.log" >&2
        exit 1
    fi
}
apt_install() {  # [apt-get options] packages
    $sudo apt-get install -y -q --no-install-recommends "$@" ||
        { echo "install-deps: could not install ${*}" >&2; exit 1; }
}
apt_update

# The release's own version of a newer package is enough when it has one
# (meson: a recent enough one); otherwise it comes from backports.
candidate() {
    apt-cache policy "$1" 2>/dev/null | awk '$1 == "Candidate:" { print $2 }'
}
rel=()
bpo=()
for p in "${missing[@]}"; do
    case " ${newer_pkgs[*]} " in
        *" $p "*)
            v=$(candidate "$p")
            if [ -z "$v" ] || [ "$v" = "(none)" ] ||
               { [ "$p" = meson ] &&
                 ! dpkg --compare-versions "$v" ge "$need_meson"; }; then
                bpo+=("$p")
            else
                rel+=("$p")
            fi ;;
        *) rel+=("$p") ;;
    esac
done
# clang was missing: its runtime is known now.
if [ -z "$rt" ]; then
    rt=$(clang_rt)
    [ -n "$rt" ] || { echo "install-deps: this release has no clang" >&2; exit 1; }
    rel+=("$rt")
fi

if [ ${#rel[@]} -gt 0 ]; then
    apt_install "${rel[@]}"
fi
if [ ${#bpo[@]} -gt 0 ]; then
    suite=$codename-backports
    if ! grep -rqs -- "$suite" /etc/apt/sources.list /etc/apt/sources.list.d/; then
        read -r uri keyring < <(python3 "$here/apt-archive.py")
        list=/etc/apt/sources.list.d/virtio-vsock-user-backports.sources
        {
            echo "Types: deb"
            echo "URIs: $uri"
            echo "Suites: $suite"
            echo "Components: main"
            [ "$keyring" = - ] || echo "Signed-By: $keyring"
        } | $sudo tee "$list" >/dev/null
        echo "install-deps: $codename lacks (a recent enough) ${bpo[*]};" \
             "added $suite from $uri ($list)"
        apt_update
    fi
    apt_install -t "$suite" "${bpo[@]}"
fi
