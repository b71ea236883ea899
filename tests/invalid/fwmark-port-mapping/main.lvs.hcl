virtual_server "web" {
  fwmark = 3
  mode   = "nat"
  real_server "a" {
    address = "10.1.0.11"
    port    = 8080
  }
}
