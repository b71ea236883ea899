# keepalived 2.0.19 runs on the director: older than lvsform reads and renders for.
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
