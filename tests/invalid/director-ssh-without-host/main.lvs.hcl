director {
  ssh {
    user = "root"
    strict_host_key_checking = false
  }
}
