# LVS + keepalived: keepalived checks the real servers and takes failing ones out, and
# lvsform plans, applies and verifies keepalived's part beside its own.
#
# A service with a `health_check` is keepalived's: lvsform writes it, with its real
# servers and checks, into /etc/keepalived/lvsform.conf, has keepalived check the file,
# reloads keepalived (SIGHUP) and waits until the table is what keepalived makes of it.
# keepalived must run on the director, and its keepalived.conf must hold the line
#
#   include /etc/keepalived/lvsform.conf
#
# A real server keepalived holds down is shown by `lvsform plan` as down, and is not drift.
# The real servers are prepared over SSH as for any DR service.

variable "servers" {
  type        = map(number)
  description = "real servers on the LAN and their weights"
  default     = {
    "10.1.0.11" = 3
    "10.1.0.12" = 2
    "10.1.0.13" = 1
  }
}

variable "drain" {
  type    = string
  default = "30s"
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

# Checked by keepalived: an HTTP GET of / must answer 200.
virtual_server "web" {
  vip       = "203.0.113.10"
  port      = 80
  mode      = "dr"
  scheduler = "wrr"
  drain     = var.drain

  health_check {
    http {
      path   = "/"
      status = 200
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

# Source hashing under keepalived: a server that fails stays in its place at weight 0
# (lvsform renders inhibit_on_failure and sh-fallback), so clients never move.
virtual_server "cache" {
  vip       = "203.0.113.11"
  port      = 80
  mode      = "dr"
  scheduler = "sh"

  health_check {
    tcp {}
    interval = "1s"
    timeout  = "1s"
    retries  = 1
  }

  real_server "cache" {
    for_each = { for a in ["10.1.0.11", "10.1.0.12", "10.1.0.13"] : a => a }
    address  = each.key
  }
}

# No check: lvsform's own, over netlink, as ever.
virtual_server "admin" {
  vip       = "203.0.113.10"
  port      = 8080
  mode      = "dr"
  scheduler = "rr"

  real_server "admin" {
    for_each = { for a in ["10.1.0.11", "10.1.0.12", "10.1.0.13"] : a => a }
    address  = each.key
  }
}
