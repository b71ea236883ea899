virtual_server "web" {
  vip  = "203.0.113.10"
  port = 80
  mode = "nat"
  real_server "a" {
    address = "10.1.0.11"
  }
}
