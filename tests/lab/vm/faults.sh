# Inside the lab VM, sourced by apply.sh after ha.sh: the two directors of ha.sh under
# faults, each injected midway through lb2's stage of a large change (big.lvs.hcl: 8,000
# weight changes on each director; lb2's link slowed so that its stage takes seconds).
# For each fault: the exit code, and what exit 4 lists against what ipvsadm shows on lb2;
# the time to exit and until both directors' locks are free (printed: "fault …" lines);
# and the next apply from the runner converges without any kill.
F=/tmp/faults
rm -rf $F && mkdir -p $F && cp /lab/examples/ha-pair/main.lvs.hcl /lab/configs/faults/big.lvs.hcl $F/
big() { (cd $F && as_ci lvsform "$@" --no-color); }
now() { cut -d' ' -f1 /proc/uptime; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
shorter() { awk -v t="$1" -v l="$2" 'BEGIN { exit !(t < l) }'; } # shorter SECONDS LIMIT: SECONDS < LIMIT
wait_until() { # wait_until SECONDS COMMAND...: polls every 0.2 s
  limit=$1
  shift
  start=$(now)
  until "$@"; do
    shorter "$(since "$start")" "$limit" || return 1
    sleep 0.2
  done
}
lvsform_pids() { for p in $(ip netns pids "$1"); do [ "$(cat "/proc/$p/comm" 2>/dev/null)" = lvsform ] && echo "$p"; done; }
lock_free() { nsenter -m -t "$(cat "$1")" flock -n /run/lvsform.lock true; }
locks_free() { lock_free /tmp/sshd-director.pid && lock_free /tmp/sshd-lb2.pid; }
# "RIP:PORT tcp/VIP:PORT" of the big services' real servers at weight $2 on director $1.
at_weight() { in_ns "$1" ipvsadm -Sn | awk -v w="$2" '$5 ~ /^10\.2\.0\./ && $8 == w { print $5, "tcp/" $3 }' | sort; }
lb2_midway() { in_ns lb2 ipvsadm -Sn | grep -q -- "-r 10\.2\.0\..* -w $weight\$"; }
# The same, for lb2's real servers exit 4 lists as left ($1 = left) or in doubt ($1 = doubt).
listed() {
  awk -v want="$1" '/^Left as/ { s = "left" } /^In doubt/ { s = "doubt" } /^Run / { s = "" }
    s == want && /^  - director\["lb2"\]: edit real server 10\.2\.0\./ { print $6, $8 }' /tmp/fault.txt | sort
}
# The runner's bytes to lb2's sshd not yet acknowledged (the send queue of its open connection).
unacked() { in_ns runner awk '$3 == "0200010A:0016" && $4 == "01" { split($5, q, ":"); print q[1] }' /proc/net/tcp | head -1; }
unacked_bytes() { queued=$(unacked); echo $((0x${queued:-0})); }
runner_waits() { [ "$(unacked)" = 00000000 ]; }
runner_sends() { [ -n "$(unacked)" ] && [ "$(unacked)" != 00000000 ]; }
cut_link() { ip link set l-lb2 down; }
heal_link() { ip link set l-lb2 up; }

# fault NAME WEIGHT INJECT...: apply a new weight to every big real server from the
# runner, run INJECT once lb2 has some of it, and wait for the apply's end and the locks.
fault() {
  fault=$1
  weight=$2
  shift 2
  lb1_before=$(table_of director)
  # The apply records how and when it ended.
  (
    big apply --auto-approve --var "big_weight=$weight" >/tmp/fault.txt 2>&1
    echo $? >/tmp/fault.code
    now >/tmp/fault.end
  ) &
  apply=$!
  wait_until 300 lb2_midway || echo "fault $fault: lb2's stage was not seen"
  injected=$(now)
  "$@"
  echo "fault $fault: injected; $(unacked_bytes) bytes to lb2 unacknowledged then"
  # A hang is what this looks for: it must not hang the lab.
  wait_until 120 sh -c "! kill -0 $apply 2>/dev/null" || kill -KILL $(lvsform_pids runner)
  wait "$apply"
  code=$(cat /tmp/fault.code)
  exited=$(awk -v a="$injected" -v b="$(cat /tmp/fault.end)" 'BEGIN { printf "%.1f", b - a }')
  heal_link
  wait_until 120 locks_free
  freed=$(since "$injected")
  echo "fault $fault: exit $code after ${exited}s; both locks free after ${freed}s"
  # What it said, its lists cut to three items each.
  awk '/^  - / { if (++n > 3) next } !/^  - / { n = 0 } !/^\[/' /tmp/fault.txt | tail -25
  check "faults_${fault}_exits_within_60s" shorter "$exited" 60
  check "faults_${fault}_frees_both_locks_within_60s" shorter "$freed" 60
}
# After a fault that exits 4: lb1 as before; every changed real server on lb2 is listed,
# and every one listed as left (certainly done) is changed.
check_listed() {
  at_weight lb2 "$weight" >/tmp/changed.txt
  { listed left; listed doubt; } | sort >/tmp/listed.txt
  listed left >/tmp/left.txt
  echo "fault $fault: lb2 changed $(wc -l </tmp/changed.txt), listed left $(wc -l </tmp/left.txt), in doubt $(listed doubt | wc -l)"
  check "faults_${fault}_exits_4" [ "$code" -eq 4 ]
  check "faults_${fault}_rolls_lb1_back" [ "$(table_of director)" = "$lb1_before" ]
  check "faults_${fault}_lists_every_change_left_on_lb2" sh -c '[ -s /tmp/changed.txt ] && ! grep -qvxFf /tmp/listed.txt /tmp/changed.txt'
  check "faults_${fault}_lists_as_left_only_what_is" sh -c '! grep -qvxFf /tmp/changed.txt /tmp/left.txt'
  check "faults_${fault}_says_the_lost_link_once_not_per_change" [ "$(grep -c 'lost the connection\|ended without answering' /tmp/fault.txt)" -lt 10 ]
}
# The next apply from the runner, at once and with no lock timeout, converges both.
check_converges() {
  code=$(status_of big apply --auto-approve --var "big_weight=$weight")
  [ "$code" -eq 0 ] || tail -5 /tmp/out.txt
  check "faults_${fault}_next_apply_converges" [ "$code" -eq 0 ]
  check "faults_${fault}_both_at_the_new_weight" sh -c "[ \$(ip netns exec director ipvsadm -Sn | grep -c -- '-w $weight\$') -ge 8000 ] && [ \$(ip netns exec lb2 ipvsadm -Sn | grep -c -- '-w $weight\$') -ge 8000 ]"
}

tc qdisc add dev l-lb2 root tbf rate 2mbit burst 32kb latency 2s
start=$(now)
code=$(status_of big apply --auto-approve)
echo "faults: the big change applied from empty in $(since "$start")s"
[ "$code" -eq 0 ] || tail -20 /tmp/out.txt
check faults_setup_applies [ "$code" -eq 0 ]

kill_agent() { kill -KILL $(lvsform_pids lb2); }
fault agent_killed 2 kill_agent
check_listed
check_converges

# The runner dies: nothing to report, but both agents end at once, and a plan then shows
# the rest of the change.
kill_runner() { kill -KILL $(lvsform_pids runner); }
fault runner_killed 3 kill_runner
code=$(status_of big plan --detailed-exitcode --var "big_weight=3")
check faults_runner_killed_plan_shows_the_rest [ "$code" -eq 2 ]
check_converges

# lb2's agent stops (as if busy), the runner has sent all and waits for its answer, the
# link is cut, the agent carries the batch out: its answer is lost.
cut_waiting() {
  agent=$(lvsform_pids lb2)
  kill -STOP $agent
  wait_until 30 runner_waits
  cut_link
  kill -CONT $agent
}
fault cut_waiting 4 cut_waiting
check_listed
check_converges

# The link is cut while the runner sends a batch to lb2.
cut_sending() { wait_until 30 runner_sends; cut_link; }
fault cut_sending 5 cut_sending
check_listed
check_converges

# lb2 unreachable at plan time: the plan fails naming it; a plan for lb1 alone works.
cut_link
start=$(now)
code=$(status_of big plan --detailed-exitcode --var big_weight=5)
echo "fault unreachable: plan exit $code after $(since "$start")s"
tail -4 /tmp/out.txt
check faults_unreachable_plan_fails_naming_lb2 sh -c "[ $code -eq 1 ] && grep -q 'director \"lb2\" (10.1.0.2)' /tmp/out.txt"
code=$(status_of big plan --detailed-exitcode --director lb1 --var big_weight=5)
check faults_unreachable_lb2_spares_a_plan_for_lb1 [ "$code" -eq 0 ]
code=$(status_of big apply --auto-approve --director lb1 --var big_weight=6)
check faults_unreachable_lb2_spares_an_apply_to_lb1 [ "$code" -eq 0 ]
heal_link

tc qdisc del dev l-lb2 root
code=$(status_of big destroy --auto-approve)
check faults_destroy [ "$code" -eq 0 ]
