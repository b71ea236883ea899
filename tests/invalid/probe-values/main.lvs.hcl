virtual_server "web" {
  vip  = "203.0.113.10"
  port = 80

  probe {
    http {
      path   = "/health check"
      status = 99
    }
    timeout = "1m"
  }
}

virtual_server "api" {
  vip  = "203.0.113.10"
  port = 443

  probe {
    timeout = "1s"
  }
}
