virtual_server "marked" {
  fwmark = 7
  vips   = ["203.0.113.10"]

  health_check {
    tcp {}
  }

  real_server "a" {
    address = "10.1.0.11"
  }
}
