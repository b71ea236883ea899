director {
  interface = "eth0"
}

virtual_server "web" {
  vip       = "203.0.113.10"
  port      = 80
  mode      = "dr"
  scheduler = "wrr"
  real_server "web1" {
    address = "10.1.0.11"
    weight  = 2
  }
}
