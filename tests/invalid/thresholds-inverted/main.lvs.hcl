virtual_server "web" {
  vip  = "203.0.113.10"
  port = 80
  real_server "a" {
    address         = "10.1.0.11"
    upper_threshold = 100
    lower_threshold = 200
  }
}
