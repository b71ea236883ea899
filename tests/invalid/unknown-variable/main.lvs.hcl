variable "vip" {
  default = "203.0.113.10"
}

virtual_server "web" {
  vip  = var.vpi
  port = 80
}
