module "api" {
  source  = "../../../modules/dr-service"
  vip     = "203.0.113.11"
  port    = "https"
  servers = { api1 = "10.1.0.21" }
}
