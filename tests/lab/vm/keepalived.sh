# Inside the lab VM (tests/lab/keepalived-tests.sh): services with health checks through a
# real keepalived 2.2.7 on the director, beside a service lvsform owns over netlink
# (examples/keepalived). keepalived runs in the director's network namespace with a
# private /tmp (its state dump is read through /proc); lvsform runs there as root.
. /lab/lib.sh
. /lab/topology.sh
topology_up >/dev/null
in_ns director sysctl -qw net.ipv4.vs.expire_nodest_conn=1
mkdir -p /root/.ssh /etc/keepalived
cp /lab/ssh/id_ed25519 /lab/ssh/known_hosts /root/.ssh/
rm -rf /tmp/ka && cp -r /lab/examples/keepalived /tmp/ka
FILE=/etc/keepalived/lvsform.conf
MAIN=/etc/keepalived/keepalived.conf
VIP2=203.0.113.11

ka() { (cd /tmp/ka && in_ns director lvsform "$@" --no-color); }
status_of() { "$@" >/tmp/out.txt 2>&1; echo $?; }
table() { in_ns director ipvsadm -Sn | sort; }
# The real servers of a service in the kernel's order, head first: "ADDRESS WEIGHT" lines
# (ipvsadm sorts unless told not to).
order_of() { in_ns director ipvsadm -Ln --nosort -t "$1" | awk '/->/ && !/RemoteAddress/ {print $2, $4}'; }
now_ms() { awk '{printf "%d", $1 * 1000}' /proc/uptime; }
keepalived_pid() { cat /run/keepalived.pid 2>/dev/null; }
start_keepalived() {
  in_ns director unshare -m sh -c "mount -t tmpfs tmpfs /tmp && exec keepalived -n -l -D -p /run/keepalived.pid -c /run/keepalived_checkers.pid -f $MAIN" >>/root/keepalived.log 2>&1 &
  waited=0
  until [ -s /run/keepalived.pid ] || [ "$waited" -ge 50 ]; do sleep 0.1; waited=$((waited + 1)); done
}
httpd_of() { ps -o pid,args | awk -v dir="/srv/$1/www" '$2 == "httpd" && $4 == "80" && $6 == dir {print $1}'; }
stop_httpd() { kill "$(httpd_of "$1")"; }
start_httpd() { in_ns "$1" httpd -p 80 -h "/srv/$1/www"; }
# Whether web (VIP:80) has real server ADDRESS at a weight above 0.
in_web() { in_ns director ipvsadm -Ln -t "$VIP:80" | awk -v rs="$1:80" '$2 == rs && $4 > 0 {found = 1} END {exit !found}'; }
in_cache() { in_ns director ipvsadm -Ln -t "$VIP2:80" | awk -v rs="$1:80" '$2 == rs && $4 > 0 {found = 1} END {exit !found}'; }
served_by() { # served_by HOST: the VIP's answers come from HOST among others
  fetch "$VIP" 6 | grep -qx "$1"
}
never_served_by() { ! fetch "$VIP" 9 | grep -qx "$1"; }

# keepalived must run, and include lvsform's file: each is a plan error with its fix.
code=$(status_of ka plan)
cat /tmp/out.txt
check ka_not_running_is_a_plan_error [ "$code" -eq 1 ]
check ka_not_running_says_start_it grep -q 'keepalived is not running here' /tmp/out.txt
printf 'global_defs {\n  router_id lab\n}\n' >"$MAIN"
start_keepalived
pid=$(keepalived_pid)
code=$(status_of ka plan)
cat /tmp/out.txt
check ka_missing_include_is_a_plan_error [ "$code" -eq 1 ]
check ka_missing_include_says_the_line grep -q "add the line \`include $FILE\` to $MAIN" /tmp/out.txt
printf 'include %s\n' "$FILE" >>"$MAIN"

