module "api" {
  source = "./nowhere"
}
