# LVS-TUN (IP tunnelling): the director wraps each request in an IP-in-IP packet and sends
# it to the real server, which may be anywhere routable (another rack, another site). The
# server unwraps it and answers the client directly, like DR.
#
# lvsform prepares each real server over SSH: loads the `ipip` module, brings
# `tunl0` up, puts the VIP on tunl0 as /32, turns rp_filter off for tunl0 and all (the
# decapsulated packet arrives on tunl0 but its source is routed elsewhere), and sets
# arp_ignore/arp_announce so a server on the VIP's LAN never claims the VIP.
# The real server's firewall must accept IP protocol 4 (IP-in-IP).

director {
  interface = "eth0"
}

virtual_server "dns" {
  protocol   = "udp"
  vip        = "203.0.113.53"
  port       = 53
  mode       = "tun" # ipvsadm -i
  scheduler  = "rr"
  one_packet = true # schedule each UDP datagram on its own (ipvsadm -o)

  real_server "ns1" {
    address = "198.51.100.21" # a remote site: TUN does not need a shared LAN
  }
  real_server "ns2" {
    address = "198.51.100.22"
    # With `manage_firewall`, lvsform adds a rule accepting IP-in-IP when the host's
    # firewall would drop it, instead of failing the plan.
    manage_firewall = true
  }
}

virtual_server "web" {
  vip       = "203.0.113.80"
  port      = 443
  mode      = "tun"
  scheduler = "lc"

  real_server "edge" {
    address = "198.51.100.31"
    # Newer kernels can encapsulate in UDP (GUE) so the packets cross NAT and ECMP well.
    tunnel {
      type = "gue"
      port = 6080
    }
  }
}
