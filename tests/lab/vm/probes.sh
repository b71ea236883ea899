# Inside the lab VM (tests/lab/probes-tests.sh): probes at apply (SPEC §9) with a DR, a
# TUN and a NAT service (tests/lab/configs/probes): healthy servers pass directly and
# through their VIP; a stopped HTTP server stops the apply before any change; servers
# declared `manage = false` and not prepared by hand (DR without the VIP on lo, TUN
# without it on tunl0), and a NAT server whose answers go around the director, pass
# directly and fail through the VIP, and the apply is rolled back; Ctrl-C during a slow
# probe, locally and on a director reached over SSH whose runner vanishes. After each:
# no temporary service, address or sysctl left on the director.
. /lab/lib.sh
. /lab/topology.sh
topology_up >/dev/null
in_ns director sysctl -qw net.ipv4.vs.expire_nodest_conn=1
mkdir -p /root/.ssh
cp /lab/ssh/id_ed25519 /lab/ssh/known_hosts /root/.ssh/
rm -rf /tmp/probes && cp -r /lab/configs/probes /tmp/probes
DR_VIP=203.0.113.10
TUN_VIP=203.0.113.11
NAT_VIP=203.0.113.12

lvs() { (cd /tmp/probes && in_ns director lvsform "$@" --no-color); }
status_of() { "$@" >/tmp/out.txt 2>&1; echo $?; }
table() { in_ns director ipvsadm -Sn | sort; }
now_ms() { awk '{printf "%d", $1 * 1000}' /proc/uptime; }
# The NAT service's answers (port 8080) leave rs1 and rs2 through the director, the rest
# of their traffic (DR, TUN: straight to the client) through the router.
nat_route() { # nat_route HOST add|del
  in_ns "$1" ip rule "$2" sport 8080 lookup 100
}
for host in rs1 rs2; do
  in_ns "$host" ip route add default via "$DIP" table 100
  nat_route "$host" add
