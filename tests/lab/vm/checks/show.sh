# `lvsform show` against the kernel (sourced by /lab/kernel.sh, which defines `check`).
ipvsadm -C
ipvsadm -A -t 203.0.113.10:80 -s wrr -p 300 -M 255.255.255.0
ipvsadm -a -t 203.0.113.10:80 -r 10.1.0.11:8080 -m -w 3 -x 100 -y 50
ipvsadm -A -f 10 -6 -s mh -b mh-port
ipvsadm -a -f 10 -6 -r [2001:db8::11]:0 -i --tun-type gue --tun-port 6080 -w 2

lvsform show --stats >/tmp/show.txt 2>&1
cat /tmp/show.txt
show_lists_the_table() {
  grep -q '^virtual_server\["tcp/203.0.113.10:80"\]  scheduler wrr, persistence 300s netmask 255.255.255.0$' /tmp/show.txt &&
    grep -q '^  real_server\["10.1.0.11:8080"\]  nat  weight 3  thresholds 50..100  active 0  inactive 0  persistent 0$' /tmp/show.txt &&
    grep -q '^virtual_server\["fwmark6/10"\]  scheduler mh \[mh-port\]$' /tmp/show.txt &&
    grep -q '^  real_server\["\[2001:db8::11\]:0"\]  tun (gue port 6080)  weight 2' /tmp/show.txt &&
    grep -q 'conns 0  packets in 0 out 0' /tmp/show.txt
}
check show_lists_the_table show_lists_the_table
show_json() { lvsform show --json | grep -q '"format_version": "1"'; }
check show_json show_json

# Every IPVS command, reading included, needs CAP_NET_ADMIN.
setpriv --reuid=65534 --regid=65534 --clear-groups lvsform show >/tmp/show-nobody.txt 2>&1
status=$?
cat /tmp/show-nobody.txt
check show_as_nobody_is_refused [ "$status" -eq 1 ]
check show_as_nobody_says_why sh -c "grep -q 'not permitted to use IPVS' /tmp/show-nobody.txt && grep -q 'help: run lvsform as root' /tmp/show-nobody.txt"

# Without the ip_vs module the error names the fix.
# The kernel would load ip_vs again on demand: make its module loader fail meanwhile.
ipvsadm -C
loader=$(cat /proc/sys/kernel/modprobe)
echo /bin/false >/proc/sys/kernel/modprobe
modprobe -r ip_vs_rr ip_vs_wrr ip_vs_lc ip_vs_wlc ip_vs_lblc ip_vs_lblcr ip_vs_dh ip_vs_sh ip_vs_sed ip_vs_nq ip_vs_fo ip_vs_ovf ip_vs_mh ip_vs_pe_sip ip_vs
lvsform show >/tmp/show-noipvs.txt 2>&1
status=$?
cat /tmp/show-noipvs.txt
check show_without_ipvs_fails [ "$status" -eq 1 ]
check show_without_ipvs_says_modprobe sh -c "grep -q 'the kernel has no IPVS' /tmp/show-noipvs.txt && grep -q 'help: load it with .modprobe ip_vs.' /tmp/show-noipvs.txt"
echo "$loader" >/proc/sys/kernel/modprobe
for m in $(cat /lab/modules); do modprobe "$m"; done
