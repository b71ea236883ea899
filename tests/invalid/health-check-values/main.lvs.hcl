virtual_server "web" {
  vip  = "203.0.113.10"
  port = 80

  health_check {
    http {
      path   = "/health check"
      status = 600
    }
    interval = "10ms"
    retries  = 0
  }
}
