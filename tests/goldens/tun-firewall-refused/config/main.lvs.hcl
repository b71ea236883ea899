# The real server's firewall drops IP-in-IP and lvsform may not change it: the plan fails.
virtual_server "web" {
  vip  = "203.0.113.30"
  port = 80
  mode = "tun"
  real_server "a" {
    address = "10.1.0.31"
  }
}