# The first apply: keepalived gets its file (reloaded, same pid), lvsform's own service
# goes over netlink, and the real servers are prepared; traffic reaches every server.
code=$(status_of ka plan --detailed-exitcode)
cat /tmp/out.txt
check ka_first_plan_has_changes [ "$code" -eq 2 ]
check ka_first_plan_shows_the_file_diff grep -q "^      +virtual_server 203.0.113.10 80 {" /tmp/out.txt
start=$(now_ms)
code=$(status_of ka apply --auto-approve)
end=$(now_ms)
cat /tmp/out.txt
echo "figure: apply to a converged table under keepalived: $((end - start)) ms"
check ka_first_apply_succeeds [ "$code" -eq 0 ]
check ka_reloaded_not_restarted [ "$(keepalived_pid)" = "$pid" ]
table
check ka_table_has_checked_servers sh -c "in_ns() { ip netns exec \$1 ipvsadm -Sn; }; [ \$(in_ns director | grep -c -- '-t 203.0.113.10:80 -r') -eq 3 ]"
check ka_table_has_netlink_service sh -c "ip netns exec director ipvsadm -Sn | grep -q -- '-A -t 203.0.113.10:8080 -s rr'"
check ka_traffic_reaches_every_server all_servers_answer "$VIP" 12
code=$(status_of ka plan --detailed-exitcode)
cat /tmp/out.txt
check ka_next_plan_is_empty [ "$code" -eq 0 ]

# rs2's HTTP server stops: keepalived takes it out; the plan shows it down and is empty;
# an apply writes nothing; no client reaches rs2.
stop_httpd rs2
check ka_rs2_taken_out_by_keepalived within 10 sh -c "! ip netns exec director ipvsadm -Sn | grep -q -- '-t 203.0.113.10:80 -r 10.1.0.12:80'"
code=$(status_of ka plan --detailed-exitcode)
cat /tmp/out.txt
check ka_down_server_is_not_drift [ "$code" -eq 0 ]
check ka_down_server_is_shown grep -q 'real_server.web\["10.1.0.12"\] (10.1.0.12:80): down, keepalived.s HTTP_GET check fails' /tmp/out.txt
before=$(table)
file_before=$(md5sum <"$FILE")
code=$(status_of ka apply --auto-approve)
cat /tmp/out.txt
check ka_apply_with_a_server_down_changes_nothing sh -c "[ $code -eq 0 ] && [ \"\$(ip netns exec director ipvsadm -Sn | sort)\" = '$before' ] && [ \"\$(md5sum <$FILE)\" = '$file_before' ]"
check ka_no_client_reaches_the_down_server never_served_by rs2

# rs1's weight changes: one change, applied through keepalived; rs2 stays out.
code=$(status_of ka plan --detailed-exitcode --var 'servers={"10.1.0.11"=5,"10.1.0.12"=2,"10.1.0.13"=1}')
cat /tmp/out.txt
check ka_weight_change_planned [ "$code" -eq 2 ]
check ka_weight_change_is_one_change grep -q 'Plan: 0 to add, 1 to change, 0 to destroy.' /tmp/out.txt
code=$(status_of ka apply --auto-approve --var 'servers={"10.1.0.11"=5,"10.1.0.12"=2,"10.1.0.13"=1}')
cat /tmp/out.txt
check ka_weight_change_applied sh -c "[ $code -eq 0 ] && ip netns exec director ipvsadm -Sn | grep -q -- '-t 203.0.113.10:80 -r 10.1.0.11:80 -g -w 5'"
check ka_rs2_still_out sh -c "! ip netns exec director ipvsadm -Sn | grep -q -- '-t 203.0.113.10:80 -r 10.1.0.12:80'"
sed -i 's/"10.1.0.11" = 3/"10.1.0.11" = 5/' /tmp/ka/main.lvs.hcl

# rs2 answers again: keepalived puts it back, and the plan is empty.
start_httpd rs2
check ka_rs2_back within 10 in_web 10.1.0.12
check ka_rs2_back_in_the_sh_service within 10 in_cache 10.1.0.12
code=$(status_of ka plan --detailed-exitcode)
cat /tmp/out.txt
check ka_plan_empty_with_rs2_back sh -c "[ $code -eq 0 ] && ! grep -q 'Held down' /tmp/out.txt"

