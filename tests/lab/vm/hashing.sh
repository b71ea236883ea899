# Inside the lab VM, sourced by apply.sh after its NAT checks (real servers route via the
# director): sh and mh with 60 client addresses. An mh drain refuses no client while a
# client holds a connection to the leaving server, nor after; a destination order
# changed by hand (delete + re-add) shows in the plan and is repaired, after which every
# client reaches the server it reached on a freshly built table.
hashing=/lab/configs/hashing
CLIENTS=60
client_addrs() {
  i=0
  while [ "$i" -lt "$CLIENTS" ]; do
    echo "192.0.2.$((100 + i))"
    i=$((i + 1))
  done
}
for addr in $(client_addrs); do in_ns client ip addr add "$addr/24" dev eth0; done

# "ADDR SERVER" for every client address: one request each, the source picked by a route.
mapping() {
  for addr in $(client_addrs); do
    in_ns client ip route replace "$VIP/32" via 192.0.2.1 src "$addr"
    body=$(printf 'GET / HTTP/1.0\r\n\r\n' | in_ns client nc -w 3 "$VIP" 80 2>/dev/null | tail -1)
    echo "$addr ${body:-(no answer)}"
  done
  in_ns client ip route del "$VIP/32"
}
refused() { grep -c '(no answer)' "$1"; }
moved() { paste -d' ' "$1" "$2" | awk '$2 != $4' | wc -l; }
# The kernel's order of real servers, head first (ipvsadm sorts unless told not to).
kernel_order() { in_ns director ipvsadm -Ln --nosort -t "$VIP:80" | awk '$1 == "->" && $2 != "RemoteAddress:Port" {print $2}' | tr '\n' ' '; }

code=$(status_of lvsform_in $hashing apply --auto-approve)
cat /tmp/out.txt
check hashing_mh_apply_succeeds [ "$code" -eq 0 ]
check hashing_order_is_descending [ "$(kernel_order)" = "10.1.0.13:80 10.1.0.12:80 10.1.0.11:80 " ]
mapping >/tmp/mh-fresh.txt
check hashing_mh_answers_every_client [ "$(refused /tmp/mh-fresh.txt)" -eq 0 ]

# rs3 leaves while a client that hashes to it holds a connection: the drain waits for it.
holder=$(awk '$2 == "rs3" {print $1; exit}' /tmp/mh-fresh.txt)
check hashing_a_client_hashes_to_rs3 [ -n "$holder" ]
in_ns client ip route replace "$VIP/32" via 192.0.2.1 src "$holder"
sleep 300 | in_ns client sh -c "echo \$\$ >/tmp/holder.pid; exec nc $VIP 80" >/dev/null 2>&1 &
sleep 1
in_ns client ip route del "$VIP/32"
(cd $hashing && in_ns director lvsform apply --auto-approve --no-color \
  --var 'servers=["10.1.0.11","10.1.0.12"]' >/tmp/drain.txt 2>&1; echo $? >/tmp/drain.code) &
draining() { in_ns director ipvsadm -Sn | grep -q -- '-r 10.1.0.13:80 -m -w 0'; }
waited=0
while ! draining && [ "$waited" -lt 60 ]; do sleep 1; waited=$((waited + 1)); done
check hashing_drain_zeroes_the_server draining
fallback_on() { in_ns director ipvsadm -Sn | grep -- "-A -t $VIP:80 -s mh" | grep -q fallback; }
check hashing_drain_turns_fallback_on fallback_on
mapping >/tmp/mh-drain.txt
cat /tmp/mh-drain.txt | tr '\n' ' '
echo
check hashing_drain_refuses_no_client [ "$(refused /tmp/mh-drain.txt)" -eq 0 ]
check hashing_drain_sends_no_new_client_to_rs3 [ "$(grep -c ' rs3$' /tmp/mh-drain.txt)" -eq 0 ]
check hashing_drain_still_waits [ ! -e /tmp/drain.code ]
# The held connection ends; the drain ends with it, and the fallback goes.
kill "$(cat /tmp/holder.pid)"
waited=0
while [ ! -e /tmp/drain.code ] && [ "$waited" -lt 120 ]; do sleep 1; waited=$((waited + 1)); done
cat /tmp/drain.txt
check hashing_drain_ends_with_the_connection [ "$waited" -lt 30 ]
check hashing_drain_apply_succeeds [ "$(cat /tmp/drain.code)" -eq 0 ]
check hashing_plan_said_no_client_is_refused grep -q 'with mh-fallback on meanwhile so that no client is refused' /tmp/drain.txt
no_fallback() { ! in_ns director ipvsadm -Sn | grep -q -- 'fallback'; }
check hashing_fallback_is_restored no_fallback
mapping >/tmp/mh-after.txt
check hashing_after_the_drain_no_client_is_refused [ "$(refused /tmp/mh-after.txt)" -eq 0 ]

