# Inside the lab VM, sourced by apply.sh after remote.sh: examples/ha-pair, two directors
# reached over SSH from the CI runner (user ci). The first director is the `director`
# namespace (its sshd from remote.sh); the second, lb2, joins the LAN here with an sshd of
# its own, in a mount namespace with a private /run (its own lock file).
LB2=10.1.0.2
lan_host lb2 "$LB2"
mkdir -p /srv/lb2/ssh
ssh-keygen -q -t ed25519 -N '' -f /srv/lb2/ssh/host_key
sed -e "s/^ListenAddress .*/ListenAddress $LB2/" -e 's|/srv/director/|/srv/lb2/|g' \
  -e 's|^PidFile .*|PidFile /tmp/sshd-lb2.pid|' /srv/director/ssh/sshd_config >/srv/lb2/ssh/sshd_config
cp /srv/director/ssh/authorized_keys /srv/lb2/ssh/
start_lb2() { # start_lb2 [COMMANDS...]: its sshd, after the commands (in its mount namespace)
  in_ns lb2 unshare -m sh -c "mount -t tmpfs tmpfs /run && mkdir /run/sshd && $* exec /usr/sbin/sshd -f /srv/lb2/ssh/sshd_config"
  sleep 0.5
}
stop_lb2() { kill "$(cat /tmp/sshd-lb2.pid)"; sleep 0.5; }
start_lb2
echo "$LB2 $(cut -d' ' -f1,2 /srv/lb2/ssh/host_key.pub)" | tee -a /home/ci/.ssh/known_hosts >>/root/.ssh/known_hosts
in_ns lb2 sysctl -qw net.ipv4.vs.expire_nodest_conn=0
rm -rf /tmp/ha && cp -r /lab/examples/ha-pair /tmp/ha
ha() { (cd /tmp/ha && as_ci lvsform "$@" --no-color); }
table_of() { in_ns "$1" ipvsadm -Sn | sort; }
vip_held() { in_ns "$1" ip -o addr show dev eth0 | grep -q " $VIP/32 "; }

code=$(status_of ha plan --detailed-exitcode)
cat /tmp/out.txt
check ha_plan_has_changes [ "$code" -eq 2 ]
check ha_plan_has_a_section_per_director sh -c "grep -q '── director \"lb1\" ──' /tmp/out.txt && grep -q '── director \"lb2\" ──' /tmp/out.txt"
check ha_plan_addresses_name_the_director grep -q '^  + director\["lb2"\].virtual_server.cache$' /tmp/out.txt

# A real failure on lb2 midway (it cannot write /proc/sys, and its expire_nodest_conn
# must change): lb1, done before it, and the real servers are rolled back too.
rs1_state() { in_ns rs1 sh -c 'ip -o addr show dev lo; sysctl -n net.ipv4.conf.all.arp_ignore net.ipv4.conf.all.arp_announce net.ipv4.conf.lo.arp_ignore'; }
rs1_before=$(rs1_state)
stop_lb2
start_lb2 "mount --bind /proc/sys /proc/sys && mount -o remount,bind,ro /proc/sys &&"
code=$(status_of ha apply --auto-approve)
cat /tmp/out.txt
check ha_failure_on_lb2_exits_1 [ "$code" -eq 1 ]
check ha_failure_names_lb2 grep -q 'director "lb2" (10.1.0.2): cannot set net.ipv4.vs.expire_nodest_conn' /tmp/out.txt
check ha_failure_is_rolled_back grep -q 'Everything was rolled back' /tmp/out.txt
check ha_rollback_empties_lb1 [ -z "$(table_of director)" ]
check ha_rollback_empties_lb2 [ -z "$(table_of lb2)" ]
lb1_vip_gone() { ! vip_held director; }
check ha_rollback_removes_lb1s_vip lb1_vip_gone
check ha_rollback_restores_rs1 [ "$(rs1_state)" = "$rs1_before" ]
stop_lb2
start_lb2

# Both directors from the runner: the same table on each, traffic through either.
code=$(status_of ha apply --auto-approve)
cat /tmp/out.txt
check ha_apply_succeeds [ "$code" -eq 0 ]
check ha_tables_are_equal sh -c "[ -n \"\$(ip netns exec director ipvsadm -Sn)\" ] && [ \"\$(ip netns exec director ipvsadm -Sn | sort)\" = \"\$(ip netns exec lb2 ipvsadm -Sn | sort)\" ]"
ip route replace "$VIP/32" via "$DIP"
check ha_traffic_via_lb1 all_servers_answer "$VIP"
ip route replace "$VIP/32" via "$LB2"
check ha_traffic_via_lb2 all_servers_answer "$VIP"
code=$(status_of ha plan --detailed-exitcode)
check ha_replan_is_empty [ "$code" -eq 0 ]

# show and import read a director the configuration names, over SSH from the runner.
code=$(status_of ha show --director lb2)
check ha_show_reads_lb2 sh -c "[ $code -eq 0 ] && grep -q '$VIP' /tmp/out.txt"
code=$(status_of ha import --director lb2)
check ha_import_declares_lb2 sh -c "[ $code -eq 0 ] && grep -q 'host *= \"10.1.0.2\"' /tmp/out.txt && grep -q '$VIP' /tmp/out.txt"

