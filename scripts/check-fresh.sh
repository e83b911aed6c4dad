#!/usr/bin/env bash
# make check-fresh: the README's two commands on a machine that has nothing.
#
# Creates a clean root of Debian RELEASE (bookworm or trixie, default
# trixie) with mmdebstrap from the mirror this machine's apt already uses
# (scripts/apt-archive.py), copies this checkout into it (tracked and new
# files, not build/ or caches) and runs `make check`, then `make run`,
# there as root with an empty environment: no packages beyond a minimal
# Debian, no caches, no QEMU source, nothing of the outer machine's.  The
# root gets the harder apt source style, a one-line sources.list without
# Signed-By; the outer machine's own `make check` covers deb822 sources.
# The last line counts make check's tests and make run as one more.
#
# It never changes the outer machine's apt configuration or packages:
# mmdebstrap, when it is not installed, is fetched into the cache through a
# private apt state and run from there.  Every mount and directory it makes
# is removed on exit, also when it fails or is interrupted.
#
# usage: scripts/check-fresh.sh [--keep] [RELEASE]
#   --keep   leave the root behind
# Environment: FRESH_TMP (default /var/tmp) holds the root (~5 GiB at peak).
# The root's logs are kept in build/check-fresh-logs/RELEASE/.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
top=$(dirname "$here")
cache="${VSOCK_USER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/virtio-vsock-user}"
keep=
release=trixie
for arg in "$@"; do
    case "$arg" in
        --keep) keep=1 ;;
        bookworm|trixie) release=$arg ;;
        *) echo "check-fresh: unknown argument '$arg'" \
                "(--keep, bookworm or trixie)" >&2; exit 1 ;;
    esac
done

