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
# dpkg itself, and the GNU tar and ldconfig it calls (the VM's own tools are busybox's).
tests/lab/run.sh --file /usr/bin/dpkg:/usr/bin/dpkg --file /usr/bin/dpkg-deb:/usr/bin/dpkg-deb \
  --file /usr/bin/tar:/usr/bin/tar --file /usr/sbin/ldconfig:/usr/sbin/ldconfig \
  --dir "$work":/lab/package --dir examples:/lab/examples -- sh /lab/package.sh \
  "$(target/release/lvsform --version)"
