virtual_server "web" {
  vip  = "203.0.113.30"
  port = 80
  mode = "tun"
  real_server "a" {
    address = "10.1.0.31"
  }
  real_server "b" {
    address = "10.1.0.32"
  }
}
