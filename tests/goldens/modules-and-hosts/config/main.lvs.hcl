module "api" {
  source  = "../../../../modules/dr-service"
  vip     = "203.0.113.11"
  port    = 443
  servers = { api1 = "10.1.0.21", api2 = "10.1.0.22" }
}

module "edge" {
  for_each = { eu = "203.0.113.21" }
  source   = "../../../../modules/tun-service"
  vip      = each.value
  port     = 443
  servers  = { "${each.key}-1" = "10.1.0.41" }
}
