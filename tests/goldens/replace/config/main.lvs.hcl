# The web service moves from port 80 to 8080 and the DNS service from UDP to TCP: IPVS
# cannot edit either in place, so both are replaced (created first, the old ones drained
# and deleted after).
virtual_server "web" {
  vip   = "203.0.113.10"
  port  = 8080
  mode  = "nat"
  drain = "30s"
  real_server "a" {
    address = "10.1.0.11"
    port    = 80
  }
  real_server "b" {
    address = "10.1.0.12"
    port    = 80
  }
}

virtual_server "dns" {
  vip      = "203.0.113.53"
  port     = 53
  protocol = "tcp"
  mode     = "nat"
  real_server "ns1" {
    address = "10.1.0.21"
  }
}
