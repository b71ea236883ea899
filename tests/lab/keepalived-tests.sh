#!/usr/bin/env bash
# Runs the health-check scenarios in the lab VM (vm/keepalived.sh): a real keepalived
# 2.2.7 on the director, examples/keepalived planned and applied beside a netlink service;
# then on two directors reached over SSH from an unprivileged runner.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
cd "$repo"
cargo build --quiet --bin lvsform
exec tests/lab/run.sh --file target/debug/lvsform:/usr/bin/lvsform \
  --dir examples:/lab/examples --dir tests/lab/configs:/lab/configs -- sh /lab/keepalived.sh
