module "self" {
  source = "."
}
