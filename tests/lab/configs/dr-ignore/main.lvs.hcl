# examples/dr, plus a range of live services that lvsform must leave alone.

director {
  interface = "eth0"
  dip       = "10.1.0.1"
  ignore {
    vips = ["203.0.113.200/32"]
  }
}

virtual_server "web" {
  vip       = "203.0.113.10"
  port      = 80
  mode      = "dr"
  scheduler = "wrr"
  drain     = "30s"

  real_server "web" {
    for_each = { "10.1.0.11" = 3, "10.1.0.12" = 2, "10.1.0.13" = 1 }
    address  = each.key
    weight   = each.value
  }
}
