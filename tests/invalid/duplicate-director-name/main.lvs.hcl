director "lb1" {
  ssh {
    host = "10.1.0.1"
  }
}

director "lb1" {
  ssh {
    host = "10.1.0.2"
  }
}
