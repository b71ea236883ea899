#!/usr/bin/env bash
# Benchmark: load + evaluate + validate a configuration of SERVICES virtual servers with
# SERVERS real servers each, written flat (one block per real server) and via for_each.
# Prints wall time and peak RSS of `lvsform validate` in a release build. Not a test.
#   bench/config.sh [SERVICES] [SERVERS]
set -euo pipefail
services=${1:-1000}
servers=${2:-50}
cd "$(dirname "$0")/.."
cargo build --release --quiet
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/flat" "$work/for_each"
python3 - "$work" "$services" "$servers" <<'PY'
import sys
work, services, servers = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
def vip(i): return f"203.0.{i // 250}.{i % 250 + 1}"
def rip(j): return f"10.1.{j // 250}.{j % 250 + 1}"
with open(f"{work}/flat/main.lvs.hcl", "w") as f:
    for i in range(services):
        f.write(f'virtual_server "s{i}" {{\n  vip       = "{vip(i)}"\n  port      = 80\n  mode      = "dr"\n  scheduler = "wrr"\n')
        for j in range(servers):
            f.write(f'  real_server "r{j}" {{\n    address = "{rip(j)}"\n    weight  = {j % 10 + 1}\n  }}\n')
        f.write("}\n")
with open(f"{work}/for_each/main.lvs.hcl", "w") as f:
    f.write(f'locals {{\n  servers = {{ for j in range({servers}) : format("r%d", j) => {{ address = cidrhost("10.1.0.0/16", j + 1), weight = j % 10 + 1 }} }}\n}}\n')
    f.write(f'virtual_server "s" {{\n  for_each = {{ for i in range({services}) : format("s%d", i) => format("203.0.%d.%d", (i - i % 250) / 250, i % 250 + 1) }}\n')
    f.write('  vip       = each.value\n  port      = 80\n  mode      = "dr"\n  scheduler = "wrr"\n')
    f.write('  real_server "r" {\n    for_each = local.servers\n    address  = each.value.address\n    weight   = each.value.weight\n  }\n}\n')
PY
for layout in flat for_each; do
  size=$(du -h "$work/$layout/main.lvs.hcl" | cut -f1)
  summary=$(/usr/bin/time -o "$work/time" -f "%e %M" target/release/lvsform validate "$work/$layout")
  read -r seconds kib <"$work/time"
  echo "$layout ($size of HCL): ${seconds}s, peak RSS $((kib / 1024)) MB -- $summary"
done
