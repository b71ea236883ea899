director {
  sysctl = {
    "net.ipv4.$(reboot)" = 1
  }
}
