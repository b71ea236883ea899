# Inside the lab VM: plan and apply of SERVICES x SERVERS NAT real servers (no host
# management) against ipvsadm, each in a fresh namespace (bench/apply.sh).
services=$1
servers=$2
for ns in ours restore; do
  ip netns add $ns
  ip -n $ns link add d0 type dummy
  ip -n $ns link set d0 up
  ip -n $ns addr add 192.0.2.254/32 dev d0
  ip -n $ns route add default dev d0
done
cd /lab/bench
seconds() { # seconds COMMAND...: runs it and prints its wall time (busybox date has no %N)
  start=$(cut -d' ' -f1 /proc/uptime)
  "$@" >/tmp/bench.out 2>&1 || { cat /tmp/bench.out >&2; echo "FAILED: $*" >&2; exit 1; }
  end=$(cut -d' ' -f1 /proc/uptime)
  awk -v s="$start" -v e="$end" 'BEGIN {printf "%.2f", e - s}'
}
restore=$(seconds sh -c "ip netns exec restore ipvsadm -R < /lab/bench/rules")
apply=$(seconds sh -c "cd config && LVSFORM_LOG=debug ip netns exec ours lvsform apply --auto-approve --no-color")
grep '^debug' /tmp/bench.out
echo "apply from empty: lvsform ${apply}s (config, observe, plan, apply, verify), ipvsadm -R ${restore}s" \
  | awk -v a="$apply" -v r="$restore" '{print $0 ", ratio " sprintf("%.2f", a / r) " (goal <= 0.25)"}'
save=$(seconds ip netns exec ours ipvsadm -Sn)
noop=$(seconds sh -c "cd config && LVSFORM_LOG=debug ip netns exec ours lvsform plan --no-color --detailed-exitcode")
grep '^debug' /tmp/bench.out
echo "no-op plan: lvsform ${noop}s, ipvsadm -Sn ${save}s" | awk -v a="$noop" -v r="$save" '{print $0 ", ratio " sprintf("%.2f", a / r) " (goal <= 1.0)"}'
one=$(seconds sh -c "cd config && LVSFORM_LOG=debug ip netns exec ours lvsform apply --auto-approve --no-color --var first_weight=9")
grep '^debug' /tmp/bench.out
echo "one weight change: lvsform apply ${one}s" | awk -v a="$one" -v r="$noop" '{print $0 ", " sprintf("%.2f", a / r) "x a no-op plan (goal <= 1.2)"}'
