variable "vip" {
  type = string
}

virtual_server "web" {
  vip  = var.vip
  port = 80
}
