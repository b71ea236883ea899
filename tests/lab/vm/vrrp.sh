# Inside the lab VM (tests/lab/vrrp-tests.sh): director redundancy through keepalived's
# VRRP (SPEC §10) with examples/keepalived-pair: two directors, each running keepalived
# 2.2.7 and sshd in a mount namespace of its own (private /run, /tmp, /etc/keepalived),
# planned and applied from the unprivileged runner. The router reaches the VIP on-link,
# so ARP (and a takeover's gratuitous ARP) decides which director gets the traffic.
. /lab/lib.sh
. /lab/topology.sh
topology_up >/dev/null
MAIN=/etc/keepalived/keepalived.conf
FILE=/etc/keepalived/lvsform.conf
LB2=10.1.0.2
mkdir -p /etc/keepalived
printf 'global_defs {\n  router_id lab\n}\ninclude %s\n' "$FILE" >/srv/keepalived.conf
lan_host lb2 "$LB2"
runner_up
ns_of() { if [ "$1" = lb1 ]; then echo director; else echo "$1"; fi; }
start_keepalived() { # start_keepalived LB: in the director's mount namespace (its sshd's)
  ns=$(ns_of "$1")
  sshd=$(cat "/srv/$1/sshd.pid")
  nsenter -t "$sshd" -m -n sh -c "keepalived -n -l -D -p /run/keepalived.pid -c /run/checkers-$1.pid -r /run/vrrp-$1.pid -f $MAIN >>/root/keepalived-$1.log 2>&1 &"
}
for lb in lb1 lb2; do
  addr=$LB2
  [ "$lb" = lb1 ] && addr=$DIP
  sshd_files "$lb" "$addr" /run/sshd.pid
  echo "$addr $(cut -d' ' -f1,2 "/srv/$lb/ssh/host_key.pub")" >>/home/ci/.ssh/known_hosts
  in_ns "$(ns_of $lb)" unshare -m sh -c "mount -t tmpfs tmpfs /run && mkdir /run/sshd && mount -t tmpfs tmpfs /tmp \
    && mount -t tmpfs tmpfs /etc/keepalived && cp /srv/keepalived.conf $MAIN \
    && echo \$\$ >/srv/$lb/sshd.pid && exec /usr/sbin/sshd -D -f /srv/$lb/ssh/sshd_config" &
done
sleep 1
for lb in lb1 lb2; do start_keepalived "$lb"; done
# An echo server on every real server (port 7, the mh service): one connection lives on.
for host in $SERVERS; do in_ns "$host" nc -ll -p 7 -e /bin/cat & done
sleep 1
rm -rf /tmp/pair && cp -r /lab/examples/keepalived-pair /tmp/pair
pair() { (cd /tmp/pair && as_ci lvsform "$@" --no-color); }
status_of() { "$@" >/tmp/out.txt 2>&1; echo $?; }
now_ms() { awk '{printf "%d", $1 * 1000}' /proc/uptime; }
ka_pid_of() { ps -o pid,args | awk -v c="/run/checkers-$1.pid" '$2 == "keepalived" && index($0, c) {print $1}' | sort -n | head -1; }
holds() { in_ns "$(ns_of "$1")" ip -o addr show dev eth0 | grep -q " $VIP/32 "; }
holder() { for lb in lb1 lb2; do holds "$lb" && printf '%s ' "$lb"; done; }
file_of() { cat "/proc/$(ka_pid_of "$1")/root$FILE" 2>/dev/null; }
only() { [ "$(holder)" = "$1 " ]; }
# A client connection to the echo service that sends a line every second: its lines
# answered so far.
long_lived() { # long_lived NAME: starts it
  (i=0; while [ "$i" -lt 60 ]; do echo "line $i"; sleep 1; i=$((i + 1)); done) |
    in_ns client nc "$VIP" 7 >"/tmp/$1.echo" 2>&1 &
}
echoed() { wc -l <"/tmp/$1.echo"; }
still_echoing() { # still_echoing NAME: 3 more lines answered within 6 s
  before=$(echoed "$1")
  within 6 sh -c "[ \$(wc -l <'/tmp/$1.echo') -ge $((before + 3)) ]"
}
# A takeover by COMMAND while 20 requests go to the VIP: sets `took` (ms from COMMAND to
# lb2 holding the VIP alone) and `lost` (the requests unanswered).
takeover() { # takeover COMMAND...
  (fetch "$VIP" 20 >/tmp/during.txt) &
  fetcher=$!
  sleep 0.5
  start=$(now_ms)
  "$@"
  n=0
  until only lb2 || [ "$n" -ge 150 ]; do sleep 0.05; n=$((n + 1)); done
  took=$(($(now_ms) - start))
  wait "$fetcher"
  lost=$(grep -c 'no answer' /tmp/during.txt)
}

