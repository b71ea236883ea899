# examples/keepalived on two directors reached over SSH (keepalived runs on each): the
# lab's keepalived.sh plans and applies it from an unprivileged runner. web and admin have
# probes: each director probes its own path to them, through its agent.

variable "servers" {
  type    = map(number)
  default = {
    "10.1.0.11" = 3
    "10.1.0.12" = 2
    "10.1.0.13" = 1
  }
}

director "lb1" {
  interface = "eth0"
  dip       = "10.1.0.1"
  sysctl    = { "net.ipv4.vs.sloppy_tcp" = 1 }
  ssh {
    host = "10.1.0.1"
  }
}

director "lb2" {
  interface = "eth0"
  dip       = "10.1.0.2"
  sysctl    = { "net.ipv4.vs.sloppy_tcp" = 1 }
  ssh {
    host = "10.1.0.2"
  }
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

  probe {
    http {
      path = "/"
    }
  }

  real_server "web" {
    for_each = var.servers
    address  = each.key
    weight   = each.value
  }
}

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

virtual_server "admin" {
  vip       = "203.0.113.10"
  port      = 8080
  mode      = "dr"
  scheduler = "rr"

  probe {
    tcp {}
  }

  real_server "admin" {
    for_each = { for a in ["10.1.0.11", "10.1.0.12", "10.1.0.13"] : a => a }
    address  = each.key
  }
}
