virtual_server "web" {
  vip  = vip
  port = 80
}
