# An mh service whose live order of real servers is not lvsform's, and one of whose real
# servers leaves (drained with mh-fallback on meanwhile); an sh service whose real
# server goes to weight 0 (the service gets sh-fallback).
virtual_server "cache" {
  vip       = "203.0.113.20"
  port      = 80
  scheduler = "mh"
  mode      = "nat"
  real_server "node" {
    for_each = ["10.1.0.11", "10.1.0.12", "10.1.0.13"]
    address  = each.value
  }
}

virtual_server "shard" {
  vip       = "203.0.113.21"
  port      = 80
  scheduler = "sh"
  mode      = "nat"
  real_server "a" {
    address = "10.1.0.11"
  }
  real_server "b" {
    address = "10.1.0.12"
    weight  = 0
  }
}
