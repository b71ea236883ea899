virtual_server "web" {
  protocol = "icmp"
  vip      = "203.0.113.10"
  port     = 80
}