# A file keepalived rejects (every weight 0: its quorum warning) changes nothing: exit 1,
# keepalived's message shown, the file and the table as they were.
before=$(table)
file_before=$(md5sum <"$FILE")
code=$(status_of ka apply --auto-approve --var 'servers={"10.1.0.11"=0,"10.1.0.12"=0,"10.1.0.13"=0}')
cat /tmp/out.txt
check ka_rejected_file_exits_1 [ "$code" -eq 1 ]
check ka_rejected_file_shows_keepalived grep -q 'keepalived rejects the new' /tmp/out.txt
check ka_rejected_file_changes_nothing sh -c "[ \"\$(ip netns exec director ipvsadm -Sn | sort)\" = '$before' ] && [ \"\$(md5sum <$FILE)\" = '$file_before' ]"

# sh under keepalived: lvsform's canonical order (descending), kept through a server's
# down (in place at weight 0) and up.
order=$(order_of "$VIP2:80")
echo "$order"
check ka_sh_order_is_canonical [ "$(echo "$order" | awk '{print $1}' | tr '\n' ' ')" = "10.1.0.13:80 10.1.0.12:80 10.1.0.11:80 " ]
stop_httpd rs1
check ka_sh_down_server_held_at_weight_0 within 10 sh -c "ip netns exec director ipvsadm -Ln -t $VIP2:80 | grep -q '10.1.0.11:80 *Route *0 '"
check ka_sh_order_kept_while_down [ "$(order_of "$VIP2:80" | awk '{print $1}')" = "$(echo "$order" | awk '{print $1}')" ]
start_httpd rs1
check ka_sh_server_back_in_place within 10 sh -c "[ \"\$(ip netns exec director ipvsadm -Ln --nosort -t $VIP2:80 | awk '/->/ && !/RemoteAddress/ {print \$2, \$4}')\" = '$order' ]"

# rs3 leaves web: drained at weight 0 through keepalived first, then removed.
code=$(status_of ka apply --auto-approve --var drain=2s --var 'servers={"10.1.0.11"=5,"10.1.0.12"=2}')
cat /tmp/out.txt
check ka_removal_applied sh -c "[ $code -eq 0 ] && ! ip netns exec director ipvsadm -Sn | grep -q -- '-t 203.0.113.10:80 -r 10.1.0.13:80'"
check ka_removal_reloaded_twice [ "$(grep -c 'reload keepalived' /tmp/out.txt)" -ge 2 ]
check ka_plan_empty_after_removal sh -c "cd /tmp/ka && ip netns exec director lvsform plan --detailed-exitcode --var drain=2s --var 'servers={\"10.1.0.11\"=5,\"10.1.0.12\"=2}' >/dev/null"

# Handovers: without their checks the services become lvsform's over netlink (they leave
# keepalived's file first, then are created), and with them again keepalived's.
VARS="--var drain=2s --var 'servers={\"10.1.0.11\"=5,\"10.1.0.12\"=2}'"
rm -rf /tmp/unchecked && cp -r /tmp/ka /tmp/unchecked
sed -i '/^  health_check {/,/^  }/d' /tmp/unchecked/main.lvs.hcl
before=$(table)
code=$(status_of sh -c "cd /tmp/unchecked && ip netns exec director lvsform apply --auto-approve --no-color $VARS")
cat /tmp/out.txt
check ka_handover_to_netlink_applies [ "$code" -eq 0 ]
# (the sh service loses the fallback flag lvsform adds under keepalived)
check ka_handover_to_netlink_keeps_the_table [ "$(table | sed 's/ -b sh-fallback//')" = "$(echo "$before" | sed 's/ -b sh-fallback//')" ]
check ka_handover_to_netlink_empties_the_file [ ! -e "$FILE" ]
check ka_handover_to_netlink_plans_empty sh -c "cd /tmp/unchecked && ip netns exec director lvsform plan --detailed-exitcode $VARS >/dev/null"
code=$(status_of sh -c "cd /tmp/ka && ip netns exec director lvsform apply --auto-approve --no-color $VARS")
cat /tmp/out.txt
check ka_handover_to_keepalived_applies [ "$code" -eq 0 ]
check ka_handover_to_keepalived_keeps_the_table [ "$(table)" = "$before" ]
check ka_handover_to_keepalived_plans_empty sh -c "cd /tmp/ka && ip netns exec director lvsform plan --detailed-exitcode $VARS >/dev/null"
stop_httpd rs2
check ka_handover_to_keepalived_checks_again within 10 sh -c "! ip netns exec director ipvsadm -Sn | grep -q -- '-t 203.0.113.10:80 -r 10.1.0.12:80'"
start_httpd rs2
within 10 in_web 10.1.0.12
within 10 in_cache 10.1.0.12

