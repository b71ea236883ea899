# Probes at apply in the lab (tests/lab/vm/probes.sh): a DR, a TUN and a NAT service,
# each with a probe. Real servers in `*_by_hand` are declared `manage = false`: lvsform
# does not prepare them, and only the probe through the VIP can tell whether someone did.

variable "dr" {
  type    = map(number)
  default = { "10.1.0.11" = 1, "10.1.0.12" = 1 }
}
variable "dr_by_hand" {
  type    = map(number)
  default = {}
}
variable "tun" {
  type    = map(number)
  default = { "10.1.0.11" = 1, "10.1.0.12" = 1 }
}
variable "tun_by_hand" {
  type    = map(number)
  default = {}
}
variable "nat" {
  type    = map(number)
  default = { "10.1.0.11" = 1, "10.1.0.12" = 1 }
}
variable "timeout" {
  type    = string
  default = "2s"
}

director {
  interface = "eth0"
  dip       = "10.1.0.1"
}

ssh {
  user        = "root"
  private_key = "~/.ssh/id_ed25519"
  known_hosts = "~/.ssh/known_hosts"
}

virtual_server "web" {
  vip  = "203.0.113.10"
  port = 80
  mode = "dr"
  probe {
    http {
      path = "/index.html"
    }
    timeout = var.timeout
  }
  real_server "dr" {
    for_each = var.dr
    address  = each.key
    weight   = each.value
  }
  real_server "by_hand" {
    for_each = var.dr_by_hand
    address  = each.key
    weight   = each.value
    manage   = false
  }
}

virtual_server "tunnel" {
  vip  = "203.0.113.11"
  port = 80
  mode = "tun"
  probe {
    tcp {}
    timeout = var.timeout
  }
  real_server "tun" {
    for_each = var.tun
    address  = each.key
    weight   = each.value
  }
  real_server "by_hand" {
    for_each = var.tun_by_hand
    address  = each.key
    weight   = each.value
    manage   = false
  }
}

virtual_server "nat" {
  vip  = "203.0.113.12"
  port = 80
  mode = "nat"
  probe {
    http {
      path = "/index.html"
    }
    timeout = var.timeout
  }
  real_server "nat" {
    for_each = var.nat
    address  = each.key
    port     = 8080
    weight   = each.value
  }
}
