# Inside the lab VM, sourced by apply.sh: the CI recipes of examples/ci run against the lab.
# tests/lab/apply-tests.sh extracted each job's own shell steps (tests/lab/ci-steps.py) to
# /lab/ci-steps; here they run on the director as a runner there would, in a workspace
# holding the DR example as lvs/, with stand-ins for `gh` and `curl` (GitHub's and
# GitLab's APIs) that keep the comment they were given. Jobs pass the saved plan on as
# their artifacts would: in the workspace.
# DR: the real servers answer clients through the router again (the NAT checks routed
# them through the director).
for host in $SERVERS; do in_ns "$host" ip route replace default via "$ROUTER_LAN"; done
mkdir -p /tmp/ci-stubs
cat >/tmp/ci-stubs/gh <<'STUB'
#!/bin/sh
# gh pr comment PR --body-file FILE
[ "$1 $2 $4" = "pr comment --body-file" ] || { echo "gh stand-in: unexpected: $*" >&2; exit 1; }
echo "$3" >/tmp/ci-comment.to
cat "$5" >/tmp/ci-comment.md
STUB
cat >/tmp/ci-stubs/curl <<'STUB'
#!/bin/sh
# curl … --data-urlencode body@FILE URL
body=
url=
while [ $# -gt 0 ]; do
  case "$1" in
    --data-urlencode) body=${2#body@}; shift 2 ;;
    --header | --request) shift 2 ;;
    -*) shift ;;
    *) url=$1; shift ;;
  esac
done
[ -f "$body" ] || { echo "curl stand-in: no body file" >&2; exit 1; }
echo "$url" >/tmp/ci-comment.to
cat "$body" >/tmp/ci-comment.md
STUB
chmod +x /tmp/ci-stubs/gh /tmp/ci-stubs/curl

run_job() { # run_job RECIPE JOB: the job's steps in the recipe's workspace; its exit code
  (cd "/tmp/ci-$1" && in_ns director env PATH="/tmp/ci-stubs:$PATH" LVSFORM_DIR=lvs \
    PR=7 GITHUB_STEP_SUMMARY="/tmp/ci-$1/summary.md" \
    CI_API_V4_URL=https://gitlab.invalid/api/v4 CI_PROJECT_ID=1 CI_MERGE_REQUEST_IID=7 \
    LVSFORM_BOT_TOKEN=token sh -e "/lab/ci-steps/$1-$2.sh" >/tmp/out.txt 2>&1)
  echo $?
}

for recipe in github gitlab; do
  rm -rf "/tmp/ci-$recipe" /tmp/ci-comment.*
  mkdir -p "/tmp/ci-$recipe"
  cp -r $dr "/tmp/ci-$recipe/lvs"
  code=$(run_job $recipe plan)
  cat /tmp/out.txt
  check "ci_${recipe}_plan_job_succeeds" [ "$code" -eq 0 ]
  commented() { head -1 /tmp/ci-comment.md | grep -qx '## lvsform plan' && grep -q 'will be created' /tmp/ci-comment.md; }
  check "ci_${recipe}_comments_the_markdown_plan" commented
  case $recipe in
    github) check ci_github_comments_on_the_pull_request [ "$(cat /tmp/ci-comment.to)" = 7 ] ;;
    gitlab) check ci_gitlab_comments_on_the_merge_request [ "$(cat /tmp/ci-comment.to)" = https://gitlab.invalid/api/v4/projects/1/merge_requests/7/notes ] ;;
  esac
  check "ci_${recipe}_saves_the_plan" [ -s "/tmp/ci-$recipe/lvsform.plan" ]
  code=$(run_job $recipe plan-main)
  check "ci_${recipe}_main_plan_job_succeeds" [ "$code" -eq 0 ]
  code=$(run_job $recipe apply)
  cat /tmp/out.txt
  check "ci_${recipe}_apply_job_applies_the_saved_plan" [ "$code" -eq 0 ]
  check "ci_${recipe}_traffic_after_apply" all_servers_answer "$VIP"
  code=$(run_job $recipe drift)
  check "ci_${recipe}_drift_job_passes_without_drift" [ "$code" -eq 0 ]
  in_ns director ipvsadm -e -t "$VIP:80" -r 10.1.0.11:80 -g -w 9
  code=$(run_job $recipe drift)
  check "ci_${recipe}_drift_job_fails_on_drift" [ "$code" -eq 2 ]
  code=$(status_of lvsform_in "/tmp/ci-$recipe/lvs" destroy --auto-approve)
  check "ci_${recipe}_cleanup" [ "$code" -eq 0 ]
done
check ci_github_summary_has_the_plan grep -q '^## lvsform plan$' /tmp/ci-github/summary.md
