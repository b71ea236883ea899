# A firewall-mark service (ipvsadm -f): the director's packet filter marks packets, and IPVS
# balances everything with that mark as one service. The classic use: keep a client on
# the same real server for both HTTP and HTTPS (shopping carts, logins), which two separate
# services with persistence could not guarantee.
#
# The marking itself is yours to set up on the director, for example:
#   iptables -t mangle -A PREROUTING -d 203.0.113.10/32 -p tcp -m multiport --dports 80,443 -j MARK --set-mark 1

virtual_server "shop" {
  fwmark    = 1
  vips      = ["203.0.113.10"] # the addresses marked traffic is sent to: DR hosts hold them
  mode      = "dr"
  scheduler = "wlc"

  # Persistence: the same client address goes to the same real server for 10 minutes,
  # across both ports. The netmask groups clients: /24 here, for proxy farms.
  persistence {
    timeout = 600
    netmask = "255.255.255.0"
  }

  real_server "shop1" {
    address = "10.1.0.11" # no port: the server receives the port the client used
  }
  real_server "shop2" {
    address = "10.1.0.12"
  }
}
