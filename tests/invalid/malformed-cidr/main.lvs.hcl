director {
  ignore {
    vips = ["10.96.0.0/33"]
  }
}
