virtual_server "web" {
  for_each = 3
  vip      = "203.0.113.10"
  port     = 80
}
