virtual_server "web" {
  vip  = "203.0.113.10"
  port = 80
  mode = "nat"
  real_server "s" {
    for_each = ["10.1.0.11", "10.1.0.12", "10.1.0.13", "10.1.0.14"]
    address  = each.value
  }
}
