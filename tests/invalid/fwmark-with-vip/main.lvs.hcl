virtual_server "web" {
  fwmark = 3
  vip    = "203.0.113.10"
}