die() { echo "check-fresh: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "needs root (chroot, mounts)"
command -v apt-get >/dev/null || die "needs a Debian machine (apt-get)"

t0=$(date +%s)
phase_start=$t0
phase() {  # name: report the phase that ended, start the next
    local now
    now=$(date +%s)
    [ -z "${phase_name:-}" ] ||
        echo "check-fresh: phase '$phase_name' took $((now - phase_start)) s"
    phase_name=$1
    phase_start=$now
    [ -z "$1" ] || echo "check-fresh: phase '$1'"
}

root=
cleanup() {
    local rc=$? p m
    trap - EXIT INT TERM HUP
    set +e
    [ -n "$root" ] || exit "$rc"
    # Processes still running in the root (interrupted builds, QEMUs) keep
    # its mounts busy: end them first.
    for p in /proc/[0-9]*; do
        [ "$(readlink "$p/root" 2>/dev/null)" = "$root" ] &&
            kill -9 "${p#/proc/}" 2>/dev/null
    done
    # Innermost mounts first; a mount that will not go is detached.
    findmnt -rn -o TARGET | grep -E "^$root(/|$)" | sort -r |
        while read -r m; do
            umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
        done
    if findmnt -rn -o TARGET | grep -qE "^$root(/|$)"; then
        echo "check-fresh: mounts remain under $root; not removing it" >&2
        exit 1
    fi
    # The logs outlive the root, so that a failure can be read afterwards.
    logs="$top/build/check-fresh-logs/$release"
    rm -rf "$logs"
    mkdir -p "$logs"
    for d in test-logs qemu/tests/functional; do
        [ -d "$root/src/virtio-vsock-user/build/$d" ] &&
            cp -a "$root/src/virtio-vsock-user/build/$d" "$logs/"
    done
    for f in check.log run.log; do
        [ -f "$root/$f" ] && cp "$root/$f" "$logs/"
    done
    if [ -n "$keep" ]; then
        echo "check-fresh: root kept in $root"
    else
        rm -rf --one-file-system "$root"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

read -r uri _ < <(python3 "$here/apt-archive.py") ||
    die "cannot derive the Debian archive from this machine's apt sources"

# mmdebstrap: the installed one, or Debian's package unpacked in the cache.
phase "get mmdebstrap"
if command -v mmdebstrap >/dev/null; then
    mmdebstrap=(mmdebstrap)
else
    tools="$cache/tools"
    if [ ! -x "$tools/root/usr/bin/mmdebstrap" ]; then
        apt="$tools/apt"
        rm -rf "$apt" "$tools/root"
        mkdir -p "$apt/lists/partial" "$apt/archives/partial" "$tools/root"
        echo "deb $uri $(. /etc/os-release && echo "$VERSION_CODENAME") main" \
            > "$apt/sources.list"
        aptopts=(-o "Dir::Etc::SourceList=$apt/sources.list"
                 -o "Dir::Etc::SourceParts=$apt/none"
                 -o "Dir::State::Lists=$apt/lists"
                 -o "Dir::Cache::Archives=$apt/archives"
                 -o "Acquire::Check-Valid-Until=false"
                 -o "APT::Sandbox::User=root")
        apt-get "${aptopts[@]}" update >"$tools/update.log" 2>&1 ||
            die "apt-get update for mmdebstrap failed; see $tools/update.log"
        (cd "$apt/archives" &&
         apt-get "${aptopts[@]}" download mmdebstrap >"$tools/download.log" 2>&1) ||
            die "cannot download mmdebstrap; see $tools/download.log"
        dpkg-deb -x "$apt/archives"/mmdebstrap_*.deb "$tools/root"
    fi
    mmdebstrap=(perl "$tools/root/usr/bin/mmdebstrap")
fi

phase "bootstrap $release root"
root=$(mktemp -d "${FRESH_TMP:-/var/tmp}/vsock-user-fresh.XXXXXX")
# Settings of the outer apt that a fresh machine here has too, because
# they are about reaching this archive: its Release files are past their
# Valid-Until date (so every machine here turns the date checks off), and
# a proxy, where one is set, is how the archive is reached at all.  The
# image-size tuning of the outer machine (no caches, gzip indexes, no
# translations, no AppStream) is not copied: a Debian install does not
# have it, and the build must not depend on it.
aptopts=()
while read -r line; do
    aptopts+=(--aptopt="$line")
done < <(apt-config dump | grep -E '^Acquire::(Check-Valid-Until|Check-Date|https?::Proxy) ')
"${mmdebstrap[@]}" --mode=root --variant=apt --include=make,python3 \
    --format=directory "${aptopts[@]}" \
    "$release" "$root" \
    "deb $uri $release main" "deb $uri $release-updates main" \
    >"$root.log" 2>&1 || { tail -n 20 "$root.log"; rm -f "$root.log"; die "mmdebstrap failed"; }
rm -f "$root.log"
# The harder source style: one line per suite, no Signed-By (mmdebstrap
# writes this form; make sure of it).
rm -f "$root"/etc/apt/sources.list.d/*
printf 'deb %s %s main\ndeb %s %s-updates main\n' \
    "$uri" "$release" "$uri" "$release" > "$root/etc/apt/sources.list"
cp /etc/resolv.conf "$root/etc/resolv.conf" 2>/dev/null || true

phase "copy the checkout"
mkdir -p "$root/src/virtio-vsock-user"
(cd "$top" && git ls-files -z --cached --others --exclude-standard |
    while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done |
    tar --null -T - -cf -) | tar -C "$root/src/virtio-vsock-user" -xf -

mount -t proc proc "$root/proc"
mount --rbind /sys "$root/sys"
mount --make-rslave "$root/sys"
mount --rbind /dev "$root/dev"
mount --make-rslave "$root/dev"

# Runs one make target in the root as a user's shell would, each line of
# its output with the minutes:seconds since its start, so that the log
# shows how long each of its phases took.  usage: in_root TARGET LOG
in_root() {
    chroot "$root" /usr/bin/env -i HOME=/root LANG=C.UTF-8 TERM=dumb \
        PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
        sh -c "cd /src/virtio-vsock-user && make $1" </dev/null 2>&1 |
        tee "$root/$2" |
        python3 -u -c '
import sys, time
t0 = time.monotonic()
for line in sys.stdin:
    s = int(time.monotonic() - t0)
    sys.stdout.write("[%02d:%02d] %s" % (s // 60, s % 60, line))
'
    return "${PIPESTATUS[0]}"
}

phase "make check in the root"
set +e
in_root check check.log
rc=$?
phase "make run in the root"
in_root run run.log
run_rc=$?
set -e
phase ""
# make check's own summary line, and make run as one more check, for
# whoever counts this run's tests.
summary=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$root/check.log" | tail -n 1 || true)
echo "check-fresh: make check: ${summary:-no summary line (make check stopped early)}"
echo "check-fresh: make check in a clean $release root exited $rc," \
     "make run exited $run_rc, after $(( $(date +%s) - t0 )) s in all"
read -r p f sk < <(printf '%s\n' "$summary" |
    sed -nE 's/^([0-9]+) passed, ([0-9]+) failed(, ([0-9]+) skipped)?.*/\1 \2 \4/p') ||
    true
p=${p:-0} f=${f:-0} sk=${sk:-0}
[ "$rc" = 0 ] || [ "$f" != 0 ] || f=1
if [ "$run_rc" = 0 ]; then p=$((p + 1)); else f=$((f + 1)); fi
echo "check-fresh: $p passed, $f failed, $sk skipped"
[ "$rc" = 0 ] && [ "$run_rc" = 0 ]
