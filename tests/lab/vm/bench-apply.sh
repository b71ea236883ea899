# Inside the lab VM: plan and apply of SERVICES x SERVERS NAT real servers (no host
# management) against ipvsadm (bench/apply.sh). Every figure is the median of RUNS runs
# (TCG timings vary by a tenth from run to run); each table is written into a fresh
# namespace, as the kernel is slower to refill a table that was just flushed.
services=$1
servers=$2
runs=${3:-3}
for i in $(seq "$runs"); do
  for ns in ours$i restore$i; do
    ip netns add $ns
    ip -n $ns link add d0 type dummy
    ip -n $ns link set d0 up
    ip -n $ns addr add 192.0.2.254/32 dev d0
    ip -n $ns route add default dev d0
  done
done
cd /lab/bench
seconds() { # seconds COMMAND...: runs it and prints its wall time (busybox date has no %N)
  start=$(cut -d' ' -f1 /proc/uptime)
  "$@" >/tmp/bench.out 2>&1 || { cat /tmp/bench.out >&2; echo "FAILED: $*" >&2; exit 1; }
  end=$(cut -d' ' -f1 /proc/uptime)
  awk -v s="$start" -v e="$end" 'BEGIN {printf "%.2f", e - s}'
}
median() { tr ' ' '\n' | grep . | sort -n | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }
lvsform_in() { ns=$1; shift; (cd config && LVSFORM_LOG=debug ip netns exec "$ns" lvsform "$@" --no-color); }
report() { # report WHAT OURS THEIRS GOAL: medians and their ratio
  awk -v w="$1" -v a="$2" -v b="$3" -v g="$4" 'BEGIN {printf "%s: lvsform %.2fs against %.2fs, ratio %.2f (goal <= %s)\n", w, a, b, a / b, g}'
}

restore="" apply=""
for i in $(seq "$runs"); do
  restore="$restore $(seconds sh -c "ip netns exec restore$i ipvsadm -R < /lab/bench/rules")"
  apply="$apply $(seconds lvsform_in ours$i apply --auto-approve)"
  [ "$i" = 1 ] && grep '^debug' /tmp/bench.out
done
echo "apply from empty (s): lvsform$apply; ipvsadm -R$restore"
report "apply from empty, medians" "$(echo "$apply" | median)" "$(echo "$restore" | median)" 0.25

save="" noop=""
for i in $(seq "$runs"); do
  save="$save $(seconds ip netns exec ours1 ipvsadm -Sn)"
  noop="$noop $(seconds lvsform_in ours1 plan --detailed-exitcode)"
done
grep '^debug' /tmp/bench.out
echo "no-op plan (s): lvsform$noop; ipvsadm -Sn$save"
report "no-op plan, medians" "$(echo "$noop" | median)" "$(echo "$save" | median)" 1.0

one=""
for i in $(seq "$runs"); do
  # Alternately 9 and 1: every run changes exactly one weight.
  weight=1
  [ $((i % 2)) = 1 ] && weight=9
  one="$one $(seconds lvsform_in ours1 apply --auto-approve --var first_weight=$weight)"
done
grep '^debug' /tmp/bench.out
echo "one weight change (s): lvsform$one"
report "one weight change against a no-op plan, medians" "$(echo "$one" | median)" "$(echo "$noop" | median)" 1.2
