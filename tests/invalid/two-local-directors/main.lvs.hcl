director "lb1" {
  interface = "eth0"
}

director "lb2" {
  interface = "eth1"
}
