# Two undeclared live services have the same real servers as the new one: lvsform keeps no
# state and cannot tell which one it replaces, so it creates the new one and deletes both.
virtual_server "web" {
  vip  = "203.0.113.10"
  port = 8080
  mode = "nat"
  real_server "a" {
    address = "10.1.0.11"
  }
}
