director {
  sysctl = {
    "kernel.core_pattern" = "core"
  }
}
