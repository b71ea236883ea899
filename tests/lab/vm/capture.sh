# Inside the lab VM: captures the netlink traffic of ipvsadm commands on an nlmon device
# and prints the capture as base64 between markers (tests/lab/capture-fixtures.sh).
ip link add nlmon0 type nlmon
ip link set nlmon0 up
ip link add sync0 type dummy
ip link set sync0 up multicast on
tcpdump -Z root -i nlmon0 -U -w /tmp/capture.pcap 2>/dev/null &
dump=$!
sleep 1
step() { echo "capture: $*"; "$@" >/dev/null 2>&1; sleep 0.3; }
step ipvsadm -A -t 203.0.113.10:80 -s wrr -p 300 -M 255.255.255.0
step ipvsadm -a -t 203.0.113.10:80 -r 10.1.0.11:8080 -m -w 3 -x 100 -y 50
step ipvsadm -A -f 10 -6 -s mh -b mh-fallback,mh-port
step ipvsadm -a -f 10 -6 -r [2001:db8::11]:0 -i --tun-type gue --tun-port 6080 --tun-csum -w 2
step ipvsadm -A -t 203.0.113.10:80 -s rr
step ipvsadm -A -u 203.0.113.11:5060 -s wlc -o -p 120 --pe sip
step ipvsadm -A --sctp-service 203.0.113.12:3868 -s sh -b sh-fallback
step ipvsadm -a --sctp-service 203.0.113.12:3868 -r 10.1.0.31:3868 -i --tun-type gre -w 4
step ipvsadm --set 900 120 300
step ipvsadm --start-daemon master --mcast-interface sync0 --syncid 5
step ipvsadm -Ln
step ipvsadm -L --daemon
step ipvsadm -L --timeout
step ipvsadm -e -t 203.0.113.10:80 -r 10.1.0.11:8080 -m -w 0
step ipvsadm -d -t 203.0.113.10:80 -r 10.1.0.11:8080
sleep 1
kill $dump
wait $dump
echo "capture-begin"
base64 /tmp/capture.pcap
echo "capture-end"
