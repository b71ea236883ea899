#!/usr/bin/env bash
# The Debian package (scripts/deb), installed with dpkg in the lab VM and used there: its
# files are where Debian looks for them, the installed lvsform plans and applies
# examples/dr with traffic through the VIP, and removing the package removes it (vm/package.sh).
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
cd "$repo"
deb=$(scripts/deb)
[ -f "$deb" ] || { echo "package-tests: scripts/deb made no package ($deb)" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp "$deb" "$work/lvsform.deb"
# The VM stands in for a Debian system that has the package's dependencies (apt would
# install them): the shared libraries the packaged binary links are copied in.
libraries=()
for lib in $(ldd target/release/lvsform | awk '/=> \// {print $3}'); do
  libraries+=(--file "$lib:$lib")
done
# dpkg and the helpers it runs, and the GNU tar and ldconfig it calls (the VM's own tools are busybox's).
tests/lab/run.sh "${libraries[@]}" --file /usr/bin/dpkg:/usr/bin/dpkg --file /usr/bin/dpkg-deb:/usr/bin/dpkg-deb \
  --file /usr/bin/dpkg-split:/usr/bin/dpkg-split --file /usr/bin/dpkg-query:/usr/bin/dpkg-query \
  --file /usr/bin/tar:/usr/bin/tar --file /usr/sbin/ldconfig:/usr/sbin/ldconfig \
  --dir "$work":/lab/package --dir examples:/lab/examples -- sh /lab/package.sh \
  "$(target/release/lvsform --version)"
