#!/usr/bin/env bash
# Prints the directory of an unpacked Debian cloud kernel (with depmod run), downloading
# it once into the cache. The package name follows Debian's current cloud kernel; set
# LAB_REFRESH=1 to re-resolve it.
set -euo pipefail
cache=${LAB_CACHE:-/var/cache/lvsform-lab}
mkdir -p "$cache"
cd "$cache"
resolve() {
  apt-cache depends linux-image-cloud-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ {print $2; exit}' >package.new
  [ -s package.new ] && mv package.new package
}
if [ -n "${LAB_REFRESH:-}" ] || [ ! -s package ]; then
  resolve || { apt-get update -qq && resolve; } || {
    echo "error: cannot resolve linux-image-cloud-amd64 from Debian's package lists" >&2
    exit 1
  }
fi
pkg=$(cat package)
if [ ! -d "root-$pkg/boot" ]; then
  rm -f ./*.deb
  # apt's sandbox user cannot write here; apt checks the download all the same. Old package
  # lists may name a kernel the mirror no longer has: refresh them and resolve again.
  if ! apt-get download -q "$pkg" >/dev/null 2>&1; then
    apt-get update -qq && resolve && pkg=$(cat package)
    apt-get download -q "$pkg" >&2
  fi
  rm -rf "root-$pkg.tmp" && mkdir "root-$pkg.tmp"
  dpkg-deb -x "$pkg"_*.deb "root-$pkg.tmp"
  version=$(ls "root-$pkg.tmp/lib/modules")
  depmod -b "root-$pkg.tmp" "$version"
  mv "root-$pkg.tmp" "root-$pkg"
  rm -f "$pkg"_*.deb
fi
echo "$cache/root-$pkg"
