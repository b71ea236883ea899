#!/usr/bin/env bash
# Prints the directory of an unpacked Debian cloud kernel (with depmod run), downloading
# it once into the cache. The package name follows Debian's current cloud kernel; set
# LAB_REFRESH=1 to re-resolve it.
set -euo pipefail
cache=${LAB_CACHE:-/var/cache/lvsform-lab}
mkdir -p "$cache"
cd "$cache"
if [ -n "${LAB_REFRESH:-}" ] || [ ! -s package ]; then
  [ -n "$(find /var/lib/apt/lists -name '*Packages*' -print -quit 2>/dev/null)" ] || apt-get update -qq
  apt-cache depends linux-image-cloud-amd64 | awk '/Depends: linux-image-[0-9]/ {print $2; exit}' >package.new
  [ -s package.new ] || { echo "error: cannot resolve linux-image-cloud-amd64 (apt-get update?)" >&2; exit 1; }
  mv package.new package
fi
pkg=$(cat package)
if [ ! -d "root-$pkg/boot" ]; then
  rm -f ./*.deb
  # apt's sandbox user cannot write here; the download is checked by apt all the same.
  apt-get download -q "$pkg" >&2 2>/dev/null || apt-get download "$pkg" >&2
  rm -rf "root-$pkg.tmp" && mkdir "root-$pkg.tmp"
  dpkg-deb -x "$pkg"_*.deb "root-$pkg.tmp"
  version=$(ls "root-$pkg.tmp/lib/modules")
  depmod -b "root-$pkg.tmp" "$version"
  mv "root-$pkg.tmp" "root-$pkg"
  rm -f "$pkg"_*.deb
fi
echo "$cache/root-$pkg"
