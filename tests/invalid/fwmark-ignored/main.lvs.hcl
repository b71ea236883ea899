director {
  ignore {
    fwmarks = [7]
  }
}

virtual_server "web" {
  fwmark = 7
}