# Before VRRP: lvsform holds the VIP on both directors (their `interface`).
mkdir -p /tmp/novrrp
sed '/^  vrrp {/,/^  }/d; /^vrrp {/,/^}/d' /tmp/pair/main.lvs.hcl >/tmp/novrrp/main.lvs.hcl
code=$( (cd /tmp/novrrp && as_ci lvsform apply --auto-approve --no-color) >/tmp/out.txt 2>&1; echo $?)
cat /tmp/out.txt
check before_vrrp_lvsform_holds_the_vip_on_both sh -c "[ $code -eq 0 ] && [ \"\$(for lb in director lb2; do ip netns exec \$lb ip -o addr show dev eth0 | grep -c ' $VIP/32 '; done | tr '\n' ' ')\" = '1 1 ' ]"
pids="$(ka_pid_of lb1) $(ka_pid_of lb2)"
echo "keepalived: $pids"
code=$(status_of pair plan --detailed-exitcode)
cat /tmp/out.txt
check vrrp_plan_has_changes [ "$code" -eq 2 ]
check vrrp_plan_renders_the_instance grep -q '^      +vrrp_instance lvsform {' /tmp/out.txt
check vrrp_plan_names_the_future_holder grep -q "203.0.113.10: held by lvsform on lb1 (priority 150) and lb2 (priority 100); handed over to keepalived's VRRP, lb1 (priority 150) will hold it" /tmp/out.txt
check vrrp_plan_hands_lb2s_vip_over grep -q 'address 203.0.113.10/32 on eth0 = "present" -> "held by keepalived.s VRRP on the director it elects"' /tmp/out.txt
start=$(now_ms)
code=$(status_of pair apply --auto-approve)
echo "figure: first apply of the VRRP pair: $(($(now_ms) - start)) ms"
cat /tmp/out.txt
check vrrp_apply_succeeds [ "$code" -eq 0 ]
check vrrp_keepalived_reloaded_not_restarted [ "$(ka_pid_of lb1) $(ka_pid_of lb2)" = "$pids" ]
check vrrp_lb1_holds_the_vip only lb1
check vrrp_lb2_is_backup grep -q 'Entering BACKUP STATE' /root/keepalived-lb2.log
check vrrp_files_differ_only_in_priority sh -c "[ \"\$(cat /proc/$(ka_pid_of lb1)/root$FILE | sed 's/priority 150/priority 100/')\" = \"\$(cat /proc/$(ka_pid_of lb2)/root$FILE)\" ]"
check vrrp_traffic_reaches_every_server all_servers_answer "$VIP" 12
code=$(status_of pair plan --detailed-exitcode)
cat /tmp/out.txt
check vrrp_replan_is_empty [ "$code" -eq 0 ]
check vrrp_replan_names_the_holder grep -q '203.0.113.10: held by lb1 (priority 150), and stays there' /tmp/out.txt

# keepalived on lb1 stops (SIGTERM: it sends priority 0): lb2 takes the VIP; a long-lived
# connection opened through lb1 goes on through lb2 (synced, sloppy_tcp).
long_lived sigterm
sleep 4
check long_lived_connection_echoes still_echoing sigterm
takeover kill "$(ka_pid_of lb1)"
echo "figure: takeover after SIGTERM on the master: $took ms, $lost of 20 requests unanswered"
check sigterm_lb2_takes_over only lb2
check sigterm_new_requests_answered all_servers_answer "$VIP" 12
check sigterm_long_lived_connection_survives still_echoing sigterm
start_keepalived lb1
check lb1_takes_the_vip_back within 15 only lb1
check lb1_back_long_lived_connection_survives still_echoing sigterm