done
# Every one of HOSTS answers requests to ADDR, and nobody else.
answered_by() { # answered_by ADDR HOSTS...
  addr=$1
  shift
  answers=$(fetch "$addr" 8)
  echo "$answers" | tr '\n' ' '
  echo
  for host in "$@"; do echo "$answers" | grep -qx "$host" || return 1; done
  [ "$(echo "$answers" | sort -u | wc -l)" -eq $# ]
}
# Nothing of a probe is left on the director: no fwmark service, accept_local as it was,
# no probe source on lo, no packet-marking rule.
nothing_left() {
  ! in_ns director ipvsadm -Ln | grep -q FWM &&
    [ "$(in_ns director sysctl -n net.ipv4.conf.all.accept_local)" = 0 ] &&
    ! in_ns director ip -o addr show dev lo | grep -q 198.18.0.1 &&
    ! in_ns director iptables-save 2>/dev/null | grep -q MARK
}
# A probe through a VIP is under way: its temporary service is there.
probing() { in_ns director ipvsadm -Ln | grep -q FWM; }
rs_httpd() { ps -o pid,args | awk -v dir="/srv/$1/www" '$2 == "httpd" && $4 == "80" && $6 == dir {print $1}'; }

# A healthy apply: each server probed directly, then through its VIP; traffic flows.
code=$(status_of lvs plan)
cat /tmp/out.txt
check plan_lists_the_probes grep -q "^  - 10.1.0.11:80 (virtual_server.web.real_server.dr\[\"10.1.0.11\"\]): HTTP GET /index.html answering 200, directly, then through $DR_VIP:80 (dr), within 2s" /tmp/out.txt
start=$(now_ms)
code=$(status_of lvs apply --auto-approve)
echo "figure: first apply with 6 servers probed twice: $(($(now_ms) - start)) ms"
cat /tmp/out.txt
check healthy_apply_succeeds [ "$code" -eq 0 ]
check healthy_apply_probes_directly [ "$(grep -c 'directly: ok' /tmp/out.txt)" -eq 6 ]
check healthy_apply_probes_dr_through_the_vip grep -q "probe 10.1.0.12:80 (virtual_server.web.real_server.dr\[\"10.1.0.12\"\]) through $DR_VIP:80 (dr): ok, HTTP 200 after" /tmp/out.txt
check healthy_apply_probes_tun_through_the_vip grep -q "through $TUN_VIP:80 (tun): ok, connected after" /tmp/out.txt
check healthy_apply_probes_nat_through_the_vip grep -q "through $NAT_VIP:80 (nat): ok, HTTP 200 after" /tmp/out.txt
check dr_traffic_flows answered_by "$DR_VIP" rs1 rs2
check tun_traffic_flows answered_by "$TUN_VIP" rs1 rs2
check nat_traffic_flows answered_by "$NAT_VIP" rs1 rs2
check healthy_apply_leaves_nothing nothing_left
code=$(status_of lvs plan --detailed-exitcode)
check healthy_replan_is_empty [ "$code" -eq 0 ]

# rs3 joins the DR service with its HTTP server stopped: the direct probe fails before
# any change (exit 1); the table and rs3 are as they were. --json says what the probe saw.
before=$(table)
kill "$(rs_httpd rs3)"
code=$(status_of lvs apply --auto-approve --json --var 'dr={"10.1.0.11"=1,"10.1.0.12"=1,"10.1.0.13"=1}')
cat /tmp/out.txt
check stopped_server_exits_1 [ "$code" -eq 1 ]
check stopped_server_probe_event grep -q '"event":"probe","address":"virtual_server.web.real_server.dr\[\\"10.1.0.13\\"\]","server":"10.1.0.13:80","via":"direct","outcome":{"passed":false,"seen":"refused"' /tmp/out.txt
check stopped_server_changes_nothing [ "$(table)" = "$before" ]
check stopped_server_host_untouched sh -c "! ip netns exec rs3 ip -o addr show dev lo | grep -q $DR_VIP"
check stopped_server_rolled_back_status grep -q '"status":"rolled_back"' /tmp/out.txt
in_ns rs3 httpd -p 80 -h /srv/rs3/www

# rs3 declared by hand (manage = false) in DR and not prepared: it answers directly, not
# through the VIP; the apply is rolled back and says why.
code=$(status_of lvs apply --auto-approve --var 'dr_by_hand={"10.1.0.13"=1}')
cat /tmp/out.txt
check unprepared_dr_exits_1 [ "$code" -eq 1 ]
check unprepared_dr_passes_directly grep -q "probe 10.1.0.13:80 (virtual_server.web.real_server.by_hand\[\"10.1.0.13\"\]) directly: ok" /tmp/out.txt
check unprepared_dr_fails_through_the_vip grep -q "through $DR_VIP:80 (dr): FAILED, No route to host" /tmp/out.txt
check unprepared_dr_says_the_cause grep -q 'must hold the VIP on `lo`' /tmp/out.txt
check unprepared_dr_rolled_back grep -q 'Everything was rolled back' /tmp/out.txt
check unprepared_dr_table_as_before [ "$(table)" = "$before" ]
check unprepared_dr_leaves_nothing nothing_left

# rs3 prepared by hand (the VIP on lo, ARP quiet) behind a firewall that drops the VIP's
# packets: its probe through the VIP waits out its timeout (8 s). Ctrl-C meanwhile: the
# probe ends at its timeout and cleans up, the apply is rolled back; nothing is left.
in_ns rs3 ip addr add "$DR_VIP/32" dev lo
for conf in all lo; do
  in_ns rs3 sysctl -qw "net.ipv4.conf.$conf.arp_ignore=1" "net.ipv4.conf.$conf.arp_announce=2"
done
in_ns rs3 iptables -A INPUT -d "$DR_VIP" -j DROP
(cd /tmp/probes && exec ip netns exec director lvsform apply --auto-approve --no-color \
  --var 'dr_by_hand={"10.1.0.13"=1}' --var timeout=8s >/tmp/slow.txt 2>&1) &
pid=$!
check slow_probe_runs within 30 probing
in_ns director ipvsadm -Sn
check temporary_service_holds_only_that_server sh -c "[ \"\$(ip netns exec director ipvsadm -Sn | grep -c -- '-a -f')\" -eq 1 ] && ip netns exec director ipvsadm -Sn | grep -q -- '-a -f [0-9]* -r 10.1.0.13:80 -g -w 1'"
check accept_local_set_for_the_probe [ "$(in_ns director sysctl -n net.ipv4.conf.all.accept_local)" = 1 ]
# Clients' connections to the VIP meanwhile: none reaches the temporary service, whose
# one connection is the probe's.
fetch "$DR_VIP" 4 >/dev/null
in_ns director ipvsadm -Ln --stats
check clients_never_reach_the_temporary_service [ "$(in_ns director ipvsadm -Ln --stats | awk '$1 == "FWM" {print $3}')" = 1 ]
start=$(now_ms)
kill -INT "$pid"
wait "$pid"
code=$?
echo "figure: Ctrl-C to exit during a probe with 8 s to wait: $(($(now_ms) - start)) ms"
cat /tmp/slow.txt
check interrupted_apply_exits_1 [ "$code" -eq 1 ]
check interrupted_apply_says_so grep -q '^error: interrupted' /tmp/slow.txt
check interrupted_apply_rolled_back grep -q 'Everything was rolled back' /tmp/slow.txt
check interrupted_apply_table_as_before [ "$(table)" = "$before" ]
check interrupted_apply_leaves_nothing nothing_left

# The same from an unprivileged runner, the director reached over SSH: the runner is
# killed during the slow probe (its SSH connection lost). The director's agent finishes
# the probe, cleans up and ends (freeing the lock); what the apply did before stays, as
# after any SIGKILL, and the next apply converges.
runner_up
sshd_files lb1 "$DIP" /run/sshd.pid
echo "$DIP $(cut -d' ' -f1,2 /srv/lb1/ssh/host_key.pub)" >>/home/ci/.ssh/known_hosts
in_ns director unshare -m sh -c "mount -t tmpfs tmpfs /run && mkdir /run/sshd && exec /usr/sbin/sshd -f /srv/lb1/ssh/sshd_config"
rm -rf /tmp/remote && mkdir /tmp/remote
awk '{print} /^  dip / {print "  ssh {"; print "    host = \"10.1.0.1\""; print "  }"}' /tmp/probes/main.lvs.hcl >/tmp/remote/main.lvs.hcl
remote() { (cd /tmp/remote && as_ci lvsform "$@" --no-color); }
remote apply --auto-approve --var 'dr_by_hand={"10.1.0.13"=1}' --var timeout=8s >/tmp/remote.txt 2>&1 &
check remote_probe_runs_on_the_director within 30 probing
kill -9 "$(ps -o pid,args | awk '$2 == "lvsform" && $3 == "apply" {print $1}')"
agent_gone() { ! ps -o args | grep -q '^lvsform agent'; }
check remote_probe_cleaned_up_after_the_runner_vanished within 12 nothing_left
check remote_agent_ends within 30 agent_gone
cat /tmp/remote.txt
code=$(status_of remote apply --auto-approve)
cat /tmp/out.txt
check remote_next_apply_converges [ "$code" -eq 0 ]
check remote_next_apply_removed_rs3 [ "$(table)" = "$before" ]

# The firewall rule gone, the same server passes.
in_ns rs3 iptables -D INPUT -d "$DR_VIP" -j DROP
code=$(status_of lvs apply --auto-approve --var 'dr_by_hand={"10.1.0.13"=1}')
cat /tmp/out.txt
check prepared_dr_passes [ "$code" -eq 0 ]
check prepared_dr_probed_through_the_vip grep -q "probe 10.1.0.13:80 (virtual_server.web.real_server.by_hand\[\"10.1.0.13\"\]) through $DR_VIP:80 (dr): ok" /tmp/out.txt
# (wlc sends most new connections to rs3, the one without connections yet.)
rs3_answers() { answers=$(fetch "$DR_VIP" 8); echo "$answers" | tr '\n' ' '; echo "$answers" | grep -qx rs3 && ! echo "$answers" | grep -q 'no answer'; }
check prepared_dr_gets_traffic rs3_answers
check prepared_dr_leaves_nothing nothing_left
code=$(status_of lvs apply --auto-approve --no-drain)
check rs3_leaves_dr [ "$code" -eq 0 ]
in_ns rs3 ip addr del "$DR_VIP/32" dev lo

# rs3 by hand in TUN without the VIP on tunl0: rolled back.
before=$(table)
code=$(status_of lvs apply --auto-approve --var 'tun_by_hand={"10.1.0.13"=1}')
cat /tmp/out.txt
check unprepared_tun_exits_1 [ "$code" -eq 1 ]
check unprepared_tun_fails_through_the_vip grep -q "probe 10.1.0.13:80 (virtual_server.tunnel.real_server.by_hand\[\"10.1.0.13\"\]) through $TUN_VIP:80 (tun): FAILED" /tmp/out.txt
check unprepared_tun_says_the_cause grep -q 'tunl0 up with the VIP on it' /tmp/out.txt
check unprepared_tun_table_as_before [ "$(table)" = "$before" ]
check unprepared_tun_leaves_nothing nothing_left

# rs2's NAT answers go around the director (its default route is the router's): a
# weight change of rs2 fails through the VIP and is rolled back.
nat_route rs2 del
code=$(status_of lvs apply --auto-approve --var 'nat={"10.1.0.11"=1,"10.1.0.12"=2}')
cat /tmp/out.txt
check nat_around_the_director_exits_1 [ "$code" -eq 1 ]
check nat_around_the_director_fails_through_the_vip grep -q "probe 10.1.0.12:8080 (virtual_server.nat.real_server.nat\[\"10.1.0.12\"\]) through $NAT_VIP:80 (nat): FAILED, no answer" /tmp/out.txt
check nat_around_the_director_says_the_cause grep -q 'default route via the director' /tmp/out.txt
check nat_around_the_director_table_as_before [ "$(table)" = "$before" ]
check nat_around_the_director_leaves_nothing nothing_left
nat_route rs2 add

# Cost: a change of 3 real servers' weights (every service's rs1 and rs2 go to 2, then
# back), with and without probes.
start=$(now_ms)
code=$(status_of lvs apply --auto-approve --var 'dr={"10.1.0.11"=2,"10.1.0.12"=2}' --var 'nat={"10.1.0.11"=2,"10.1.0.12"=1}')
with=$(($(now_ms) - start))
check weight_change_with_probes [ "$code" -eq 0 ] && [ "$(grep -c 'through .*: ok' /tmp/out.txt)" -eq 3 ]
sed -i '/^  probe {/,/^  }/d' /tmp/probes/main.lvs.hcl
start=$(now_ms)
code=$(status_of lvs apply --auto-approve)
without=$(($(now_ms) - start))
check weight_change_without_probes [ "$code" -eq 0 ] && ! grep -q probe /tmp/out.txt
echo "figure: apply of a 3-server weight change: $with ms with probes, $without ms without"

summary
