# The DR example on a director reached over SSH: lvsform runs on a CI runner (tests/lab/vm/remote.sh).
variable "lvsform" {
  type        = string
  default     = "lvsform"
  description = "the command that runs lvsform on the director"
}

variable "first_weight" {
  type    = number
  default = 3
}

director {
  interface = "eth0"
  dip       = "10.1.0.1"
  ssh {
    host    = "10.1.0.1"
    lvsform = var.lvsform
  }
}

ssh {
  user        = "root"
  private_key = "~/.ssh/id_ed25519"
  known_hosts = "~/.ssh/known_hosts"
}

virtual_server "web" {
  vip       = "203.0.113.10"
  port      = 80
  mode      = "dr"
  scheduler = "wrr"
  drain     = "0s"

  real_server "rs1" {
    address = "10.1.0.11"
    weight  = var.first_weight
  }
  real_server "rs2" {
    address = "10.1.0.12"
    weight  = 2
  }
  real_server "rs3" {
    address = "10.1.0.13"
    weight  = 1
  }
}
