locals {
  n = 0
}

virtual_server "web" {
  vip  = "203.0.113.10"
  port = 80 / local.n
}