# rs3 comes back at the head of the list: the table is the fresh one again.
code=$(status_of lvsform_in $hashing apply --auto-approve)
check hashing_rs3_returns [ "$code" -eq 0 ]
mapping >/tmp/mh-back.txt
check hashing_mh_mapping_is_the_fresh_one [ "$(moved /tmp/mh-fresh.txt /tmp/mh-back.txt)" -eq 0 ]
# The kernel fact the drain works around: weight 0 by hand, without the fallback flag,
# refuses the clients that hash to rs3.
in_ns director ipvsadm -e -t "$VIP:80" -r 10.1.0.13:80 -m -w 0
mapping >/tmp/mh-zero.txt
echo "mh: $(refused /tmp/mh-zero.txt) of $CLIENTS clients refused at weight 0 without fallback"
check hashing_weight_zero_without_fallback_refuses [ "$(refused /tmp/mh-zero.txt)" -gt 0 ]
in_ns director ipvsadm -e -t "$VIP:80" -r 10.1.0.13:80 -m -w 1

# sh, where order decides most of the mapping: a hand-made order (10.1.0.11 deleted and
# added again, so at the head) moves clients, shows in the plan, and is repaired.
code=$(status_of lvsform_in $hashing apply --auto-approve --var scheduler=sh)
check hashing_sh_apply_succeeds [ "$code" -eq 0 ]
mapping >/tmp/sh-fresh.txt
check hashing_sh_answers_every_client [ "$(refused /tmp/sh-fresh.txt)" -eq 0 ]
in_ns director ipvsadm -d -t "$VIP:80" -r 10.1.0.11:80
in_ns director ipvsadm -a -t "$VIP:80" -r 10.1.0.11:80 -m -w 1
check hashing_hand_made_order [ "$(kernel_order)" = "10.1.0.11:80 10.1.0.13:80 10.1.0.12:80 " ]
mapping >/tmp/sh-drift.txt
echo "sh: $(moved /tmp/sh-fresh.txt /tmp/sh-drift.txt) of $CLIENTS clients moved with the order"
check hashing_order_drift_moves_clients [ "$(moved /tmp/sh-fresh.txt /tmp/sh-drift.txt)" -gt 0 ]
code=$(status_of lvsform_in $hashing plan --detailed-exitcode --var scheduler=sh)
cat /tmp/out.txt
check hashing_order_drift_is_planned [ "$code" -eq 2 ]
check hashing_order_drift_shows_replaces grep -q 'real_server.node\["10.1.0.13"\]  (.*out of lvsform.s order of real servers, by which sh maps clients: they may move)' /tmp/out.txt
check hashing_order_drift_names_the_position grep -q 'position *= 2 -> 1  # forces replacement' /tmp/out.txt
check hashing_order_drift_fewest_moves grep -q '^Plan: 2 to add, 0 to change, 2 to destroy.$' /tmp/out.txt
code=$(status_of lvsform_in $hashing apply --auto-approve --var scheduler=sh)
check hashing_order_repair_succeeds [ "$code" -eq 0 ]
check hashing_order_is_repaired [ "$(kernel_order)" = "10.1.0.13:80 10.1.0.12:80 10.1.0.11:80 " ]
mapping >/tmp/sh-repaired.txt
check hashing_repaired_mapping_is_the_fresh_one [ "$(moved /tmp/sh-fresh.txt /tmp/sh-repaired.txt)" -eq 0 ]
code=$(status_of lvsform_in $hashing plan --detailed-exitcode --var scheduler=sh)
check hashing_repaired_replan_is_empty [ "$code" -eq 0 ]

code=$(status_of lvsform_in $hashing destroy --auto-approve --var scheduler=sh)
check hashing_destroy_succeeds [ "$code" -eq 0 ]
for addr in $(client_addrs); do in_ns client ip addr del "$addr/24" dev eth0; done
