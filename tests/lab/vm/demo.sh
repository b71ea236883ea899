# Inside the lab VM: the main job end to end. lvsform, running on the director, plans and
# applies a configuration (default dr: examples/dr; tun: tests/lab/configs/tun; nat:
# examples/nat): the IPVS table over netlink, the real servers over SSH; then a client
# fetches the VIP and every real server must answer.
. /lab/topology.sh
example=${1:-dr}
topology_up >/dev/null
mkdir -p /root/.ssh
cp /lab/ssh/id_ed25519 /root/.ssh/id_ed25519
cp /lab/ssh/known_hosts /root/.ssh/known_hosts
if [ "$example" = nat ]; then
  # NAT: the real servers' default route must be the director (lvsform checks it).
  for host in $SERVERS; do in_ns "$host" ip route replace default via "$DIP"; done
fi
if [ -d "/lab/configs/$example" ]; then cd "/lab/configs/$example"; else cd "/lab/examples/$example"; fi
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "lvsform plan ($example)"
in_ns director lvsform plan --no-color || exit 1
step "lvsform apply --auto-approve"
# The VM's console is a terminal but is shown here as plain lines: progress as lines too.
set -o pipefail
in_ns director lvsform apply --auto-approve --no-color 2>&1 | cat || exit 1
step "the director's IPVS table (lvsform show)"
in_ns director lvsform show
step "requests from the client to http://$VIP/"
answers=$(fetch "$VIP" 6)
echo "$answers"
for host in $SERVERS; do
  echo "$answers" | grep -qx "$host" || { echo "FAILED: $host never answered"; exit 1; }
done
echo "every real server answered"
step "lvsform plan --detailed-exitcode (nothing left to do)"
in_ns director lvsform plan --detailed-exitcode --no-color