# lb1's link goes down (no word to anyone): lb2 takes over after 3 advertisements.
long_lived linkdown
sleep 4
takeover ip link set l-director down
echo "figure: takeover after the master's link went down: $took ms (after the link), $lost of 20 requests unanswered"
check linkdown_lb2_takes_over only lb2
check linkdown_long_lived_connection_survives still_echoing linkdown
ip link set l-director up
check linkup_lb1_takes_the_vip_back within 15 only lb1
check linkup_long_lived_connection_survives still_echoing linkdown

# lb1's priority lowered, with a weight change on both: the plan says the VIP moves;
# apply changes lb2 (the backup) first, then lb1, and waits for lb2 to hold the VIP.
moved='servers={"10.1.0.11"=4,"10.1.0.12"=2,"10.1.0.13"=1}'
code=$(status_of pair plan --detailed-exitcode --var lb1_priority=50 --var "$moved")
cat /tmp/out.txt
check priority_plan_says_the_vip_moves grep -q 'moves 203.0.113.10 from lb1 (priority 50) to lb2 (priority 100)' /tmp/out.txt
code=$(status_of pair apply --auto-approve --var lb1_priority=50 --var "$moved")
cat /tmp/out.txt
check priority_apply_succeeds [ "$code" -eq 0 ]
check priority_apply_moved_the_vip only lb2
# The backup's stage (lb2) runs before the holder's (lb1): lb2's file written first.
lb2_first() {
  lb2=$(grep -n '^\[[0-9]*/[0-9]*\] lb2: write /etc/keepalived/lvsform.conf' /tmp/out.txt | cut -d: -f1)
  lb1=$(grep -n '^\[[0-9]*/[0-9]*\] lb1: write /etc/keepalived/lvsform.conf' /tmp/out.txt | cut -d: -f1)
  [ -n "$lb2" ] && [ -n "$lb1" ] && [ "$lb2" -lt "$lb1" ]
}
check priority_backup_changed_first lb2_first
check priority_traffic_through_lb2 all_servers_answer "$VIP" 12
code=$(status_of pair plan --detailed-exitcode --var lb1_priority=50 --var "$moved")
check priority_replan_is_empty [ "$code" -eq 0 ]
code=$(status_of pair apply --auto-approve)
check priority_back_to_lb1 [ "$code" -eq 0 ]
check priority_back_lb1_holds only lb1

# A failure on the second director's stage (lb1, the holder: read-only /etc/keepalived)
# rolls lb2's new file back too; the VIP stays with lb1.
files="$(file_of lb1 | md5sum)$(file_of lb2 | md5sum)"
nsenter -t "$(cat /srv/lb1/sshd.pid)" -m mount -o remount,ro /etc/keepalived
code=$(status_of pair apply --auto-approve --var 'servers={"10.1.0.11"=4,"10.1.0.12"=2,"10.1.0.13"=1}')
cat /tmp/out.txt
check failure_on_lb1_exits_1 [ "$code" -eq 1 ]
check failure_rolled_back grep -q 'Everything was rolled back' /tmp/out.txt
check failure_files_as_before [ "$(file_of lb1 | md5sum)$(file_of lb2 | md5sum)" = "$files" ]
check failure_vip_stays_on_lb1 only lb1
nsenter -t "$(cat /srv/lb1/sshd.pid)" -m mount -o remount,rw /etc/keepalived

# Without sync_connections (sloppy_tcp alone): a connection to the mh service survives
# a takeover (both directors pick the same server).
sed -i 's/sync_connections  = true/sync_connections  = false/' /tmp/pair/main.lvs.hcl
code=$(status_of pair apply --auto-approve)
cat /tmp/out.txt
check nosync_apply_succeeds [ "$code" -eq 0 ]
long_lived nosync
sleep 4
kill "$(ka_pid_of lb1)"
within 10 only lb2
check nosync_mh_connection_survives_on_sloppy_tcp still_echoing nosync
start_keepalived lb1
within 15 only lb1

summary
