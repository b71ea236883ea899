virtual_server "web" {
  vip  = "0.0.0.0"
  port = 80
  real_server "a" {
    address = "10.1.0.11"
  }
}
