# Two LVS-DR directors in front of the same real servers (active/backup, or both active
# behind ECMP). lvsform runs anywhere — a CI runner, as an ordinary user — and reaches
# both over SSH, where the same lvsform version is installed. One plan covers both; apply
# prepares the real servers once, then changes lb1, checks it, then lb2.
#
# Both directors get the same services in the same order of real servers, so that sh and
# mh (hashing schedulers) send a client to the same real server whichever director it
# reaches — a failover moves no client.

variable "servers" {
  type        = map(number)
  description = "real servers on the LAN and their weights"
  default     = {
    "10.1.0.11" = 3
    "10.1.0.12" = 2
    "10.1.0.13" = 1
  }
}

director "lb1" {
  # Each director holds the VIPs on its LAN interface. When keepalived owns the VIPs
  # (VRRP moves them between the directors), leave `interface` out: lvsform then never
  # touches the directors' addresses.
  interface = "eth0"
  dip       = "10.1.0.1"
  # Connections to a deleted real server are expired at once, not left to time out; a
  # director that takes over the VIP keeps the connections the other one started.
  sysctl = {
    "net.ipv4.vs.expire_nodest_conn" = 1
    "net.ipv4.vs.sloppy_tcp"         = 1
  }
  ssh {
    host = "10.1.0.1"
  }
}

director "lb2" {
  interface = "eth0"
  dip       = "10.1.0.2"
  sysctl    = {
    "net.ipv4.vs.expire_nodest_conn" = 1
    "net.ipv4.vs.sloppy_tcp"         = 1
  }
  ssh {
    host = "10.1.0.2"
  }
}

# For the directors and the real servers alike.
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
  drain     = "30s"

  real_server "web" {
    for_each = var.servers
    address  = each.key
    weight   = each.value
  }
}

# A cache: maglev hashing keeps each client on one real server, on either director.
virtual_server "cache" {
  vip       = "203.0.113.11"
  port      = 8080
  mode      = "dr"
  scheduler = "mh"
  drain     = "30s"

  real_server "cache" {
    for_each = var.servers
    address  = each.key
  }
}
