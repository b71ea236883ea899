virtual_server "web" {
  vip  = each.value
  port = 80
}
