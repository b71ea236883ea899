# Both real servers' firewalls drop by default. The first lets lvsform add a rule for
# IP-in-IP; the second already accepts it.
virtual_server "web" {
  vip  = "203.0.113.30"
  port = 80
  mode = "tun"
  real_server "a" {
    address         = "10.1.0.31"
    manage_firewall = true
  }
  real_server "b" {
    address = "10.1.0.32"
  }
}
