#!/usr/bin/env bash
# Benchmark: lvsform's netlink backend against ipvsadm in the lab VM (release build).
#   bench/ipvs.sh [SERVICES] [DESTS]      (default 1000 x 50)
set -euo pipefail
cd "$(dirname "$0")/.."
bench=$(cargo bench --no-run --bench ipvs --message-format=json 2>/dev/null \
  | grep '"kind":\["bench"\],"crate_types":\["bin"\],"name":"ipvs"' \
  | sed -n 's/.*"executable":"\([^"]*\)".*/\1/p' | tail -1) || true
[ -x "$bench" ] || { echo "error: cannot build the benchmark" >&2; exit 1; }
# Two fresh namespaces with a route for everything (IPVS refuses real servers whose
# address is not routable as unicast).
setup='for ns in restore ours; do
  ip netns add $ns
  ip -n $ns link add d0 type dummy
  ip -n $ns link set d0 up
  ip -n $ns addr add 192.0.2.254/32 dev d0
  ip -n $ns route add default dev d0
done'
LAB_MEMORY=${LAB_MEMORY:-2048} tests/lab/run.sh --file "$bench:/usr/bin/ipvs-bench" -- \
  sh -c "$setup && ip netns exec ours ipvs-bench ${1:-1000} ${2:-50} restore"
