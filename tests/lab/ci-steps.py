"""The shell steps of the CI recipes in examples/ci, one script per job, for the lab to
run (tests/lab/vm/ci.sh): GitHub Actions `run` steps in order, GitLab CI `script` lines.
Usage: ci-steps.py OUT_DIR"""
import pathlib
import sys

import yaml

root = pathlib.Path(__file__).resolve().parents[2] / "examples" / "ci"
out = pathlib.Path(sys.argv[1])
out.mkdir(parents=True, exist_ok=True)

github = yaml.safe_load((root / "github-actions.yml").read_text())
for name, job in github["jobs"].items():
    runs = [step["run"] for step in job["steps"] if "run" in step]
    (out / f"github-{name}.sh").write_text("".join(runs))

gitlab = yaml.safe_load((root / "gitlab-ci.yml").read_text())
for name, job in gitlab.items():
    if isinstance(job, dict) and "script" in job:
        (out / f"gitlab-{name}.sh").write_text("".join(line + "\n" for line in job["script"]))
