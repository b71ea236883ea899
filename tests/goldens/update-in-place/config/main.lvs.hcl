virtual_server "web" {
  vip       = "203.0.113.10"
  port      = 80
  mode      = "nat"
  scheduler = "wlc"
  real_server "a" {
    address = "10.1.0.11"
    weight  = 5
  }
  real_server "b" {
    address = "10.1.0.12"
    weight  = 0
  }
}
