#!/usr/bin/env bash
# Benchmark (not a test): apply with probes on a large table, in the lab VM. 1,000 DR
# services of 50 real servers (50,000); one of them, with a probe, has 50 real servers
# that answer (addresses on rs1). Timed, release build, one run each:
#   - the first apply (everything created; the 50 servers probed directly, then through
#     the VIP);
#   - a weight change of those 50 servers with probes (50 probes through the VIP);
#   - the same change back without the probe block.
#
#   bench/probes.sh
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --quiet --release --bin lvsform
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/with" "$work/without"
cat >"$work/with/main.lvs.hcl" <<'HCL'
variable "weight" {
  type    = number
  default = 1
}

director {
  interface = "eth0"
}

virtual_server "bulk" {
  for_each = { for p in range(10001, 11000) : tostring(p) => p }
  vip      = "203.0.113.10"
  port     = each.value
  mode     = "dr"
  real_server "rs" {
    for_each = { for i in range(50) : cidrhost("10.2.0.0/16", i + 1) => i }
    address  = each.key
    manage   = false
  }
}

virtual_server "probed" {
  vip  = "203.0.113.10"
  port = 80
  mode = "dr"
  probe {
    http {
      path = "/index.html"
    }
  }
  real_server "rs" {
    for_each = { for i in range(50) : cidrhost("10.1.0.0/24", i + 100) => i }
    address  = each.key
    weight   = var.weight
    manage   = false
  }
}
HCL
sed '/^  probe {/,/^  }/d' "$work/with/main.lvs.hcl" >"$work/without/main.lvs.hcl"
cat >"$work/run.sh" <<'VM'
. /lab/topology.sh
topology_up >/dev/null
now_ms() { awk '{printf "%d", $1 * 1000}' /proc/uptime; }
# rs1 answers for 50 more addresses, and is prepared for DR by hand.
i=100
while [ "$i" -lt 150 ]; do ip netns exec rs1 ip addr add "10.1.0.$i/24" dev eth0; i=$((i + 1)); done
ip netns exec rs1 ip addr add 203.0.113.10/32 dev lo
for conf in all lo; do
  ip netns exec rs1 sysctl -qw "net.ipv4.conf.$conf.arp_ignore=1" "net.ipv4.conf.$conf.arp_announce=2"
done
timed() { # timed LABEL DIR ARGS...
  label=$1 dir=$2
  shift 2
  start=$(now_ms)
  (cd "/bench/$dir" && ip netns exec director lvsform apply --auto-approve --no-color "$@" >/tmp/apply.txt 2>&1) || { tail -20 /tmp/apply.txt; exit 1; }
  echo "$label: $(($(now_ms) - start)) ms ($(grep -c '^probe ' /tmp/apply.txt) probes)"
}
timed "first apply, 50,000 real servers, 50 probed directly and through the VIP" with
timed "weight change of the 50, with probes" with --var weight=2
timed "weight change of the 50, without probes" without
VM
tests/lab/run.sh --file target/release/lvsform:/usr/bin/lvsform --dir "$work:/bench" -- sh /bench/run.sh 2>&1 | grep -E '(probes\)|^ *[a-z]*:? .*error|Error)'
