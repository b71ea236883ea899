virtual_server "web" {
  vip  = "255.255.255.255"
  port = 80
  real_server "a" {
    address = "10.1.0.11"
  }
}
