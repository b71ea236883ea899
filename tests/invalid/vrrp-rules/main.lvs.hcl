director "lb1" {
  ssh {
    host = "10.1.0.1"
  }
  interface = "eth0"
  vrrp {
    priority = 150
  }
  sync_daemon {
    state     = "master"
    interface = "eth0"
  }
}

director "lb2" {
  ssh {
    host = "10.1.0.2"
  }
  vrrp {
    priority = 150
  }
}

vrrp {
  virtual_router_id = 51
  advert_interval   = "500ms"
  unicast           = true
  sync_connections  = true
}

virtual_server "web" {
  vip  = "203.0.113.10"
  port = 80
  real_server "a" {
    address = "10.1.0.11"
  }
}

director "lb3" {
  ssh {
    host = "10.1.0.3"
  }
  interface = "eth0"
  vrrp {
    priority = 300
  }
}
