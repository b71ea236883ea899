# Inside the lab VM (tests/lab/package-tests.sh): the Debian package installed with dpkg,
# then used. $1: what `lvsform --version` printed where the package was built.
. /lab/lib.sh
. /lab/topology.sh
built_version=$1
mkdir -p /var/lib/dpkg/info /var/lib/dpkg/updates /var/log
touch /var/lib/dpkg/status /var/lib/dpkg/available
status_of() { "$@" >/tmp/out.txt 2>&1; echo $?; }

check package_not_installed_before [ ! -e /usr/bin/lvsform ]
# The lab's tools are busybox's, not Debian packages: dependencies are not checked here.
code=$(status_of dpkg --force-depends -i /lab/package/lvsform.deb)
cat /tmp/out.txt
check package_installs [ "$code" -eq 0 ]
check package_is_registered sh -c "dpkg -s lvsform | grep -qx 'Status: install ok installed'"
check package_binary_on_path [ "$(command -v lvsform)" = /usr/bin/lvsform ]
check package_version_is_the_built_one [ "$(lvsform --version)" = "$built_version" ]
man_page() { # man_page FILE: a roff page, compressed or not
  case $1 in *.gz) zcat "$1" ;; *) cat "$1" ;; esac | grep -q '^\.TH'
}
check package_has_the_man_page man_page "$(ls /usr/share/man/man1/lvsform.1*)"
check package_has_a_man_page_per_command man_page "$(ls /usr/share/man/man1/lvsform-plan.1*)"
check package_has_bash_completion grep -q -- '--detailed-exitcode' /usr/share/bash-completion/completions/lvsform
check package_has_zsh_completion grep -q -- '--detailed-exitcode' /usr/share/zsh/vendor-completions/_lvsform
check package_has_fish_completion grep -q -- 'detailed-exitcode' /usr/share/fish/vendor_completions.d/lvsform.fish
check package_has_the_examples [ -f /usr/share/doc/lvsform/examples/dr/main.lvs.hcl ]

# The installed lvsform does the main job: plan and apply the DR example, traffic through the VIP.
topology_up >/dev/null
mkdir -p /root/.ssh
cp /lab/ssh/id_ed25519 /lab/ssh/known_hosts /root/.ssh/
dr=/usr/share/doc/lvsform/examples/dr
code=$(status_of sh -c "cd $dr && ip netns exec director lvsform apply --auto-approve --no-color")
cat /tmp/out.txt
check package_lvsform_applies [ "$code" -eq 0 ]
check package_traffic_reaches_every_server all_servers_answer "$VIP"
code=$(status_of sh -c "cd $dr && ip netns exec director lvsform plan --detailed-exitcode --no-color")
check package_replan_is_empty [ "$code" -eq 0 ]

was_installed=$(test -x /usr/bin/lvsform && echo yes)
code=$(status_of dpkg -r lvsform)
check package_removes [ "$code" -eq 0 ]
removed() { [ "$was_installed" = yes ] && [ ! -e /usr/bin/lvsform ]; }
check package_removal_removes_the_binary removed
summary
