# One direct-routing service: every real server gets the VIP on `lo` and the ARP settings
# over SSH (the root configuration's `ssh` block says how to log in).

virtual_server "main" {
  protocol  = var.protocol
  vip       = var.vip
  port      = var.port
  mode      = "dr"
  scheduler = var.scheduler

  real_server "server" {
    for_each = var.servers
    address  = each.value
    weight   = lookup(var.weights, each.key, 1)
  }
}
