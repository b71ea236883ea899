# IPv6 works like IPv4 in every mode. Here, DR over IPv6: the real servers hold the VIP as
# /128 on `lo`. IPv6 needs no ARP settings: a host answers neighbour solicitations only
# for addresses on the interface they arrive on, so the VIP on `lo` stays silent.

locals {
  lan = "2001:db8:1::/64"
}

director {
  interface = "eth0"
}

virtual_server "web6" {
  vip       = "2001:db8:ffff::10"
  port      = 80
  mode      = "dr"
  scheduler = "mh" # Maglev hashing: stable, even spread, minimal disruption on changes
  # mh-port hashes the source port too; mh-fallback skips servers with weight 0.
  scheduler_flags = ["mh-fallback", "mh-port"]

  real_server "web" {
    for_each = ["11", "12", "13"] # host numbers in the LAN
    address  = cidrhost(local.lan, tonumber(each.value))
  }
}
