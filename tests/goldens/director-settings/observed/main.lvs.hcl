director {
  interface = "eth0"
  sysctl = {
    "net.ipv4.vs.expire_nodest_conn" = 0
  }
  sync_daemon {
    state     = "backup"
    interface = "eth1"
    syncid    = 3
  }
}

virtual_server "web" {
  vip  = "203.0.113.10"
  port = 80
  real_server "a" {
    address = "10.1.0.11"
    manage  = false
  }
}

virtual_server "old" {
  vip  = "203.0.113.99"
  port = 80
  real_server "a" {
    address = "10.1.0.11"
    manage  = false
  }
}
