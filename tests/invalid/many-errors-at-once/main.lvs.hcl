virtual_server "web" {
  vip       = "203.0.113.999"
  port      = 0
  scheduler = "fast"
  real_server "a" {
    address = "10.1.0.11"
    weight  = -1
  }
}
