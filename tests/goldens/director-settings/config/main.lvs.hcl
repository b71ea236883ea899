# Director-wide settings: IPVS timeouts, the sync daemon (backup becomes master), an extra
# sysctl, and the director's VIPs (the retired service's VIP goes last).
director {
  interface = "eth0"
  sysctl = {
    "net.ipv4.vs.expire_nodest_conn" = 1
  }
  timeouts {
    tcp = 600
  }
  sync_daemon {
    state     = "master"
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
