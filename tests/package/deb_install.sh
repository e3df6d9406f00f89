#!/usr/bin/env bash
# The .deb on a fresh Debian 12: cpack builds the packages, apt installs `aero` into a copy of a
# minimal debootstrap root (so apt resolves its dependencies from Debian), aero runs there
# (doctor, a tiny train, generate, the web page and configs it finds), then apt purges it and
# its dependencies and nothing of it is left under /usr.
#   deb_install.sh BUILD_DIR
# Needs root (chroot, mounts) and the Debian mirror. The minimal root is created once under
# $AERO_DEB_CACHE (default /var/cache/aero) and copied for each run; downloaded packages are
# kept there too, so a rerun takes under a minute.
set -euo pipefail
build=$(realpath "$1")
here=$(dirname "$(realpath "$0")")
cache=${AERO_DEB_CACHE:-/var/cache/aero}
mirror=${AERO_DEB_MIRROR:-http://deb.debian.org/debian}
t0=$(date +%s)
say() { echo "[$(( $(date +%s) - t0 ))s] $*"; }
# 77: ctest's SKIP_RETURN_CODE for this test.
[[ $(id -u) == 0 ]] || { echo "skipped: deb_install.sh needs root (chroot, mounts)"; exit 77; }
command -v debootstrap > /dev/null || apt-get install -y -qq debootstrap > /dev/null

work=$(mktemp -d /var/tmp/aero-deb.XXXXXX)
root=$work/root
cleanup() {
  for m in var/cache/apt/archives dev/pts dev proc; do
    mountpoint -q "$root/$m" 2> /dev/null && umount -l "$root/$m"
  done
  rm -rf "$work"
}
trap cleanup EXIT

say "cpack"
cpack -G DEB -B "$work/pkgs" --config "$build/CPackConfig.cmake" > "$work/cpack.log" 2>&1 ||
  { cat "$work/cpack.log"; exit 1; }
deb=$(ls "$work"/pkgs/aero_*.deb)
dpkg-deb -f "$deb" Package Version Depends
dpkg-deb -f "$deb" Depends | grep -q libcairo2 && dpkg-deb -f "$deb" Depends | grep -q libopenblas0-openmp

if [[ ! -d $cache/bookworm-minbase ]]; then
  say "debootstrap --variant=minbase bookworm (once; cached in $cache)"
  mkdir -p "$cache"
  rm -rf "$cache/bookworm-minbase.tmp"
  debootstrap --variant=minbase bookworm "$cache/bookworm-minbase.tmp" "$mirror" \
    > "$cache/debootstrap.log" 2>&1 || { tail -20 "$cache/debootstrap.log"; exit 1; }
  mv "$cache/bookworm-minbase.tmp" "$cache/bookworm-minbase"
fi
say "fresh root from the cached minbase"
cp -a "$cache/bookworm-minbase" "$root"
mkdir -p "$cache/archives/partial"
mount -t proc proc "$root/proc"
mount --bind /dev "$root/dev"
mount --bind /dev/pts "$root/dev/pts"
mount --bind "$cache/archives" "$root/var/cache/apt/archives"
cp /etc/resolv.conf "$root/etc/resolv.conf"
cat > "$root/etc/apt/sources.list" << SOURCES
deb $mirror bookworm main
deb $mirror bookworm-updates main
deb http://security.debian.org/debian-security bookworm-security main
SOURCES
# Keep downloaded packages in the cache for the next run.
rm -f "$root/etc/apt/apt.conf.d/docker-clean"
cp "$deb" "$root/tmp/"
cp "$here/tiny_model.sh" "$root/tmp/"
in_root() { chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root \
  LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive bash -c "$1"; }

say "apt-get update"
in_root "apt-get update -qq" > "$work/update.log" 2>&1 || { cat "$work/update.log"; exit 1; }
in_root "find /usr /etc /opt -xdev | sort" > "$work/before.txt"
say "apt-get install ./$(basename "$deb")"
in_root "apt-get install -y -q --no-install-recommends /tmp/$(basename "$deb")" \
  > "$work/install.log" 2>&1 || { tail -30 "$work/install.log"; exit 1; }
grep -E '^(Setting up|The following NEW)' "$work/install.log" | head -3 || true
in_root "dpkg -L aero" > "$work/files.txt"
echo "aero installed $(wc -l < "$work/files.txt") paths; $(in_root 'dpkg -l | grep -c ^ii') packages in the root"

say "aero in the clean root"
in_root "aero --version"
in_root "aero doctor" > "$work/doctor.log" 2>&1 || { cat "$work/doctor.log"; exit 1; }
grep -iE 'blas|threads' "$work/doctor.log" | head -3
in_root "bash /tmp/tiny_model.sh aero /tmp/m"
in_root "aero generate --model /tmp/m/run --prompt 'the fox' --max-new 20 --seed 1 --temperature 0.8"
in_root "aero plot /tmp/m/run --title 'Huấn luyện thử' > /dev/null && ls /tmp/m/run/loss.png"
in_root "aero serve --help" | grep -- '--web' | grep -q /usr/share/aero/web && echo "web page: /usr/share/aero/web"
in_root "aero train --config seed-tiny --help-config > /dev/null" && echo "configs: /usr/share/aero/configs"
test -f "$root/usr/share/bash-completion/completions/aero" && echo "completion installed"

say "apt-get purge aero, autoremove its dependencies"
in_root "apt-get purge -y -q aero && apt-get autoremove --purge -y -q" > "$work/purge.log" 2>&1 ||
  { tail -30 "$work/purge.log"; exit 1; }
in_root "rm -rf /tmp/m /tmp/*.deb /tmp/tiny_model.sh"
in_root "find /usr /etc /opt -xdev | sort" > "$work/after.txt"
# /etc/passwd-, group-, shadow-, gshadow-: the backups shadow's tools keep when a dependency
# adds a system user or group (Open MPI's pull in one); not files of aero's.
left=$(comm -13 "$work/before.txt" "$work/after.txt" | grep -vxE '/etc/(passwd|group|shadow|gshadow)-' || true)
if [[ -n $left ]]; then
  echo "left after purge:"; echo "$left" | head -30; exit 1
fi
in_root "dpkg -l aero 2>/dev/null | grep -q '^ii'" && { echo "aero still installed"; exit 1; }
say "purged: /usr, /etc and /opt as before the install"
echo "deb test passed in $(( $(date +%s) - t0 ))s"
