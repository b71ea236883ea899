# configs/tun, with lvsform allowed to open the real servers' firewalls to IP-in-IP.

director {
  interface = "eth0"
  dip       = "10.1.0.1"
}

virtual_server "web" {
  vip       = "203.0.113.10"
  port      = 80
  mode      = "tun"
  scheduler = "rr"

  real_server "web" {
    for_each        = ["10.1.0.11", "10.1.0.12", "10.1.0.13"]
    address         = each.value
    manage_firewall = true
  }
}
