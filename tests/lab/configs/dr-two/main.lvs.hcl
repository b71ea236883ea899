# examples/dr without rs3 (10.1.0.13): removing it drains its connections first.

director {
  interface = "eth0"
  dip       = "10.1.0.1"
}

virtual_server "web" {
  vip       = "203.0.113.10"
  port      = 80
  mode      = "dr"
  scheduler = "wrr"
  drain     = "40s"

  real_server "web" {
    for_each = { "10.1.0.11" = 3, "10.1.0.12" = 2 }
    address  = each.key
    weight   = each.value
  }
}
