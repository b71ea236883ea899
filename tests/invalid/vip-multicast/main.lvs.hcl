virtual_server "web" {
  vip  = "224.0.0.5"
  port = 80
  real_server "a" {
    address = "10.1.0.11"
  }
}
