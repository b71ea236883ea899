# lb1's priority goes below lb2's: the VIP moves from lb1 to lb2, and each director's
# keepalived file changes its VRRP instance.
director "lb1" {
  interface = "eth0"
  dip       = "10.1.0.1"
  sysctl    = { "net.ipv4.vs.sloppy_tcp" = 1 }
  vrrp {
    priority = 50
  }
  ssh {
    host = "10.1.0.1"
  }
}

director "lb2" {
  interface = "eth0"
  dip       = "10.1.0.2"
  sysctl    = { "net.ipv4.vs.sloppy_tcp" = 1 }
  vrrp {
    priority = 100
  }
  ssh {
    host = "10.1.0.2"
  }
}

vrrp {
  virtual_router_id = 51
  unicast           = true
}

virtual_server "web" {
  vip  = "203.0.113.10"
  port = 80
  mode = "dr"
  real_server "a" {
    address = "10.1.0.11"
    manage  = false
  }
}
