virtual_sever "web" {
  vip  = "203.0.113.10"
  port = 80
}
