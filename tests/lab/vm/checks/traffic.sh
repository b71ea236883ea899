# The lab itself: real traffic through a VIP in NAT, DR and TUN, set up with ipvsadm and
# iproute2 (sourced by /lab/kernel.sh). Each mode is also broken on purpose once, to prove
# that the checks notice a real server that is not prepared.
. /lab/topology.sh
topology_up

ssh_reaches_servers() {
  for host in $SERVERS; do
    [ "$(in_ns director ssh -i /lab/ssh/id_ed25519 -o UserKnownHostsFile=/lab/ssh/known_hosts \
      -o StrictHostKeyChecking=yes -o BatchMode=yes "root@$(rip "$host")" cat /proc/sys/kernel/hostname)" ] || return 1
  done
}
check lab_sshd_on_every_real_server ssh_reaches_servers

# DR: the VIP on the director's LAN interface; real servers hold it on lo and stay silent
# in ARP. Replies go server -> router -> client, never through the director.
in_ns director ip addr add "$VIP/32" dev eth0
in_ns director ipvsadm -A -t "$VIP:80" -s rr
for host in $SERVERS; do
  in_ns director ipvsadm -a -t "$VIP:80" -r "$(rip "$host"):80" -g
  in_ns "$host" ip addr add "$VIP/32" dev lo
  for scope in all lo; do
    in_ns "$host" sysctl -qw "net.ipv4.conf.$scope.arp_ignore=1" "net.ipv4.conf.$scope.arp_announce=2"
  done
done
check dr_traffic_reaches_every_server all_servers_answer "$VIP"
dr_bypasses_director() {
  sleep 2 # the kernel updates the counters every 2 s
  set -- $(tcp_counters)
  echo "conns $1 inpkts $2 outpkts $3"
  [ "${2:-0}" -gt 0 ] && [ "${3:-1}" -eq 0 ]
}
check dr_replies_bypass_the_director dr_bypasses_director
# lvsform reads the same counters as ipvsadm.
counters_agree() {
  set -- $(tcp_counters)
  in_ns director lvsform show --stats | grep -q "^  conns $1  packets in $2 out $3 "
}
check show_stats_match_ipvsadm counters_agree
director_mac=$(in_ns director cat /sys/class/net/eth0/address)
vip_owner_is_director() { ip neigh show "$VIP" | grep -q "$director_mac"; }
check dr_router_sees_the_vip_at_the_director vip_owner_is_director
in_ns rs2 ip addr del "$VIP/32" dev lo
check dr_sabotage_is_detected only_server_missing "$VIP" rs2
in_ns rs2 ip addr add "$VIP/32" dev lo

# TUN: IP-in-IP to each server; tunl0 holds the VIP, rp_filter off.
in_ns director ipvsadm -C
in_ns director ipvsadm -A -t "$VIP:80" -s rr
for host in $SERVERS; do
  in_ns director ipvsadm -a -t "$VIP:80" -r "$(rip "$host"):80" -i
  in_ns "$host" ip addr del "$VIP/32" dev lo
  in_ns "$host" ip link set tunl0 up
  in_ns "$host" ip addr add "$VIP/32" dev tunl0
  in_ns "$host" sysctl -qw net.ipv4.conf.tunl0.rp_filter=0 net.ipv4.conf.all.rp_filter=0
done
check tun_traffic_reaches_every_server all_servers_answer "$VIP"
tunnel_used() { [ "$(in_ns rs1 cat /sys/class/net/tunl0/statistics/rx_packets)" -gt 0 ]; }
check tun_packets_arrive_on_tunl0 tunnel_used
in_ns rs3 ip link set tunl0 down
check tun_sabotage_is_detected only_server_missing "$VIP" rs3
in_ns rs3 ip link set tunl0 up

# NAT: port mapping 80 -> 8080; the servers' default route is the director, which
# forwards the replies back (they visibly pass it: OutPkts > 0).
in_ns director ipvsadm -C
in_ns director sysctl -qw net.ipv4.ip_forward=1
in_ns director ipvsadm -A -t "$VIP:80" -s rr
for host in $SERVERS; do
  in_ns director ipvsadm -a -t "$VIP:80" -r "$(rip "$host"):8080" -m
  in_ns "$host" ip addr del "$VIP/32" dev tunl0
  in_ns "$host" ip route replace default via "$DIP"
done
check nat_traffic_reaches_every_server all_servers_answer "$VIP"
nat_through_director() {
  sleep 2
  set -- $(tcp_counters)
  echo "conns $1 inpkts $2 outpkts $3"
  [ "${3:-0}" -gt 0 ]
}
check nat_replies_pass_the_director nat_through_director
in_ns rs1 ip route replace default via "$ROUTER_LAN"
check nat_sabotage_is_detected only_server_missing "$VIP" rs1
