# Beside examples/ha-pair (tests/lab/vm/faults.sh): 200 services of 40 unmanaged real
# servers each on both directors, their weight a variable, so that a new weight is 8,000
# changes on each director — two batches, seconds on lb2 behind its slowed link.
variable "big_weight" {
  type    = number
  default = 1
}

locals {
  big_servers = { for j in range(40) : format("r%02d", j) => cidrhost("10.2.0.0/24", j + 1) }
}

virtual_server "big" {
  for_each  = { for i in range(200) : format("p%03d", i) => 10000 + i }
  vip       = "203.0.113.10"
  port      = each.value
  mode      = "dr"
  scheduler = "wrr"

  real_server "r" {
    for_each = local.big_servers
    address  = each.value
    weight   = var.big_weight
    manage   = false
  }
}
