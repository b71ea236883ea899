# api1 is already prepared and serving; api2 and the tunnel are new.
virtual_server "api" {
  vip  = "203.0.113.11"
  port = 443
  mode = "dr"
  real_server "api1" {
    address = "10.1.0.21"
  }
}
