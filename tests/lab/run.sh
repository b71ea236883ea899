#!/usr/bin/env bash
# Boots the lab VM (Debian's cloud kernel under qemu, software emulation) and runs one
# command inside it as root; prints the VM's console and exits with the command's status.
#
#   tests/lab/run.sh [--file HOST_PATH[:VM_PATH]]... [--dir HOST_DIR:VM_DIR]... -- COMMAND...
#
# The VM holds busybox, iproute2, ipvsadm, OpenSSH, iptables, keepalived, the IPVS, tunnel, bridge and
# nftables modules, the scripts of tests/lab/vm/ under /lab, and every --file (with the
# libraries it links).
set -euo pipefail
lab=$(cd "$(dirname "$0")" && pwd)

files=()
dirs=()
while [ $# -gt 0 ]; do
  case "$1" in
    --file) files+=("$2"); shift 2 ;;
    --dir) dirs+=("$2"); shift 2 ;;
    --) shift; break ;;
    *) break ;;
  esac
done
[ $# -gt 0 ] || { echo "usage: $0 [--file PATH[:VM_PATH]]... -- COMMAND..." >&2; exit 2; }

packages=(qemu-system-x86 cpio kmod busybox iproute2 ipvsadm openssh-server openssh-client tcpdump iptables)
missing=()
for p in "${packages[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  echo "lab: installing ${missing[*]}" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

kernel=$("$lab/kernel.sh")
version=$(ls "$kernel/lib/modules")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
root=$work/root
mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,etc/sysctl.d,proc,sys,dev,run,tmp,root,var/empty,lab}

# Copies a binary and, following ldd, every shared library it needs.
install_binary() {
  local src=$1 dst=$2
  install -D -m 0755 "$src" "$root$dst"
  ldd "$src" 2>/dev/null | awk '/=> \// {print $3} /^\t\/.*ld-linux/ {print $1}' | while read -r lib; do
    [ -e "$root$lib" ] || install -D -m 0755 "$lib" "$root$lib"
  done
}

install_binary /bin/busybox /bin/busybox
for applet in $(/bin/busybox --list); do
  [ -e "$root/bin/$applet" ] || ln -s busybox "$root/bin/$applet"
done
for tool in /usr/bin/setpriv /usr/bin/flock /usr/bin/script /usr/bin/tcpdump /usr/sbin/iptables /usr/sbin/ip /usr/sbin/tc /usr/sbin/ipvsadm /usr/sbin/sshd /usr/bin/ssh /usr/bin/ssh-keygen /usr/bin/ssh-keyscan /usr/sbin/modprobe /usr/sbin/depmod; do
  install_binary "$(readlink -f "$tool")" "$tool"
done
# keepalived (Debian's, unpacked by keepalived.sh) runs in the directors' namespaces.
install_binary "$("$lab/keepalived.sh")" /usr/sbin/keepalived
# iptables (nft backend) loads its match and target extensions at run time.
mkdir -p "$root/usr/lib/x86_64-linux-gnu"
cp -r /usr/lib/x86_64-linux-gnu/xtables "$root/usr/lib/x86_64-linux-gnu/"
# sshd runs its unprivileged child as `sshd`; root logs in with keys only.
# The kernel loads modules on demand (schedulers) through /sbin/modprobe.
ln -s /usr/sbin/modprobe "$root/sbin/modprobe"
printf 'root:x:0:0:root:/root:/bin/sh\nsshd:x:101:65534::/run/sshd:/bin/false\nnobody:x:65534:65534::/:/bin/false\n' >"$root/etc/passwd"
printf 'root:*:19000:0:99999:7:::\nsshd:*:19000:0:99999:7:::\n' >"$root/etc/shadow"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$root/etc/group"

modules=(ip_vs ip_vs_rr ip_vs_wrr ip_vs_lc ip_vs_wlc ip_vs_lblc ip_vs_lblcr ip_vs_dh ip_vs_sh
  ip_vs_sed ip_vs_nq ip_vs_fo ip_vs_ovf ip_vs_mh ip_vs_pe_sip ipip ip6_tunnel ip_gre fou
  dummy veth bridge nlmon nf_tables nft_compat xt_comment xt_tcpudp sch_tbf)
for m in "${modules[@]}"; do
  modprobe -d "$kernel" -S "$version" --show-depends "$m" | awk '/^insmod/ {print $2}'
done | sort -u | while read -r ko; do
  install -D -m 0644 "$ko" "$root${ko#"$kernel"}"
done
cp "$kernel/lib/modules/$version"/modules.{order,builtin,builtin.modinfo} "$root/lib/modules/$version/" 2>/dev/null || true
depmod -b "$root" "$version"
printf '%s\n' "${modules[@]}" >"$root/lab/modules"

cp -r "$lab/vm/." "$root/lab/"
for spec in ${files[@]+"${files[@]}"}; do
  src=${spec%%:*}
  dst=${spec#*:}
  [ "$dst" != "$spec" ] || dst=/usr/bin/$(basename "$src")
  install_binary "$src" "$dst"
done
for spec in ${dirs[@]+"${dirs[@]}"}; do
  mkdir -p "$root${spec#*:}"
  cp -r "${spec%%:*}/." "$root${spec#*:}/"
done
printf '%q ' "$@" >"$root/lab/command"

cat >"$root/init" <<'INIT'
#!/bin/sh
export PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mkdir -p /dev/pts /run/sshd /run/netns
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /tmp
ip link set lo up
for m in $(cat /lab/modules); do modprobe "$m" || echo "lab: cannot load $m"; done
cd /lab
sh -c "$(cat /lab/command)"
echo "LAB-RESULT rc=$?"
poweroff -f
INIT
chmod +x "$root/init"
(cd "$root" && find . | cpio -o -H newc --quiet | gzip -1) >"$work/initrd"

log=$work/console
# The console, without carriage returns and the firmware's terminal escapes, is shown as
# it comes; the result marker is read from the log afterwards.
timeout "${LAB_TIMEOUT:-1800}" qemu-system-x86_64 -accel tcg -cpu max -smp "${LAB_CPUS:-2}" -m "${LAB_MEMORY:-1024}" \
  -nodefaults -nographic -serial stdio -monitor none -net none -no-reboot \
  -kernel "$kernel/boot/vmlinuz-$version" -initrd "$work/initrd" \
  -append "console=ttyS0 quiet loglevel=3 panic=-1 pci=off cryptomgr.notests tsc=reliable no_timer_check" \
  </dev/null 2>&1 | sed -u 's/\r//g; s/\x1bc//g; s/\x1b\[[0-9;?]*[a-zA-Z]//g' | tee "$log" | grep --line-buffered -v 'LAB-RESULT rc=' || true
rc=$(grep -o 'LAB-RESULT rc=[0-9]*' "$log" | tail -1 | cut -d= -f2)
[ -n "$rc" ] || { echo "lab: the VM stopped without a result (timeout ${LAB_TIMEOUT:-1800}s?)" >&2; exit 1; }
exit "$rc"
