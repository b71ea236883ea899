director "lb1" {
  ssh {
    host = "10.1.0.1"
  }
}

director "lb2" {
  ssh {
    host = "10.1.0.2"
  }
}

virtual_server "web" {
  vip       = "203.0.113.10"
  port      = 80
  directors = ["lb1", "lb3"]

  real_server "a" {
    address = "10.1.0.11"
    manage  = false
  }
}
