# "web" was lvsform's over netlink and gains a health check: it is deleted, and keepalived
# makes it from lvsform's new file (keepalived would keep a service it finds as it is).
virtual_server "web" {
  vip       = "203.0.113.10"
  port      = 80
  mode      = "nat"
  scheduler = "wrr"

  health_check {
    http {
      path = "/healthz"
    }
    interval = "2s"
    timeout  = "1s"
  }

  real_server "a" {
    address = "10.1.0.11"
    weight  = 3
  }
  real_server "b" {
    address = "10.1.0.12"
    weight  = 2
  }
  real_server "c" {
    address = "10.1.0.13"
  }
}

virtual_server "admin" {
  vip  = "203.0.113.10"
  port = 8080
  mode = "nat"

  real_server "a" {
    address = "10.1.0.11"
  }
}
