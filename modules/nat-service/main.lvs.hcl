# One NAT service, optionally mapping the port: clients use `port`, servers `server_port`.

virtual_server "main" {
  protocol  = var.protocol
  vip       = var.vip
  port      = var.port
  mode      = "nat"
  scheduler = var.scheduler

  real_server "server" {
    for_each = var.servers
    address  = each.value
    port     = var.server_port == 0 ? var.port : var.server_port
    weight   = lookup(var.weights, each.key, 1)
  }
}
