virtual_server "web" {
  vip       = "203.0.113.10"
  port      = 80
  mode      = "nat"
  scheduler = "rr"
  real_server "a" {
    address = "10.1.0.11"
  }
  real_server "b" {
    address = "10.1.0.12"
  }
}
