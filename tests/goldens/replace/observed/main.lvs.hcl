virtual_server "web" {
  vip  = "203.0.113.10"
  port = 80
  mode = "nat"
  real_server "a" {
    address = "10.1.0.11"
  }
  real_server "b" {
    address = "10.1.0.12"
  }
}

virtual_server "dns" {
  vip      = "203.0.113.53"
  port     = 53
  protocol = "udp"
  mode     = "nat"
  real_server "ns1" {
    address = "10.1.0.21"
  }
}
