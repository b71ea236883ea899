# Tunnel settings on a lab real server over SSH (sourced by /lab/kernel.sh after
# traffic.sh built the topology): the lab_host_ tests of tests/kernel.rs.
kernel_tests lab_host_
