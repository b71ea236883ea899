virtual_server {
  vip  = "203.0.113.10"
  port = 80
}
