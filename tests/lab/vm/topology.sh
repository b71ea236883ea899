# The lab network, inside the VM (sourced). The VM's root namespace is the router between
# the client network and the server LAN; director and real servers share one bridged L2
# segment, as LVS-DR needs; the client is never on the servers' subnet.
#
#   client 192.0.2.10 --- 192.0.2.1 [router] 10.1.0.254 --- lan0 bridge
#                                                              |-- director eth0 10.1.0.1
#                                                              |-- rs1 eth0 10.1.0.11
#                                                              |-- rs2 eth0 10.1.0.12
#                                                              `-- rs3 eth0 10.1.0.13
# The router finds the VIPs (203.0.113.0/24) on the LAN by ARP. Each real server runs an HTTP
# server answering its own name (port 80, and 8080 for NAT port mapping) and sshd on its
# address with its own host key; /lab/ssh holds the client key and known_hosts.
VIP=203.0.113.10
DIP=10.1.0.1
ROUTER_LAN=10.1.0.254
SERVERS="rs1 rs2 rs3"

rip() { echo "10.1.0.1${1#rs}"; }
in_ns() { ns=$1; shift; ip netns exec "$ns" "$@"; }

topology_up() {
  sysctl -qw net.ipv4.ip_forward=1
  ip link add lan0 type bridge
  ip link set lan0 up
  ip addr add "$ROUTER_LAN/24" dev lan0
  # The VIPs are on-link: the router asks ARP who holds a VIP, and only the director may
  # answer (DR and TUN real servers hold it too, silently).
  ip route add 203.0.113.0/24 dev lan0

  ip netns add client
  ip link add r-client type veth peer name eth0 netns client
  ip addr add 192.0.2.1/24 dev r-client
  ip link set r-client up
  in_ns client ip addr add 192.0.2.10/24 dev eth0
  in_ns client ip link set eth0 up
  in_ns client ip link set lo up
  in_ns client ip route add default via 192.0.2.1

  for host in director $SERVERS; do
    ip netns add "$host"
    ip link add "l-$host" type veth peer name eth0 netns "$host"
    ip link set "l-$host" master lan0 up
    in_ns "$host" ip link set lo up
    in_ns "$host" ip link set eth0 up
  done
  in_ns director ip addr add "$DIP/24" dev eth0
  in_ns director ip route add default via "$ROUTER_LAN"

  mkdir -p /lab/ssh /run/sshd
  ssh-keygen -q -t ed25519 -N '' -f /lab/ssh/id_ed25519
  : >/lab/ssh/known_hosts
  for host in $SERVERS; do
    addr=$(rip "$host")
    in_ns "$host" ip addr add "$addr/24" dev eth0
    in_ns "$host" ip route add default via "$ROUTER_LAN"
    mkdir -p "/srv/$host/www"
    echo "$host" >"/srv/$host/www/index.html"
    in_ns "$host" httpd -p 80 -h "/srv/$host/www"
    in_ns "$host" httpd -p 8080 -h "/srv/$host/www"
    sshd_files "$host" "$addr" "/run/sshd-$host.pid"
    start_sshd "$host"
    echo "$addr $(cut -d' ' -f1,2 "/srv/$host/ssh/host_key.pub")" >>/lab/ssh/known_hosts
  done
}

# Starts a real server's sshd in a mount namespace of its own, where /etc/sysctl.d is
# private: lvsform's persistence files stay per host. Shell commands to run first (e.g.
# to make /proc/sys read-only) may follow the host name.
start_sshd() {
  host=$1
  shift
  in_ns "$host" unshare -m sh -c "mount -t tmpfs tmpfs /etc/sysctl.d && $* exec /usr/sbin/sshd -f /srv/$host/ssh/sshd_config"
}

# Prints the name of the real server that answered each of COUNT HTTP requests to ADDR
# (port 80), one line each. (Debian's busybox wget crashes; nc speaks HTTP/1.0 fine.)
fetch() { # fetch ADDR COUNT [PORT]
  addr=$1
  count=$2
  port=${3:-80}
  i=0
  while [ "$i" -lt "$count" ]; do
    body=$(printf 'GET / HTTP/1.0\r\n\r\n' | in_ns client nc -w 3 "$addr" "$port" 2>/dev/null | tail -1)
    echo "${body:-(no answer)}"
    i=$((i + 1))
  done
}

# True when COUNT requests to ADDR (port PORT) were answered by every real server.
all_servers_answer() { # all_servers_answer ADDR [COUNT] [PORT]
  answers=$(fetch "$1" "${2:-6}" "${3:-80}")
  echo "$answers" | tr '\n' ' '
  echo
  for host in $SERVERS; do
    echo "$answers" | grep -qx "$host" || return 1
  done
  ! echo "$answers" | grep -q "no answer"
}

# True when every real server but HOST answered requests to ADDR and HOST never did: a sabotaged server is
# noticed, and only that one.
only_server_missing() {
  addr=$1
  missing=$2
  answers=$(fetch "$addr" 6)
  echo "$answers" | tr '\n' ' '
  echo
  for host in $SERVERS; do
    if [ "$host" = "$missing" ]; then
      echo "$answers" | grep -qx "$host" && return 1
    else
      echo "$answers" | grep -qx "$host" || return 1
    fi
  done
  return 0
}

# IPVS counters of the first TCP service in the director: "CONNS INPKTS OUTPKTS".
tcp_counters() { in_ns director ipvsadm -Ln --stats | awk '/^TCP/ {print $3, $4, $5; exit}'; }

# Writes /srv/NAME/ssh: a host key, the lab's key as the one authorized, and an
# sshd_config that listens on ADDRESS and keeps its pid in PIDFILE.
sshd_files() { # sshd_files NAME ADDRESS PIDFILE
  mkdir -p "/srv/$1/ssh"
  ssh-keygen -q -t ed25519 -N '' -f "/srv/$1/ssh/host_key"
  cp /lab/ssh/id_ed25519.pub "/srv/$1/ssh/authorized_keys"
  cat >"/srv/$1/ssh/sshd_config" <<CONF
ListenAddress $2
HostKey /srv/$1/ssh/host_key
AuthorizedKeysFile /srv/$1/ssh/authorized_keys
PidFile $3
PermitRootLogin prohibit-password
StrictModes no
UsePAM no
KexAlgorithms curve25519-sha256
CONF
}

# One more host namespace NAME on the LAN, at ADDRESS, the router its gateway.
lan_host() { # lan_host NAME ADDRESS
  ip netns add "$1"
  ip link add "l-$1" type veth peer name eth0 netns "$1"
  ip link set "l-$1" master lan0 up
  in_ns "$1" ip link set lo up
  in_ns "$1" ip link set eth0 up
  in_ns "$1" ip addr add "$2/24" dev eth0
  in_ns "$1" ip route add default via "$ROUTER_LAN"
}

# The CI runner: namespace `runner` (10.1.0.50) where user `ci` runs lvsform with the
# lab's key and the real servers' host keys (add the directors' to
# /home/ci/.ssh/known_hosts).
runner_up() {
  lan_host runner 10.1.0.50
  echo 'ci:x:1000:1000:ci:/home/ci:/bin/sh' >>/etc/passwd
  echo 'ci:x:1000:' >>/etc/group
  mkdir -p /home/ci/.ssh
  cp /lab/ssh/id_ed25519 /lab/ssh/known_hosts /home/ci/.ssh/
  chown -R 1000:1000 /home/ci
}
as_ci() { in_ns runner env HOME=/home/ci setpriv --reuid=1000 --regid=1000 --clear-groups "$@"; }
