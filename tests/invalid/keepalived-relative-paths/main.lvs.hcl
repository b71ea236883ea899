director {
  keepalived {
    file     = "lvsform.conf"
    pid_file = "/run/../tmp/keepalived.pid"
  }
}
