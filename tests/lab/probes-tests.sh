#!/usr/bin/env bash
# Runs the probe scenarios in the lab VM (vm/probes.sh): probes at apply through a DR, a
# TUN and a NAT service, and what a failing or interrupted probe leaves (nothing).
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
cd "$repo"
cargo build --quiet --bin lvsform
exec tests/lab/run.sh --file target/debug/lvsform:/usr/bin/lvsform \
  --dir tests/lab/configs:/lab/configs -- sh /lab/probes.sh
