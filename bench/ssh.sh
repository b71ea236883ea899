#!/usr/bin/env bash
# Benchmark: facts from many real-server hosts over SSH (release build, needs root).
#   bench/ssh.sh [HOSTS] [PARALLELISM]      (default 100 hosts at parallelism 32)
set -euo pipefail
cd "$(dirname "$0")/.."
exec cargo bench --quiet --bench ssh -- "${1:-100}" "${2:-32}"
