virtual_server "a" {
  vip  = "203.0.113.10"
  port = 80
  real_server "x" {
    address = "10.1.0.11"
  }
}

virtual_server "b" {
  vip  = "203.0.113.10"
  port = 443
  real_server "x" {
    address = "10.1.0.11"
    ssh {
      user = "deploy"
    }
  }
}
