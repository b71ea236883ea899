locals {
  a = local.b
  b = local.a
}

virtual_server "web" {
  vip  = local.a
  port = 80
}
