# Inside the lab VM (bench/commands.sh): lvsform's commands beside ipvsadm on the tables
# of /lab/bench/SIZE (two configuration shapes, and the same table as `ipvsadm -R` rules).
# Every figure is the best of 3 runs. Each table is written into a namespace of its own
# that never held IPVS entries (the kernel is slower to refill a table that was just
# flushed), with loopback up (without a local route IPVS refuses every destination).
RUNS=3
# Local and remote no-op plans, alternating.
PAIRS=5
SHAPES="blocks for_each"

fresh() { # fresh NAME: a new namespace with loopback up
  ip netns add "$1" && ip -n "$1" link set lo up
}
seconds() { # seconds COMMAND...: runs it, prints its wall time (busybox date has no %N)
  start=$(cut -d' ' -f1 /proc/uptime)
  "$@" >/tmp/bench.out 2>&1 || { cat /tmp/bench.out >&2; echo "bench: failed: $*" >&2; exit 1; }
  end=$(cut -d' ' -f1 /proc/uptime)
  awk -v s="$start" -v e="$end" 'BEGIN {printf "%.2f", e - s}'
}
best() { tr ' ' '\n' | grep . | sort -n | head -1; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", (b > 0 ? a / b : 0)}'; }
# The largest peak RSS of the last runs, from lvsform's debug output.
rss() { sed -n 's/^debug: peak RSS \([0-9]*\) MiB$/\1/p' /tmp/bench.rss | sort -n | tail -1; }
# The binary lvsform_in runs: this build, or the baseline it is compared with.
bin=lvsform
lvsform_in() { # lvsform_in NS DIR ARGS...: $bin in namespace NS on configuration DIR
  ns=$1 dir=$2
  shift 2
  user=""
  # A remote director's configuration runs as nobody, as on a CI runner.
  case $dir in */remote) user="setpriv --reuid=65534 --regid=65534 --clear-groups" ;; esac
  (cd "$dir" && LVSFORM_LOG=debug ip netns exec "$ns" $user "$bin" "$@" --no-color)
}
timed_lvsform() { # like lvsform_in; keeps the debug output for rss()
  t=$(seconds lvsform_in "$@")
  cat /tmp/bench.out >>/tmp/bench.rss
  echo "$t"
}

# A director reached over SSH: an sshd on the loopback of namespace NS.
mkdir -p /tmp/bench-ssh /run/sshd
ssh-keygen -q -t ed25519 -N '' -f /tmp/bench-ssh/host_key
ssh-keygen -q -t ed25519 -N '' -f /tmp/bench-ssh/id_ed25519
chmod 0644 /tmp/bench-ssh/id_ed25519
echo "127.0.0.1 $(cut -d' ' -f1,2 /tmp/bench-ssh/host_key.pub)" >/tmp/bench-ssh/known_hosts
cat >/tmp/bench-ssh/sshd_config <<CONF
ListenAddress 127.0.0.1
HostKey /tmp/bench-ssh/host_key
AuthorizedKeysFile /tmp/bench-ssh/id_ed25519.pub
PidFile none
PermitRootLogin prohibit-password
StrictModes no
UsePAM no
KexAlgorithms curve25519-sha256
CONF
sshd_in() { ip netns exec "$1" /usr/sbin/sshd -f /tmp/bench-ssh/sshd_config; }

