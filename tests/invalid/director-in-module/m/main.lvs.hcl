director {
  interface = "eth0"
}