# A service deleted by hand: keepalived would not put it back; the plan says to restart it.
in_ns director ipvsadm -D -t "$VIP2:80"
code=$(status_of ka plan --var drain=2s --var 'servers={"10.1.0.11"=5,"10.1.0.12"=2}')
cat /tmp/out.txt
check ka_hand_deletion_is_an_error_with_the_cure sh -c "[ $code -eq 1 ] && grep -q 'restart keepalived' /tmp/out.txt"

# destroy: lvsform's file goes (in one reload: keepalived cannot hold a service whose
# weights are all 0 through a drain), and so does lvsform's own service; keepalived keeps
# running.
pid=$(keepalived_pid)
code=$(status_of ka destroy --auto-approve --var drain=2s --var 'servers={"10.1.0.11"=5,"10.1.0.12"=2}')
cat /tmp/out.txt
check ka_destroy_succeeds [ "$code" -eq 0 ]
check ka_destroy_removes_in_one_reload [ "$(grep -c 'reload keepalived' /tmp/out.txt)" -eq 1 ]
check ka_destroy_removes_the_file [ ! -e "$FILE" ]
check ka_destroy_empties_the_table [ -z "$(table)" ]
check ka_destroy_keeps_keepalived_running [ "$(keepalived_pid)" = "$pid" ]

# --- Migration: import what keepalived (or ipvsadm -R) made, and apply it -------------
# A realistic keepalived.conf (a virtual_server_group, includes, a UDP service without
# `protocol`, a fwmark with sh, checks of both kinds) runs in the real keepalived; its
# table is saved. On a fresh director (keepalived with only lvsform's include), the
# import applied by lvsform makes the same table, line for line.
IMPORT=/lab/configs/keepalived-import/keepalived.conf
kill "$(keepalived_pid)"
within 5 sh -c '! [ -e /run/keepalived.pid ]'
in_ns director ipvsadm -C
rm -f "$FILE"
MAIN_BEFORE=$MAIN
MAIN=$IMPORT
start_keepalived
rules_made() { [ "$(in_ns director ipvsadm -Sn | grep -c -- '^-a ')" -eq 10 ]; }
check import_keepalived_makes_its_table within 15 rules_made
# Every check has run once by now (delay_loop 2 and 3): the table is keepalived's steady
# one (rs1's digest is that of its page; a failing check would take it out after a
# moment, and the table captured before would not be keepalived's).
sleep 4
check import_keepalived_table_is_steady rules_made
table >/tmp/original.txt
cat /tmp/original.txt
mkdir -p /tmp/imported
(cd /tmp && in_ns director lvsform import --from-keepalived "$IMPORT" >/tmp/imported/imported.lvs.hcl 2>/tmp/import-warnings.txt)
cat /tmp/imported/imported.lvs.hcl /tmp/import-warnings.txt
check import_warns_with_file_and_line grep -q 'services.d/web.conf:17:17: warning: `digest` has no equivalent' /tmp/import-warnings.txt
kill "$(keepalived_pid)"
within 5 sh -c '! [ -e /run/keepalived.pid ]'
in_ns director ipvsadm -C
MAIN=$MAIN_BEFORE
start_keepalived
code=$(status_of sh -c "cd /tmp/imported && ip netns exec director lvsform apply --auto-approve --no-color")
cat /tmp/out.txt
check import_from_keepalived_applies [ "$code" -eq 0 ]
check import_from_keepalived_gives_the_same_table within 10 sh -c "[ \"\$(ip netns exec director ipvsadm -Sn | sort)\" = \"\$(cat /tmp/original.txt)\" ]"
table | diff /tmp/original.txt - && echo "tables identical"

