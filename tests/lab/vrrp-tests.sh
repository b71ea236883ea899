#!/usr/bin/env bash
# Runs the director-redundancy scenarios in the lab VM (vm/vrrp.sh): examples/keepalived-pair
# on two directors with keepalived's VRRP, applied from an unprivileged runner; takeovers
# by SIGTERM and by a cut link with a long-lived connection; a priority change; a failure.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
cd "$repo"
cargo build --quiet --bin lvsform
exec tests/lab/run.sh --file target/debug/lvsform:/usr/bin/lvsform \
  --dir examples:/lab/examples -- sh /lab/vrrp.sh
