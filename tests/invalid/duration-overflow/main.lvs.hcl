virtual_server "web" {
  vip   = "203.0.113.10"
  port  = 80
  drain = "10000000000000000000s10000000000000000000s"
  real_server "a" {
    address = "10.1.0.11"
  }
}
