#!/usr/bin/env bash
# Prints the path of keepalived's binary, unpacked from Debian's package into the lab's
# cache once (the host does not run it: the lab VM does, in each director's namespace),
# with the libraries it links installed on the host so that the lab's copier finds them.
set -euo pipefail
cache=${LAB_CACHE:-/var/cache/lvsform-lab}
mkdir -p "$cache/keepalived"
cd "$cache/keepalived"
if [ ! -x root/usr/sbin/keepalived ]; then
  rm -f ./*.deb
  apt-get download -q keepalived >/dev/null 2>&1 || { apt-get update -qq && apt-get download -q keepalived >&2; }
  rm -rf root.tmp && mkdir root.tmp
  dpkg-deb -x keepalived_*.deb root.tmp
  rm -rf root && mv root.tmp root
fi
missing=$(ldd root/usr/sbin/keepalived | awk '/not found/ {print $1}')
if [ -n "$missing" ]; then
  # The libraries of keepalived's dependencies, by the packages that ship them.
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libsnmp40 libnftnl11 libnl-genl-3-200 libmnl0 libmagic1 >/dev/null
fi
echo "$cache/keepalived/root/usr/sbin/keepalived"
