virtual_server "dns" {
  protocol = "udp"
  vip      = "203.0.113.53"
  port     = 53

  probe {
    tcp {}
  }
}

virtual_server "marked" {
  fwmark = 7

  probe {
    tcp {}
  }
  real_server "a" {
    address = "10.1.0.11"
  }
}

virtual_server "all-ports" {
  vip  = "203.0.113.10"
  port = 0
  persistence {
    timeout = 600
  }

  probe {
    tcp {}
  }
}