# ipvsadm: the same table restored with ipvsadm -R from its -Sn rules, and imported.
in_ns director ipvsadm -Sn >/tmp/rules.txt
(cd /tmp && in_ns director lvsform import --from-ipvsadm /tmp/rules.txt >/tmp/from-rules.hcl)
kill "$(keepalived_pid)"
within 5 sh -c '! [ -e /run/keepalived.pid ]'
in_ns director ipvsadm -C
rm -f "$FILE"
rm -rf /tmp/ipvsadm-import && mkdir /tmp/ipvsadm-import && mv /tmp/from-rules.hcl /tmp/ipvsadm-import/main.lvs.hcl
code=$(status_of sh -c "cd /tmp/ipvsadm-import && ip netns exec director lvsform apply --auto-approve --no-color")
cat /tmp/out.txt
check import_from_ipvsadm_applies [ "$code" -eq 0 ]
check import_from_ipvsadm_gives_the_same_table [ "$(table)" = "$(sort /tmp/rules.txt)" ]
in_ns director ipvsadm -C
in_ns director ipvsadm -R </tmp/rules.txt
check import_from_ipvsadm_matches_ipvsadm_restore [ "$(table)" = "$(sort /tmp/rules.txt)" ]
in_ns director ipvsadm -C
MAIN=$MAIN_BEFORE
start_keepalived

# --- The same on two directors reached over SSH from an unprivileged runner ---------
# Each director runs its sshd and its keepalived in one mount namespace of its own, with
# private /run, /tmp and /etc/keepalived; the runner is user `ci` in a namespace of its own.
kill "$(keepalived_pid)"
within 5 sh -c '! [ -e /run/keepalived.pid ]'
in_ns director ipvsadm -C
LB2=10.1.0.2
printf 'global_defs {\n  router_id lab\n}\ninclude %s\n' "$FILE" >/srv/keepalived.conf
lan_host lb2 "$LB2"
runner_up
for lb in lb1 lb2; do
  ns=$lb
  addr=$LB2
  if [ "$lb" = lb1 ]; then ns=director addr=$DIP; fi
  sshd_files "$lb" "$addr" /run/sshd.pid
  echo "$addr $(cut -d' ' -f1,2 "/srv/$lb/ssh/host_key.pub")" >>/home/ci/.ssh/known_hosts
  in_ns "$ns" unshare -m sh -c "mount -t tmpfs tmpfs /run && mkdir /run/sshd && mount -t tmpfs tmpfs /tmp \
    && mount -t tmpfs tmpfs /etc/keepalived && cp /srv/keepalived.conf $MAIN \
    && { keepalived -n -l -D -p /run/keepalived.pid -c /run/checkers-$lb.pid -f $MAIN >>/root/keepalived-$lb.log 2>&1 & } \
    && exec /usr/sbin/sshd -f /srv/$lb/ssh/sshd_config"
done
sleep 1
rm -rf /tmp/pair && cp -r /lab/configs/keepalived-pair /tmp/pair
pair() { (cd /tmp/pair && as_ci lvsform "$@" --no-color); }
# A director's keepalived (the parent: the lowest pid of its command line) and its files.
ka_pid_of() { ps -o pid,args | awk -v c="/run/checkers-$1.pid" '$2 == "keepalived" && index($0, c) {print $1}' | sort -n | head -1; }
file_of() { cat "/proc/$(ka_pid_of "$1")/root$FILE" 2>/dev/null; }
table_of() { in_ns "$1" ipvsadm -Sn | sort; }
order_on() { in_ns "$1" ipvsadm -Ln --nosort -t "$VIP2:80" | awk '/->/ && !/RemoteAddress/ {print $2}' | tr '\n' ' '; }
both_without() { # both_without RIP: neither director's web has RIP:80
  ! table_of director | grep -q -- "-t $VIP:80 -r $1:80" && ! table_of lb2 | grep -q -- "-t $VIP:80 -r $1:80"
}
both_with() { table_of director | grep -q -- "-t $VIP:80 -r $1:80" && table_of lb2 | grep -q -- "-t $VIP:80 -r $1:80"; }

