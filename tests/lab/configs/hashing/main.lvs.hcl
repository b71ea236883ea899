# A hashing service for the lab's sh/mh checks (tests/lab/vm/hashing.sh): NAT, so that
# the real servers need nothing but their route via the director.
variable "scheduler" {
  type    = string
  default = "mh"
}

variable "servers" {
  type    = list(string)
  default = ["10.1.0.11", "10.1.0.12", "10.1.0.13"]
}

director {
  interface = "eth0"
  dip       = "10.1.0.1"
}

virtual_server "hash" {
  vip       = "203.0.113.10"
  port      = 80
  mode      = "nat"
  scheduler = var.scheduler
  drain     = "90s"
  real_server "node" {
    for_each = var.servers
    address  = each.value
    manage   = false
  }
}
