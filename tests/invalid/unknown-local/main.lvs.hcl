locals {
  vip = "203.0.113.10"
}

virtual_server "web" {
  vip  = local.vips
  port = 80
}
