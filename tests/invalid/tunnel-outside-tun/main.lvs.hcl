virtual_server "web" {
  vip  = "203.0.113.10"
  port = 80
  mode = "dr"
  real_server "a" {
    address = "10.1.0.11"
    tunnel {
      type = "gue"
      port = 6080
    }
  }
}
