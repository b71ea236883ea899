director {
  ignore {
    vips = ["10.96.0.0/12"]
  }
}

virtual_server "web" {
  vip  = "10.96.0.10"
  port = 80
}