pids="$(ka_pid_of lb1) $(ka_pid_of lb2)"
echo "keepalived: $pids"
code=$(status_of pair plan --detailed-exitcode)
cat /tmp/out.txt
check pair_plan_from_the_runner_has_changes [ "$code" -eq 2 ]
check pair_plan_writes_both_files sh -c "grep -q '^  + director\\[\"lb1\"\\].keepalived$' /tmp/out.txt && grep -q '^  + director\\[\"lb2\"\\].keepalived$' /tmp/out.txt"
start=$(now_ms)
code=$(status_of pair apply --auto-approve)
end=$(now_ms)
cat /tmp/out.txt
echo "figure: apply to converged tables under keepalived on two remote directors: $((end - start)) ms"
check pair_apply_succeeds [ "$code" -eq 0 ]
check pair_keepalived_reloaded_not_restarted [ "$(ka_pid_of lb1) $(ka_pid_of lb2)" = "$pids" ]
check pair_tables_are_equal sh -c "[ -n \"\$(ip netns exec director ipvsadm -Sn)\" ] && [ \"\$(ip netns exec director ipvsadm -Sn | sort)\" = \"\$(ip netns exec lb2 ipvsadm -Sn | sort)\" ]"
check pair_files_are_equal sh -c "[ -n \"$(file_of lb1)\" ] && [ \"$(file_of lb1 | md5sum)\" = \"$(file_of lb2 | md5sum)\" ]"
check pair_netlink_service_on_both sh -c "ip netns exec lb2 ipvsadm -Sn | grep -q -- '-A -t 203.0.113.10:8080 -s rr'"
# Each director probes its own path, through its agent: 6 servers each, directly then
# through the VIP; lb1's last probe comes before lb2's first step.
check pair_apply_probes_directly_from_each [ "$(grep -c 'directly: ok' /tmp/out.txt)" -eq 12 ]
check pair_apply_probes_through_each_vip [ "$(grep -c 'through 203.0.113.10:[0-9]* (dr): ok' /tmp/out.txt)" -eq 12 ]
check pair_apply_probes_netlink_service_through_lb2 grep -q 'probe 10.1.0.13:8080 (director\["lb2"\].virtual_server.admin.real_server.admin\["10.1.0.13"\]) through 203.0.113.10:8080 (dr): ok, connected' /tmp/out.txt
check pair_apply_probes_keepalived_service_through_lb1 grep -q 'probe 10.1.0.11:80 (director\["lb1"\].virtual_server.web.real_server.web\["10.1.0.11"\]) through 203.0.113.10:80 (dr): ok, HTTP 200' /tmp/out.txt
lb1_probed_before_lb2() {
  last_lb1=$(grep -n '^probe .*director\["lb1"\].* through ' /tmp/out.txt | tail -1 | cut -d: -f1)
  first_lb2=$(grep -n '^probe .*director\["lb2"\].* through ' /tmp/out.txt | head -1 | cut -d: -f1)
  lb2_step=$(awk -v after="$last_lb1" 'NR > after && /^\[[0-9]+\/[0-9]+\]/ {print NR; exit}' /tmp/out.txt)
  [ -n "$lb2_step" ] && [ "$lb2_step" -lt "$first_lb2" ]
}
check pair_each_director_probed_in_its_stage lb1_probed_before_lb2
ip route replace "$VIP/32" via "$DIP"
check pair_traffic_via_lb1 all_servers_answer "$VIP" 12
ip route replace "$VIP/32" via "$LB2"
check pair_traffic_via_lb2 all_servers_answer "$VIP" 12
check pair_sh_order_canonical_on_both sh -c "[ \"$(order_on director)\" = '10.1.0.13:80 10.1.0.12:80 10.1.0.11:80 ' ] && [ \"$(order_on lb2)\" = '10.1.0.13:80 10.1.0.12:80 10.1.0.11:80 ' ]"
code=$(status_of pair plan --detailed-exitcode)
check pair_next_plan_is_empty [ "$code" -eq 0 ]

