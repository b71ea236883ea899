director {
  interface = "eth0"
  ssh {
    host    = "10.1.0.1"
    lvsform = "lvsform; reboot"
  }
}
