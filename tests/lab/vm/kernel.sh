# Inside the lab VM: the real-kernel tests, then command-line checks against the kernel.
# Ends with one "N passed, M failed" line.
. /lab/lib.sh

# Runs the Rust tests of tests/kernel.rs that match a filter; counts their results.
kernel_tests() {
  kernel-tests --include-ignored --test-threads=1 "$@" >/tmp/kernel.log 2>&1
  cat /tmp/kernel.log
  p=$(sed -n 's/^test result: .* \([0-9]*\) passed; \([0-9]*\) failed.*/\1/p' /tmp/kernel.log)
  f=$(sed -n 's/^test result: .* \([0-9]*\) passed; \([0-9]*\) failed.*/\2/p' /tmp/kernel.log)
  passed=$((passed + ${p:-0}))
  failed=$((failed + ${f:-1}))
}

# The lab_host_ tests need the topology, which checks/traffic.sh builds.
kernel_tests --skip lab_host_

for script in /lab/checks/*.sh; do
  [ -e "$script" ] && . "$script"
done

summary
