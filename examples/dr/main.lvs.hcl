# LVS-DR (direct routing): the director only rewrites the destination MAC address and puts
# the packet back on the LAN; the real server answers the client directly. Replies never
# pass the director, so one director can front a lot of bandwidth.
#
# Requirements that lvsform sets up on every real server over SSH:
#   - the VIP as /32 on `lo`, so the server accepts packets addressed to the VIP;
#   - arp_ignore = 1 and arp_announce = 2 (all and lo), so the server never answers ARP
#     for the VIP: only the director may own it on the LAN.
# Director and real servers must share one L2 segment; ports cannot be mapped.

variable "vip" {
  type        = string
  default     = "203.0.113.10"
  description = "the address clients connect to"
}

variable "servers" {
  type        = map(number)
  description = "real servers on the LAN and their weights"
  default     = {
    "10.1.0.11" = 3
    "10.1.0.12" = 2
    "10.1.0.13" = 1
  }
}

director {
  # The director answers ARP for the VIP on its LAN interface.
  interface = "eth0"
  dip       = "10.1.0.1"
}

ssh {
  user        = "root"
  private_key = "~/.ssh/id_ed25519"
  known_hosts = "~/.ssh/known_hosts" # unknown or changed host keys are refused
  parallelism = 16
  timeout     = "10s"
}

virtual_server "web" {
  vip       = var.vip
  port      = 80
  mode      = "dr"  # ipvsadm -g: gatewaying
  scheduler = "wrr" # weighted round robin: 3:2:1 below
  drain     = "30s" # a removed server gets weight 0 and up to 30s to finish its connections

  real_server "web" {
    for_each = var.servers
    address  = each.key
    weight   = each.value
  }
}
