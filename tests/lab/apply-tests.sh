#!/usr/bin/env bash
# Runs plan/apply scenarios in the lab VM (vm/apply.sh): failure midway and rollback, DR
# from scratch with traffic, drift, unmanaged and ignored services, drain and the lock,
# TUN, NAT with its route check, sh/mh drains and order with 60 clients, the CI recipes of
# examples/ci job by job, a remote director and two, and two under faults (an agent or the
# runner killed, the link cut while waiting or sending, a director unreachable).
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
cd "$repo"
cargo build --quiet --bin lvsform
# The recipes' shell steps, one script per job (PyYAML reads the recipes).
if ! dpkg -s python3-yaml >/dev/null 2>&1; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-yaml >/dev/null
fi
steps=$(mktemp -d)
trap 'rm -rf "$steps"' EXIT
/usr/bin/python3 tests/lab/ci-steps.py "$steps"
tests/lab/run.sh --file target/debug/lvsform:/usr/bin/lvsform \
  --dir examples:/lab/examples --dir tests/lab/configs:/lab/configs \
  --dir "$steps":/lab/ci-steps -- sh /lab/apply.sh
