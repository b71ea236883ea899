virtual_server "web" {
  vip  = lowr("203.0.113.10")
  port = 80
}
