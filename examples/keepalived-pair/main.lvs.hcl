# Two DR directors under keepalived: VRRP moves the VIPs to lb2 when lb1 fails, keepalived
# checks the web servers, and lvsform plans both parts from this file (SPEC §8, §10).
#
# On each director keepalived runs with a keepalived.conf that includes lvsform's file
# (`include /etc/keepalived/lvsform.conf`); lvsform reloads it, and never starts it.
#
# What a takeover keeps:
#   - established connections, when the backup knows them: `sync_connections` runs
#     keepalived's sync daemon (the master sends its connections to the backup);
#   - connections the backup did not hear of yet (younger than the sync's ~2 s), with
#     net.ipv4.vs.sloppy_tcp = 1 on both: the new master picks them up mid-stream, and
#     sends each to the server its scheduler picks — the same one only for mh (or sh)
#     services whose real servers are in the same order on both directors, which lvsform
#     keeps (docs/hashing.md).
# What it cannot keep: connections the new master sends elsewhere (wrr with sloppy_tcp and
# no sync), and whatever was in flight during the ~3 advertisement intervals it takes to
# notice a master that vanished without a word (link down).

variable "servers" {
  type    = map(number)
  default = {
    "10.1.0.11" = 3
    "10.1.0.12" = 2
    "10.1.0.13" = 1
  }
}

variable "lb1_priority" {
  type    = number
  default = 150
}

director "lb1" {
  interface = "eth0"
  dip       = "10.1.0.1"
  sysctl    = { "net.ipv4.vs.sloppy_tcp" = 1 }
  vrrp {
    priority = var.lb1_priority
  }
  ssh {
    host = "10.1.0.1"
  }
}

director "lb2" {
  interface = "eth0"
  dip       = "10.1.0.2"
  sysctl    = { "net.ipv4.vs.sloppy_tcp" = 1 }
  vrrp {
    priority = 100
  }
  ssh {
    host = "10.1.0.2"
  }
}

vrrp {
  virtual_router_id = 51
  advert_interval   = "1s"
  sync_connections  = true
}

ssh {
  user        = "root"
  private_key = "~/.ssh/id_ed25519"
  known_hosts = "~/.ssh/known_hosts"
}

virtual_server "web" {
  vip       = "203.0.113.10"
  port      = 80
  mode      = "dr"
  scheduler = "wrr"

  health_check {
    http {
      path = "/"
    }
    interval = "1s"
    timeout  = "1s"
    retries  = 1
  }

  real_server "web" {
    for_each = var.servers
    address  = each.key
    weight   = each.value
  }
}

# mh: both directors map a client to the same real server, so a takeover keeps even the
# connections the sync has not carried yet (with sloppy_tcp).
virtual_server "echo" {
  vip       = "203.0.113.10"
  port      = 7
  mode      = "dr"
  scheduler = "mh"

  real_server "echo" {
    for_each = { for a in ["10.1.0.11", "10.1.0.12", "10.1.0.13"] : a => a }
    address  = each.key
  }
}
