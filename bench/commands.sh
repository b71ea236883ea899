#!/usr/bin/env bash
# Benchmark of the commands users run (not a test), on DR services of 50 real servers
# each with `manage = false` (the case that once printed one warning per server), written
# two ways: explicit `real_server` blocks, and one `for_each` over a shared `locals` map.
#
#   bench/commands.sh [--native] [DESTINATIONS...]      (default: 1000 10000 50000)
#   LVSFORM_BASELINE=OTHER/lvsform bench/commands.sh …  (also: this build beside another)
#
# Natively: `lvsform validate`, best of 3, wall time and peak RSS, for every size and for
# 4x the largest (the cost must grow linearly). Then, unless --native, in the lab VM
# (release build, fresh namespaces with loopback up, best of 3): `lvsform apply` from empty
# beside `ipvsadm -R`, a no-op `lvsform plan --detailed-exitcode` beside `ipvsadm -Sn`, and
# an apply that changes one weight (with its count of IPVS requests), with ratios and peak
# RSS; and the no-op plan of the for_each shape with the director reached over SSH (sshd on
# the loopback of the namespace that holds the table) beside the local one, the two run
# alternately (best of 5 each). With LVSFORM_BASELINE (another commit's release build),
# also apply from empty, the no-op plan and the one-weight apply of this build beside that
# one, run one right after the other in the same VM (the VM's speed drifts).
set -euo pipefail
cd "$(dirname "$0")/.."
native_only=false
if [ "${1:-}" = --native ]; then
  native_only=true
  shift
fi
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(1000 10000 50000)
largest=${sizes[-1]}
cargo build --quiet --release --bin lvsform
command -v /usr/bin/time >/dev/null || {
  echo "bench: installing time" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq time >/dev/null
}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# WORK/N/blocks, WORK/N/for_each: the two shapes of N destinations; WORK/N/rules: the same
# table for `ipvsadm -R`. Both shapes declare `var.first_weight`, the weight of the first
# real server of the first service (1 by default, as in the rules).
python3 - "$work" "${sizes[@]}" "$((largest * 4))" <<'PY'
import os, sys
work, sizes = sys.argv[1], [int(n) for n in sys.argv[2:]]
SERVERS = 50
def vip(i): return f"203.0.{i // 250}.{i % 250 + 1}"
def rip(j): return f"10.1.{j // 250}.{j % 250 + 1}"
for size in sizes:
    services = max(1, size // SERVERS)
    for shape in ("blocks", "for_each"):
        os.makedirs(f"{work}/{size}/{shape}")
    variable = 'variable "first_weight" {\n  type    = number\n  default = 1\n}\n\n'
    with open(f"{work}/{size}/blocks/main.lvs.hcl", "w") as f:
        f.write(variable)
        for i in range(services):
            f.write(f'virtual_server "s{i}" {{\n  vip       = "{vip(i)}"\n  port      = 80\n  mode      = "dr"\n  scheduler = "wrr"\n')
            for j in range(SERVERS):
                weight = "var.first_weight" if i == 0 and j == 0 else j % 10 + 1
                f.write(f'  real_server "r{j}" {{\n    address = "{rip(j)}"\n    weight  = {weight}\n    manage  = false\n  }}\n')
            f.write("}\n")
    # The first service on its own: a nested for_each cannot see its service's key.
    service = """virtual_server "NAME" {
  FOR_EACH
  vip       = VIP
  port      = 80
  mode      = "dr"
  scheduler = "wrr"
  real_server "r" {
    for_each = local.servers
    address  = each.value.address
    weight   = WEIGHT
    manage   = false
  }
}
"""
    with open(f"{work}/{size}/for_each/main.lvs.hcl", "w") as f:
        f.write(variable)
        f.write(f'locals {{\n  servers = {{ for j in range({SERVERS}) : format("r%02d", j) => {{ address = cidrhost("10.1.0.0/16", j + 1), weight = j % 10 + 1 }} }}\n}}\n\n')
        f.write(service.replace("NAME", "s0").replace("  FOR_EACH\n", "").replace("VIP", f'"{vip(0)}"')
                .replace("WEIGHT", 'each.key == "r00" ? var.first_weight : each.value.weight'))
        if services > 1:
            f.write(service.replace("NAME", "s").replace("VIP", "each.value").replace("WEIGHT", "each.value.weight")
                    .replace("FOR_EACH", f'for_each  = {{ for i in range(1, {services}) : format("s%05d", i) => format("203.0.%d.%d", (i - i % 250) / 250, i % 250 + 1) }}'))
    # The for_each shape on a director reached over SSH (its loopback, in the lab VM).
    os.makedirs(f"{work}/{size}/remote")
    with open(f"{work}/{size}/for_each/main.lvs.hcl") as src, open(f"{work}/{size}/remote/main.lvs.hcl", "w") as f:
        f.write(src.read())
        f.write('director {\n  ssh {\n    host        = "127.0.0.1"\n    private_key = "/tmp/bench-ssh/id_ed25519"\n    known_hosts = "/tmp/bench-ssh/known_hosts"\n  }\n}\n')
    with open(f"{work}/{size}/rules", "w") as f:
        for i in range(services):
            f.write(f"-A -t {vip(i)}:80 -s wrr\n")
            for j in range(SERVERS):
                f.write(f"-a -t {vip(i)}:80 -r {rip(j)} -g -w {j % 10 + 1}\n")
PY

# best COMMAND...: the best of 3 runs as "SECONDS PEAK_RSS_MB".
best() {
  for _ in 1 2 3; do
    /usr/bin/time -o "$work/time" -f "%e %M" "$@" >/dev/null 2>"$work/stderr" ||
      { cat "$work/stderr" >&2; echo "bench: failed: $*" >&2; exit 1; }
    cat "$work/time"
  done | sort -n | head -1 | awk '{printf "%s %d\n", $1, $2 / 1024}'
}

echo "== lvsform validate, natively (best of 3)"
declare -A took
for size in "${sizes[@]}" $((largest * 4)); do
  for shape in blocks for_each; do
    read -r seconds mb < <(best target/release/lvsform validate "$work/$size/$shape")
    took[$size/$shape]=$seconds
    printf '%7d destinations, %-8s %6.2f s  %5d MB peak RSS\n' "$size" "$shape" "$seconds" "$mb"
  done
done
for shape in blocks for_each; do
  awk -v a="${took[$largest/$shape]}" -v b="${took[$((largest * 4))/$shape]}" -v s="$shape" \
    'BEGIN {printf "4x the destinations (%s): %.2fx the time (goal <= 4.5)\n", s, (a > 0 ? b / a : 0)}'
done
rm -rf "${work:?}/$((largest * 4))"
$native_only && exit 0

echo "== in the lab VM (best of 3; TCG: compare ratios, not seconds)"
# LVSFORM_BASELINE=BINARY: also this build beside that one (another commit's release build).
baseline=()
[ -n "${LVSFORM_BASELINE:-}" ] && baseline=(--file "$LVSFORM_BASELINE:/usr/bin/lvsform-baseline")
LAB_MEMORY=${LAB_MEMORY:-3072} tests/lab/run.sh --file target/release/lvsform:/usr/bin/lvsform \
  "${baseline[@]}" --dir "$work:/lab/bench" -- sh /lab/bench-commands.sh "${sizes[@]}"
