# Counting checks inside the lab VM (sourced). `check NAME COMMAND...` runs a check and
# prints its outcome; `summary` prints the "N passed, M failed" line and sets the status;
# `within SECONDS COMMAND...` waits up to SECONDS for COMMAND to succeed.
passed=0
failed=0
check() {
  name=$1
  shift
  if "$@"; then passed=$((passed + 1)); echo "check $name ... ok"; else failed=$((failed + 1)); echo "check $name ... FAILED"; fi
}
summary() {
  echo "$passed passed, $failed failed"
  [ "$failed" -eq 0 ]
}
within() {
  limit=$(($1 * 10))
  shift
  n=0
  until "$@"; do
    n=$((n + 1))
    [ "$n" -ge "$limit" ] && return 1
    sleep 0.1
  done
}
