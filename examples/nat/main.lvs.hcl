# LVS-NAT: the director rewrites the destination of each request (VIP:80 -> RIP:8080) and,
# because the real servers' default route points back at it, rewrites every reply too.
# Real servers need nothing special: any OS, any port, private addresses.
# Cost: every reply passes the director, so it must carry all the traffic.

director {
  # lvsform keeps the VIP as /32 on this interface. For NAT it also sets
  # net.ipv4.ip_forward = 1, which the director needs to route the replies.
  interface = "eth0"
  # The director's address on the real servers' LAN: their default gateway.
  dip = "10.1.0.1"
}

virtual_server "web" {
  protocol  = "tcp"
  vip       = "203.0.113.10"
  port      = 80
  mode      = "nat" # ipvsadm -m: masquerading
  scheduler = "wlc" # weighted least-connection: the usual default

  # NAT is the only mode that can map ports: clients use :80, the servers listen on :8080.
  real_server "app1" {
    address = "10.1.0.11"
    port    = 8080
    # manage = true: lvsform logs in over SSH and checks that the host's default route
    # goes via the director (NAT breaks silently otherwise). Off by default for NAT.
    manage = true
  }
  real_server "app2" {
    address = "10.1.0.12"
    port    = 8080
    manage  = true
  }
  real_server "app3" {
    address = "10.1.0.13"
    port    = 8080
    weight  = 2 # twice the share of the others
    manage  = true
  }
}
