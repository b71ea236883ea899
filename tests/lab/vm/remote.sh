# Inside the lab VM, sourced by apply.sh: a director reached over SSH from a CI runner.
# The director gets its own sshd (in a mount namespace with a private /run, so that its
# lock file is its own); the runner is one more namespace on the LAN where lvsform runs
# as an ordinary user, `ci`, that cannot touch IPVS itself.
sshd_files director "$DIP" /tmp/sshd-director.pid
in_ns director unshare -m sh -c "mount -t tmpfs tmpfs /run && mkdir /run/sshd && exec /usr/sbin/sshd -f /srv/director/ssh/sshd_config"
director_key="$DIP $(cut -d' ' -f1,2 /srv/director/ssh/host_key.pub)"

runner_up
echo "$director_key" >>/home/ci/.ssh/known_hosts
remote=/lab/configs/remote
lvsform_as_ci() { (cd $remote && as_ci lvsform "$@" --no-color); }
sleep 0.5

unprivileged() { ! as_ci ipvsadm -Ln >/dev/null 2>&1; }
check remote_runner_user_cannot_use_ipvs unprivileged
code=$(status_of lvsform_as_ci plan --detailed-exitcode)
cat /tmp/out.txt
check remote_plan_from_the_runner_has_changes [ "$code" -eq 2 ]
check remote_plan_shows_the_service grep -qx '  + virtual_server.web' /tmp/out.txt

# lvsform missing on the director: a plan error that says how to install it, nothing changed.
before=$(table)
code=$(status_of lvsform_as_ci plan --var lvsform=/opt/none/lvsform)
cat /tmp/out.txt
check remote_missing_lvsform_fails [ "$code" -eq 1 ]
check remote_missing_lvsform_says_how_to_install grep -q 'help: install lvsform .* on the director' /tmp/out.txt
check remote_missing_lvsform_changes_nothing [ "$(table)" = "$before" ]

# A real failure midway (rs2 cannot write /proc/sys): the director, over SSH, and the
# hosts are rolled back.
kill "$(cat /run/sshd-rs2.pid)"
sleep 0.5
start_sshd rs2 "mount --bind /proc/sys /proc/sys && mount -o remount,bind,ro /proc/sys &&"
sleep 0.5
code=$(status_of lvsform_as_ci apply --auto-approve)
cat /tmp/out.txt
check remote_failure_exits_1 [ "$code" -eq 1 ]
check remote_failure_is_rolled_back grep -q 'Everything was rolled back' /tmp/out.txt
check remote_rollback_leaves_ipvs_empty [ -z "$(table)" ]
check remote_rollback_removes_the_director_vip no_director_vip
kill "$(cat /run/sshd-rs2.pid)"
sleep 0.5
start_sshd rs2
sleep 0.5

# Plan and apply from the runner: traffic through the VIP, then an empty plan.
code=$(status_of lvsform_as_ci apply --auto-approve)
cat /tmp/out.txt
check remote_apply_from_the_runner [ "$code" -eq 0 ]
check remote_apply_fills_the_directors_table [ "$(table | grep -c -- '-a -t 203.0.113.10:80')" -eq 3 ]
# Right after the failed apply's rollback took the same addresses away and this apply
# added them again, the LAN's neighbour entries may take a moment: a few tries.
settled() { for _ in 1 2 3; do all_servers_answer "$VIP" && return 0; sleep 2; done; return 1; }
check remote_traffic_reaches_every_server settled
code=$(status_of lvsform_as_ci plan --detailed-exitcode)
check remote_replan_is_empty [ "$code" -eq 0 ]

# The director's lock is taken there: an apply waits for its holder, then says who (here
# util-linux flock, which is not lvsform, and says so).
nsenter -t "$(cat /tmp/sshd-director.pid)" -m flock /run/lvsform.lock sleep 5 &
sleep 0.5
code=$(status_of lvsform_as_ci apply --auto-approve --lock-timeout 1s --var first_weight=4)
cat /tmp/out.txt
check remote_lock_is_the_directors grep -q 'director 10.1.0.1: a process that is not lvsform holds the lock /run/lvsform.lock' /tmp/out.txt
wait

# A plan saved on the runner is applied from another machine (the client, as root).
code=$(status_of lvsform_as_ci plan --var first_weight=5 --out /tmp/remote.plan)
check remote_plan_is_saved [ "$code" -eq 0 ]
echo "$director_key" >>/root/.ssh/known_hosts
code=$(status_of in_ns client lvsform apply /tmp/remote.plan --no-color)
cat /tmp/out.txt
check remote_saved_plan_applies_elsewhere [ "$code" -eq 0 ]
check remote_saved_plan_took_effect sh -c "ip netns exec director ipvsadm -Sn | grep -q -- '-r 10.1.0.11:80 -g -w 5'"
code=$(status_of lvsform_as_ci destroy --auto-approve)
check remote_destroy [ "$code" -eq 0 ]
check remote_destroy_empties_the_table [ -z "$(table)" ]
