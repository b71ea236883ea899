director {
  timeouts {
    tcp = 0
  }
}
