virtual_server "web" {
  vip  = "203.0.113.10"
  port = 80

  health_check {
    http {}
    tcp {}
  }
}

virtual_server "api" {
  vip  = "203.0.113.10"
  port = 443

  health_check {
    interval = "2s"
  }
}
