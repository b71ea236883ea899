#!/usr/bin/env bash
# Runs the real-kernel tests in the lab VM: tests/kernel.rs (the netlink backend against
# the kernel, cross-checked with ipvsadm) and the command-line checks of vm/kernel.sh.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
cd "$repo"
cargo build --quiet --bin lvsform
tests=$(cargo test --no-run --test kernel --message-format=json 2>/dev/null \
  | grep '"kind":\["test"\],"crate_types":\["bin"\],"name":"kernel"' \
  | sed -n 's/.*"executable":"\([^"]*\)".*/\1/p' | tail -1) || true
[ -x "$tests" ] || { echo "error: cannot build the kernel tests" >&2; exit 1; }
exec tests/lab/run.sh --file "$tests:/usr/bin/kernel-tests" --file target/debug/lvsform:/usr/bin/lvsform -- sh /lab/kernel.sh
