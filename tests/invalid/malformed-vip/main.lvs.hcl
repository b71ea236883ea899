virtual_server "web" {
  vip  = "203.0.113.300"
  port = 80
}
