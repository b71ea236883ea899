virtual_server "old_http" {
  vip  = "203.0.113.10"
  port = 80
  mode = "nat"
  real_server "a" {
    address = "10.1.0.11"
  }
}

virtual_server "old_https" {
  vip  = "203.0.113.10"
  port = 443
  mode = "nat"
  real_server "a" {
    address = "10.1.0.11"
  }
}
