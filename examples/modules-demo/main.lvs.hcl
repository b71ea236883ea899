# Modules keep large sites short: one module per kind of service, called once per service.
# `source` is relative to this file. Module inputs are the module's variables.

locals {
  lan = "10.1.0.0/24"
  # name => host number in the LAN
  api_hosts = { api1 = 21, api2 = 22 }
}

director {
  interface = "eth0"
  dip       = cidrhost(local.lan, 1)
}

module "api" {
  source  = "../../modules/dr-service"
  vip     = "203.0.113.11"
  port    = 443
  servers = { for name, n in local.api_hosts : name => cidrhost(local.lan, n) }
  weights = { api1 = 2 }
}

module "admin" {
  source      = "../../modules/nat-service"
  vip         = "203.0.113.12"
  port        = 80
  server_port = 8080
  servers     = { admin1 = cidrhost(local.lan, 31) }
}

# for_each on a module: one tunnel service per region.
module "edge" {
  for_each = {
    eu = "203.0.113.21"
    us = "203.0.113.22"
  }
  source    = "../../modules/tun-service"
  vip       = each.value
  port      = 443
  scheduler = "rr"
  servers   = { "${each.key}-1" = "198.51.100.${each.key == "eu" ? 41 : 51}" }
}
