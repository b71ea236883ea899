# A new VIP would replace a service that must not be destroyed: the plan is refused.
virtual_server "web" {
  vip             = "203.0.113.11"
  port            = 80
  mode            = "nat"
  prevent_destroy = true
  real_server "a" {
    address = "10.1.0.11"
  }
}
