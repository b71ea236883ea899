virtual_server "web" {
  vip  = "203.0.113.10"
  port = 80
  mode = "nat"
  real_server "keep" {
    for_each = ["10.1.0.11", "10.1.0.12", "10.1.0.13"]
    address  = each.value
  }
}

virtual_server "dns" {
  protocol = "udp"
  vip      = "203.0.113.53"
  port     = 53
  mode     = "nat"
  real_server "ns" {
    for_each = ["10.1.0.21", "10.1.0.22"]
    address  = each.value
  }
}
