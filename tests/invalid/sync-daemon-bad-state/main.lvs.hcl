director {
  sync_daemon {
    state     = "primary"
    interface = "eth1"
  }
}
