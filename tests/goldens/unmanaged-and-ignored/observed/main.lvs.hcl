# A Kubernetes service (ignored) and a forgotten one (deleted, drained first).
virtual_server "web" {
  vip  = "203.0.113.10"
  port = 80
  mode = "nat"
  real_server "a" {
    address = "10.1.0.11"
  }
}

virtual_server "kube" {
  vip  = "10.96.0.1"
  port = 443
  mode = "nat"
  real_server "api" {
    address = "10.1.0.50"
    port    = 6443
  }
}

virtual_server "old" {
  vip  = "203.0.113.99"
  port = 8080
  mode = "nat"
  real_server "x" {
    address = "10.1.0.11"
  }
}
