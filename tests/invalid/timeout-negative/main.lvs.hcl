director {
  timeouts {
    udp = -5
  }
}