for size in "$@"; do
  dir=/lab/bench/$size
  echo "== $size destinations"
  restore="" save=""
  for i in $(seq $RUNS); do
    fresh "ipvsadm-$size-$i"
    restore="$restore $(seconds sh -c "ip netns exec ipvsadm-$size-$i ipvsadm -R < $dir/rules")"
    save="$save $(seconds ip netns exec "ipvsadm-$size-1" ipvsadm -Sn)"
  done
  restore=$(echo "$restore" | best)
  save=$(echo "$save" | best)
  echo "ipvsadm -R ${restore} s, ipvsadm -Sn ${save} s"
  for shape in $SHAPES; do
    : >/tmp/bench.rss
    apply=""
    for i in $(seq $RUNS); do
      fresh "$shape-$size-$i"
      apply="$apply $(timed_lvsform "$shape-$size-$i" "$dir/$shape" apply --auto-approve)"
    done
    apply=$(echo "$apply" | best)
    echo "$shape: apply from empty ${apply} s = $(ratio "$apply" "$restore")x ipvsadm -R (goal <= 0.25), peak RSS $(rss) MiB"

    : >/tmp/bench.rss
    noop=""
    for i in $(seq $RUNS); do
      noop="$noop $(timed_lvsform "$shape-$size-1" "$dir/$shape" plan --detailed-exitcode)"
    done
    noop=$(echo "$noop" | best)
    echo "$shape: no-op plan ${noop} s = $(ratio "$noop" "$save")x ipvsadm -Sn (goal <= 1.0), peak RSS $(rss) MiB"

    : >/tmp/bench.rss
    one=""
    for i in $(seq $RUNS); do
      # Alternately 9 and 1: every run changes exactly one weight.
      weight=1
      [ $((i % 2)) = 1 ] && weight=9
      one="$one $(timed_lvsform "$shape-$size-1" "$dir/$shape" apply --auto-approve --var first_weight=$weight)"
    done
    one=$(echo "$one" | best)
    requests=$(sed -n 's/.*steps, \([0-9]*\) of them IPVS changes.*/\1/p' /tmp/bench.rss | sort -u | tr '\n' ' ')
    echo "$shape: one weight change ${one} s = $(ratio "$one" "$noop")x the no-op plan (goal <= 1.2), IPVS requests per run: ${requests}, peak RSS $(rss) MiB"
  done
  sshd_in "for_each-$size-1"
  : >/tmp/bench.rss
  here="" remote=""
  # Local and remote runs alternate: the VM's speed drifts (TCG on a shared host), and a
  # ratio of runs minutes apart would measure the drift. The weight the last weight change
  # left makes both no-op plans.
  for i in $(seq $PAIRS); do
    here="$here $(seconds lvsform_in "for_each-$size-1" "$dir/for_each" plan --detailed-exitcode --var first_weight=$weight)"
    remote="$remote $(timed_lvsform "for_each-$size-1" "$dir/remote" plan --detailed-exitcode --var first_weight=$weight)"
  done
  here=$(echo "$here" | best)
  remote=$(echo "$remote" | best)
  echo "remote director (SSH, loopback): no-op plan ${remote} s = $(ratio "$remote" "$here")x the local one run alternately, ${here} s (goal <= 1.5), peak RSS $(rss) MiB"

  # This build beside a baseline build (LVSFORM_BASELINE), each run right after the
  # other, each on tables of its own: the ratio this build / the baseline.
  [ -x /usr/bin/lvsform-baseline ] || continue
  for shape in $SHAPES; do
    line="$shape, this build / the baseline:"
    for step in apply noop one; do
      times_new="" times_old=""
      for i in $(seq $RUNS); do
        weight=1
        [ $((i % 2)) = 1 ] && weight=9
        for build in new old; do
          bin=lvsform
          [ $build = old ] && bin=lvsform-baseline
          ns="$shape-$size-$build"
          case $step in
            apply) fresh "$ns-$i" && t=$(seconds lvsform_in "$ns-$i" "$dir/$shape" apply --auto-approve) ;;
            noop) t=$(seconds lvsform_in "$ns-1" "$dir/$shape" plan --detailed-exitcode --var first_weight=1) ;;
            one) t=$(seconds lvsform_in "$ns-1" "$dir/$shape" apply --auto-approve --var first_weight=$weight) ;;
          esac
          if [ $build = new ]; then times_new="$times_new $t"; else times_old="$times_old $t"; fi
        done
      done
      new=$(echo "$times_new" | best)
      old=$(echo "$times_old" | best)
      line="$line $step ${new} s / ${old} s = $(ratio "$new" "$old")x;"
    done
    echo "$line"
  done
  bin=lvsform
done
