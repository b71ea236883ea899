director "lb1" {
  sysctl = { "net.ipv4.vs.sloppy_tcp" = 1 }
  ssh {
    host = "10.1.0.1"
  }
}

director "lb2" {
  ssh {
    host = "10.1.0.2"
  }
}

virtual_server "web" {
  vip       = "203.0.113.10"
  port      = 80
  scheduler = "sh"

  real_server "a" {
    address = "10.1.0.11"
  }
}

# mh: no advice on the scheduler, the same on sloppy_tcp.
virtual_server "cache" {
  vip       = "203.0.113.11"
  port      = 8080
  scheduler = "mh"

  real_server "a" {
    address = "10.1.0.11"
  }
}

# On one director only: nothing to say.
virtual_server "api" {
  vip       = "203.0.113.12"
  port      = 443
  scheduler = "sh"
  directors = ["lb2"]

  real_server "a" {
    address = "10.1.0.11"
  }
}