stop_httpd rs2
check pair_rs2_out_on_both within 10 both_without 10.1.0.12
code=$(status_of pair plan --detailed-exitcode)
cat /tmp/out.txt
check pair_down_server_is_not_drift [ "$code" -eq 0 ]
check pair_down_server_shown_per_director sh -c "grep -q 'director\\[\"lb1\"\\].virtual_server.web.real_server.web\\[\"10.1.0.12\"\\] (10.1.0.12:80): down' /tmp/out.txt && grep -q 'director\\[\"lb2\"\\].virtual_server.web.real_server.web\\[\"10.1.0.12\"\\] (10.1.0.12:80): down' /tmp/out.txt"
code=$(status_of pair apply --auto-approve --var 'servers={"10.1.0.11"=5,"10.1.0.12"=2,"10.1.0.13"=1}')
cat /tmp/out.txt
check pair_weight_change_probes_rs1_on_each [ "$(grep -c 'probe 10.1.0.11:80 .* through 203.0.113.10:80 (dr): ok' /tmp/out.txt)" -eq 2 ]
check pair_weight_change_applied_on_both sh -c "[ $code -eq 0 ] && ip netns exec director ipvsadm -Sn | grep -q -- '-r 10.1.0.11:80 -g -w 5' && ip netns exec lb2 ipvsadm -Sn | grep -q -- '-r 10.1.0.11:80 -g -w 5'"
check pair_rs2_still_out both_without 10.1.0.12
start_httpd rs2
check pair_rs2_back_on_both within 10 both_with 10.1.0.12
cache_whole() { ! { in_ns director ipvsadm -Ln -t "$VIP2:80"; in_ns lb2 ipvsadm -Ln -t "$VIP2:80"; } | grep -q 'Route *0 '; }
check pair_rs2_back_in_the_sh_service_on_both within 10 cache_whole

# A failure on lb2 after lb1's new file took effect (lb2's /etc/keepalived is read-only):
# lb1's previous file is put back, keepalived reloaded and waited for; exit 1, both
# directors' files and tables as they were.
before="$(table_of director)$(table_of lb2)"
files="$(file_of lb1 | md5sum)$(file_of lb2 | md5sum)"
nsenter -t "$(ka_pid_of lb2)" -m mount -o remount,ro /etc/keepalived
code=$(status_of pair apply --auto-approve --var 'servers={"10.1.0.11"=4,"10.1.0.12"=2,"10.1.0.13"=1}')
nsenter -t "$(ka_pid_of lb2)" -m mount -o remount,rw /etc/keepalived
cat /tmp/out.txt
check pair_failure_on_lb2_exits_1 [ "$code" -eq 1 ]
check pair_failure_names_lb2 grep -q '^error: director "lb2" (10.1.0.2): cannot write /etc/keepalived/' /tmp/out.txt
check pair_failure_is_rolled_back grep -q 'Everything was rolled back' /tmp/out.txt
check pair_failure_restores_lb1 sh -c "[ \"\$(ip netns exec director ipvsadm -Sn | sort)\$(ip netns exec lb2 ipvsadm -Sn | sort)\" = '$before' ] && [ \"$(file_of lb1 | md5sum)$(file_of lb2 | md5sum)\" = '$files' ]"

# A file keepalived rejects: exit 1, both directors' files and tables as they were.
before="$(table_of director)$(table_of lb2)"
files="$(file_of lb1 | md5sum)$(file_of lb2 | md5sum)"
code=$(status_of pair apply --auto-approve --var 'servers={"10.1.0.11"=0,"10.1.0.12"=0,"10.1.0.13"=0}')
cat /tmp/out.txt
check pair_rejected_file_exits_1 [ "$code" -eq 1 ]
check pair_rejected_file_names_keepalived grep -q 'keepalived rejects the new' /tmp/out.txt
check pair_rejected_file_changes_nothing sh -c "[ \"\$(ip netns exec director ipvsadm -Sn | sort)\$(ip netns exec lb2 ipvsadm -Sn | sort)\" = '$before' ] && [ \"$(file_of lb1 | md5sum)$(file_of lb2 | md5sum)\" = '$files' ]"

summary
