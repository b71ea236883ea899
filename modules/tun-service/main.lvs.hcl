# One IP-in-IP tunnel service: real servers get ipip, tunl0 and the VIP on tunl0 over SSH.

virtual_server "main" {
  protocol  = var.protocol
  vip       = var.vip
  port      = var.port
  mode      = "tun"
  scheduler = var.scheduler

  real_server "server" {
    for_each = var.servers
    address  = each.value
    weight   = lookup(var.weights, each.key, 1)
  }
}
