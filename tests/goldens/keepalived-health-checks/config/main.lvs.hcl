# rs2 is held down by keepalived's check (absent from the table: not drift); rs1's weight
# goes from 2 to 3 through keepalived's file; "admin" has no check and is lvsform's.
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
