#!/usr/bin/env bash
# Runs plan/apply scenarios in the lab VM (vm/apply.sh): failure midway and rollback, DR
# from scratch with traffic, drift, unmanaged and ignored services, drain and the lock,
# TUN, NAT with its route check, sh/mh drains and order with 60 clients.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
cd "$repo"
cargo build --quiet --bin lvsform
exec tests/lab/run.sh --file target/debug/lvsform:/usr/bin/lvsform \
  --dir examples:/lab/examples --dir tests/lab/configs:/lab/configs -- sh /lab/apply.sh
