# Two named directors: web on both, api on lb2 only. lb1 is new (empty table, no VIP yet);
# lb2 serves web with an old weight and a service nobody declares any more, whose VIP its
# real server still holds. Each director's part comes under director["NAME"], the real
# servers' part once after them.
director "lb1" {
  interface = "eth0"
  dip       = "10.1.0.1"
  sysctl    = { "net.ipv4.vs.sloppy_tcp" = 1 }
  ssh {
    host = "10.1.0.1"
  }
}

director "lb2" {
  interface = "eth0"
  dip       = "10.1.0.2"
  sysctl    = { "net.ipv4.vs.sloppy_tcp" = 1 }
  ssh {
    host = "10.1.0.2"
  }
}

virtual_server "web" {
  vip       = "203.0.113.10"
  port      = 80
  mode      = "dr"
  scheduler = "mh"
  real_server "web1" {
    address = "10.1.0.11"
    weight  = 2
  }
}

virtual_server "api" {
  directors = ["lb2"]
  vip       = "203.0.113.12"
  port      = 443
  mode      = "dr"
  real_server "api1" {
    address = "10.1.0.11"
    port    = 443
  }
}
