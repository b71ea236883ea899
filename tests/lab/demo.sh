#!/usr/bin/env bash
# The main job end to end, in the lab VM: a director and three real servers; lvsform plans
# and applies examples/dr (real servers prepared over SSH), then a client's requests
# through the VIP reach every real server.   tests/lab/demo.sh [dr | tun | nat]
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
cd "$repo"
cargo build --quiet --release --bin lvsform
exec tests/lab/run.sh --file target/release/lvsform:/usr/bin/lvsform --dir examples:/lab/examples \
  --dir tests/lab/configs:/lab/configs -- sh /lab/demo.sh "${1:-dr}"
