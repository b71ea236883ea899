virtual_server "web" {
  port = 80
}
