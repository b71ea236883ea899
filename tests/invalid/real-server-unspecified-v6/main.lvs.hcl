virtual_server "web" {
  vip  = "2001:db8::10"
  port = 80
  mode = "nat"
  real_server "a" {
    address = "::"
  }
}