# mh on lb2 rebuilt by hand in another order: the plan shows it, apply repairs it, and
# then 20 clients reach the same real server through either director.
CACHE=203.0.113.11
for rip in 10.1.0.11 10.1.0.12 10.1.0.13; do in_ns lb2 ipvsadm -d -t "$CACHE:8080" -r "$rip:8080"; done
for rip in 10.1.0.13 10.1.0.11 10.1.0.12; do in_ns lb2 ipvsadm -a -t "$CACHE:8080" -r "$rip:8080" -g -w 1; done
code=$(status_of ha plan --detailed-exitcode)
cat /tmp/out.txt
check ha_order_drift_is_planned [ "$code" -eq 2 ]
check ha_order_drift_is_lb2s grep -q 'director\["lb2"\].virtual_server.cache.real_server' /tmp/out.txt
check ha_order_drift_spares_lb1 sh -c "! grep -q 'director\[\"lb1\"\].virtual_server.cache' /tmp/out.txt"
code=$(status_of ha apply --auto-approve)
check ha_order_repair_applies [ "$code" -eq 0 ]
cache_mapping() { # cache_mapping DIRECTOR_ADDRESS: "CLIENT SERVER" for 20 clients
  ip route replace "$CACHE/32" via "$1"
  for addr in $(client_addrs | head -20); do
    in_ns client ip route replace "$CACHE/32" via 192.0.2.1 src "$addr"
    body=$(printf 'GET / HTTP/1.0\r\n\r\n' | in_ns client nc -w 3 "$CACHE" 8080 2>/dev/null | tail -1)
    echo "$addr ${body:-(no answer)}"
  done
  in_ns client ip route del "$CACHE/32"
}
for addr in $(client_addrs | head -20); do in_ns client ip addr add "$addr/24" dev eth0; done
cache_mapping "$DIP" >/tmp/ha-lb1.txt
cache_mapping "$LB2" >/tmp/ha-lb2.txt
for addr in $(client_addrs | head -20); do in_ns client ip addr del "$addr/24" dev eth0; done
paste -d' ' /tmp/ha-lb1.txt /tmp/ha-lb2.txt | tr '\n' ';'
echo
check ha_every_client_answered_via_both sh -c "! grep -q 'no answer' /tmp/ha-lb1.txt /tmp/ha-lb2.txt"
check ha_both_directors_map_clients_alike cmp -s /tmp/ha-lb1.txt /tmp/ha-lb2.txt
check ha_clients_spread_over_servers [ "$(awk '{print $2}' /tmp/ha-lb1.txt | sort -u | wc -l)" -ge 2 ]

# A rollout by hand: rs3 leaves lb1 first (--director lb1), then lb2.
two='servers={"10.1.0.11"=3,"10.1.0.12"=2}'
code=$(status_of ha apply --auto-approve --director lb1 --var "$two")
cat /tmp/out.txt
check ha_rollout_by_hand_applies [ "$code" -eq 0 ]
lb1_only() { ! in_ns director ipvsadm -Sn | grep -q 10.1.0.13 && in_ns lb2 ipvsadm -Sn | grep -q 10.1.0.13; }
check ha_rollout_changes_lb1_only lb1_only
rs3_keeps_its_vip() { in_ns rs3 ip -o addr show dev lo | grep -q " $VIP/32 "; }
check ha_rollout_keeps_rs3_ready_for_lb2 rs3_keeps_its_vip
code=$(status_of ha apply --auto-approve --var "$two")
check ha_rollout_completes [ "$code" -eq 0 ]
check ha_rollout_ends_equal sh -c "[ \"\$(ip netns exec director ipvsadm -Sn | sort)\" = \"\$(ip netns exec lb2 ipvsadm -Sn | sort)\" ]"

# lvsform missing on lb2: a plan error that says how to install it; nothing changed.
before_lb1=$(table_of director)
before_lb2=$(table_of lb2)
sed -i 's|host = "10.1.0.2"|host = "10.1.0.2"\n    lvsform = "/opt/none/lvsform"|' /tmp/ha/main.lvs.hcl
code=$(status_of ha apply --auto-approve --var 'servers={"10.1.0.11"=3}')
cat /tmp/out.txt
check ha_missing_lvsform_fails [ "$code" -eq 1 ]
check ha_missing_lvsform_names_lb2 grep -q 'director "lb2" (10.1.0.2): cannot run `/opt/none/lvsform agent`' /tmp/out.txt
check ha_missing_lvsform_changes_nothing sh -c "[ \"\$(ip netns exec director ipvsadm -Sn | sort)\" = \"$before_lb1\" ] && [ \"\$(ip netns exec lb2 ipvsadm -Sn | sort)\" = \"$before_lb2\" ]"
cp /lab/examples/ha-pair/main.lvs.hcl /tmp/ha/

code=$(status_of ha destroy --auto-approve)
check ha_destroy [ "$code" -eq 0 ]
check ha_destroy_empties_both sh -c "[ -z \"\$(ip netns exec director ipvsadm -Sn)\" ] && [ -z \"\$(ip netns exec lb2 ipvsadm -Sn)\" ]"
ip route del "$VIP/32"
ip route del "$CACHE/32"
