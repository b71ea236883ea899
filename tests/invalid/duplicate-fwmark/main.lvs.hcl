virtual_server "a" {
  fwmark = 7
}

virtual_server "b" {
  fwmark = 7
}
