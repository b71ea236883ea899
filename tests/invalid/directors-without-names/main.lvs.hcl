director {
  interface = "eth0"
}

virtual_server "web" {
  vip       = "203.0.113.10"
  port      = 80
  directors = ["lb1"]

  real_server "a" {
    address = "10.1.0.11"
    manage  = false
  }
}
