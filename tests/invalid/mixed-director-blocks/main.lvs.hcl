director {
  interface = "eth0"
}

director "lb2" {
  ssh {
    host = "10.1.0.2"
  }
}
