#!/bin/sh
# A CI policy over the documented plan JSON (docs/json.md): fail when a plan destroys or
# replaces more than MAX real servers (default 2).
#   lvsform show web.plan --json | examples/ci/policy-max-destroyed.sh 2
set -eu
max=${1:-2}
count=$(jq '[.changes[] | select(.action == "delete" or .action == "replace")
              | select(.address | test("real_server"))] | length')
if [ "$count" -gt "$max" ]; then
  echo "policy: this plan destroys or replaces $count real servers; at most $max may go at once" >&2
  exit 1
fi
echo "policy: $count real servers destroyed or replaced (at most $max)"
