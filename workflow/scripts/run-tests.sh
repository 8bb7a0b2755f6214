#!/usr/bin/env bash
# The test job: set up the environment with the dev extras, then run every test,
# including the full workflow on configs/mini.yaml. pytest's exit 5 (no tests
# collected) is a failure here.
set -uo pipefail
cd "$(dirname "$0")/../.."
bash workflow/scripts/setup-env.sh generate,dev,cluster || exit 1
export MPLBACKEND=Agg PYTHONUNBUFFERED=1
.venv/bin/python -m pytest "$@"
status=$?
if [ "$status" -eq 5 ]; then
  echo "run-tests: pytest collected no tests; failing" >&2
  exit 1
fi
exit "$status"
