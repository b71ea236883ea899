# web3 leaves the configuration altogether: its destination drains and goes, and the plan
# warns that lvsform will not reach its host any more to take the VIP off lo.
virtual_server "web" {
  vip  = "203.0.113.10"
  port = 80
  real_server "web1" {
    address = "10.1.0.11"
    manage  = false
  }
  real_server "web2" {
    address = "10.1.0.12"
    manage  = false
  }
}
