director {
  interface = "eth0; reboot"
}
