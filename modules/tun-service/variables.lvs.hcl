# Inputs of the tun-service module.

variable "vip" {
  type        = string
  description = "the virtual IP clients connect to"
}

variable "port" {
  type        = number
  description = "the service port"
}

variable "protocol" {
  type    = string
  default = "tcp"
}

variable "scheduler" {
  type    = string
  default = "wlc"
}

variable "servers" {
  type        = map(string)
  description = "real servers: name => address"
}

variable "weights" {
  type        = map(number)
  default     = {}
  description = "optional weights by server name (default 1)"
}
