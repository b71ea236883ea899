#!/usr/bin/env bash
# Benchmark (not a test): a no-op `lvsform plan` over SERVICES services (default 1,000,
# two DR real servers each) kept by keepalived (`health_check`, keepalived 2.2.7 in the lab
# VM) beside the same services kept by lvsform over netlink; also the apply of each from
# empty. Release build, best of 3.
#
#   bench/keepalived.sh [SERVICES]
set -euo pipefail
cd "$(dirname "$0")/.."
services=${1:-1000}
cargo build --quiet --release --bin lvsform
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for kind in keepalived netlink; do
  mkdir -p "$work/$kind"
  check=''
  [ "$kind" = keepalived ] && check='
  health_check {
    tcp {}
    port     = 80
    interval = "30s"
  }'
  cat >"$work/$kind/main.lvs.hcl" <<HCL
virtual_server "bench" {
  for_each  = { for p in range(10000, 10000 + $services) : tostring(p) => p }
  vip       = "203.0.113.10"
  port      = each.value
  mode      = "dr"
  scheduler = "wrr"
$check
  real_server "rs" {
    for_each = { "10.1.0.11" = 1, "10.1.0.12" = 2 }
    address  = each.key
    weight   = each.value
    manage   = false
  }
}
HCL
done
cat >"$work/run.sh" <<'VM'
. /lab/topology.sh
topology_up >/dev/null
mkdir -p /etc/keepalived
printf 'include /etc/keepalived/lvsform.conf\n' >/etc/keepalived/keepalived.conf
now_ms() { awk '{printf "%d", $1 * 1000}' /proc/uptime; }
best() { # best COMMAND...: the shortest of 3 runs, in ms
  best=
  for _ in 1 2 3; do
    start=$(now_ms)
    "$@" >/dev/null 2>&1 || echo "failed: $*" >&2
    took=$(($(now_ms) - start))
    if [ -z "$best" ] || [ "$took" -lt "$best" ]; then best=$took; fi
  done
  echo "$best"
}
in_dir() { (cd "/bench/$1" && ip netns exec director lvsform "$2" --auto-approve --no-color); }
plan_in() { (cd "/bench/$1" && ip netns exec director lvsform plan --detailed-exitcode --no-color); }
ip netns exec director unshare -m sh -c 'mount -t tmpfs tmpfs /tmp && exec keepalived -n -l -D -p /run/keepalived.pid -c /run/keepalived_checkers.pid -f /etc/keepalived/keepalived.conf' >/dev/null 2>&1 &
sleep 2
start=$(now_ms)
(cd /bench/keepalived && ip netns exec director lvsform apply --auto-approve --no-color >/tmp/apply.txt 2>&1) || { tail -20 /tmp/apply.txt; exit 1; }
echo "keepalived: apply from empty $(($(now_ms) - start)) ms"
plan_in keepalived >/dev/null 2>&1; echo "keepalived: no-op plan exit $?"
echo "keepalived: no-op plan $(best plan_in keepalived) ms (best of 3)"
kill "$(cat /run/keepalived.pid)"; sleep 3
ip netns exec director ipvsadm -C
rm -f /etc/keepalived/lvsform.conf
start=$(now_ms)
(cd /bench/netlink && ip netns exec director lvsform apply --auto-approve --no-color >/tmp/apply.txt 2>&1) || { tail -20 /tmp/apply.txt; exit 1; }
echo "netlink: apply from empty $(($(now_ms) - start)) ms"
plan_in netlink >/dev/null 2>&1; echo "netlink: no-op plan exit $?"
echo "netlink: no-op plan $(best plan_in netlink) ms (best of 3)"
VM
tests/lab/run.sh --file target/release/lvsform:/usr/bin/lvsform --dir "$work:/bench" -- sh /bench/run.sh 2>&1 | grep -E '^(keepalived|netlink|failed)'
