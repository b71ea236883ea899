virtual_server "web" {
  vip   = "203.0.113.10"
  port  = 80
  drain = "60 seconds"
}
