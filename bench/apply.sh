#!/usr/bin/env bash
# Benchmark: lvsform plan/apply on SERVICES x SERVERS NAT real servers (no host management)
# against ipvsadm in the lab VM, release build; medians of RUNS runs.
#   bench/apply.sh [SERVICES] [SERVERS] [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
services=${1:-1000}
servers=${2:-50}
runs=${3:-3}
cargo build --quiet --release --bin lvsform
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/config"
python3 - "$work" "$services" "$servers" <<'PY'
import sys
work, services, servers = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
def vip(i): return f"203.0.{i // 250}.{i % 250 + 1}"
def rip(j): return f"10.1.{j // 250}.{j % 250 + 1}"
hcl = """variable "first_weight" {
  type    = number
  default = 1
}

locals {
  servers = { for j in range(SERVERS) : format("r%03d", j) => { address = cidrhost("10.1.0.0/16", j + 1), weight = j % 10 + 1 } }
}

# The first service on its own, so that one weight can be changed with --var.
virtual_server "first" {
  vip       = "203.0.0.1"
  port      = 80
  mode      = "nat"
  scheduler = "wrr"
  real_server "r" {
    for_each = local.servers
    address  = each.value.address
    port     = 8080
    weight   = each.key == "r000" ? var.first_weight : each.value.weight
  }
}

virtual_server "s" {
  for_each  = { for i in range(1, SERVICES) : format("s%04d", i) => format("203.0.%d.%d", (i - i % 250) / 250, i % 250 + 1) }
  vip       = each.value
  port      = 80
  mode      = "nat"
  scheduler = "wrr"
  real_server "r" {
    for_each = local.servers
    address  = each.value.address
    port     = 8080
    weight   = each.value.weight
  }
}
""".replace("SERVERS", str(servers)).replace("SERVICES", str(services))
with open(f"{work}/config/main.lvs.hcl", "w") as f:
    f.write(hcl)
with open(f"{work}/rules", "w") as f:
    for i in range(services):
        f.write(f"-A -t {vip(i)}:80 -s wrr\n")
        for j in range(servers):
            f.write(f"-a -t {vip(i)}:80 -r {rip(j)}:8080 -m -w {j % 10 + 1}\n")
PY
target/release/lvsform validate "$work/config"
LAB_MEMORY=${LAB_MEMORY:-2048} tests/lab/run.sh --file target/release/lvsform:/usr/bin/lvsform --dir "$work:/lab/bench" -- \
  sh /lab/bench-apply.sh "$services" "$servers" "$runs"
