module "api" {
  source = "../../../modules/dr-service"
  vip    = "203.0.113.11"
  port   = 443
}
