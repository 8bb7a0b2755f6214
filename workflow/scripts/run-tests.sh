#!/usr/bin/env bash
# The test job: set up the environment with the dev extras and the system packages of the
# integration tests, run the static checks (workflow/scripts/lint.sh: ruff, snakefmt,
# snakemake --lint, mypy), then every test, including the full workflow on configs/mini.yaml,
# locally and through a one-node SLURM cluster (tests/workflow/test_slurm.py). pytest's exit 5
# (no tests collected) is a failure here. Arguments go to pytest; with arguments the static
# checks are skipped unless DL4HEP_LINT=1.
set -uo pipefail
cd "$(dirname "$0")/../.."
bash workflow/scripts/setup-env.sh generate,dev,cluster,xrootd || exit 1
bash workflow/scripts/install-system-packages.sh
export MPLBACKEND=Agg PYTHONUNBUFFERED=1
# The SLURM test's cluster lives here; whatever happens, no daemon outlives this script.
if [ -z "${DL4HEP_SLURM_DIR:-}" ]; then
  DL4HEP_SLURM_DIR="$(mktemp -d "${TMPDIR:-/tmp}/dl4hep-slurm.XXXXXX")"
  trap 'bash workflow/scripts/slurm-cluster.sh stop >/dev/null 2>&1; rm -rf "$DL4HEP_SLURM_DIR"' EXIT
else
  trap 'bash workflow/scripts/slurm-cluster.sh stop >/dev/null 2>&1' EXIT
fi
export DL4HEP_SLURM_DIR
lint=0
if [ $# -eq 0 ] || [ "${DL4HEP_LINT:-0}" = 1 ]; then
  bash workflow/scripts/lint.sh
  lint=$?
fi
# In a clean checkout (CI, a fresh clone) the fast lane runs once, inside the fresh-clone test
# (tests/workflow/test_fresh_clone.py runs `pytest -m "not slow"` in a clone with nothing beside
# it), so the run here takes the slow tests only; with uncommitted changes, which a clone would
# not see, everything runs here as well.
lanes=()
if [ $# -eq 0 ] && git diff --quiet HEAD 2>/dev/null && [ -z "$(git ls-files --others --exclude-standard 2>/dev/null)" ]; then
  lanes=(-m slow)
  echo "run-tests: clean checkout: the fast lane runs in the fresh clone (test_fresh_clone.py), the slow tests here"
fi
.venv/bin/python -m pytest "${lanes[@]}" "$@"
status=$?
if [ "$status" -eq 5 ]; then
  echo "run-tests: pytest collected no tests; failing" >&2
  exit 1
fi
if [ "$lint" -ne 0 ] && [ "$status" -eq 0 ]; then
  echo "run-tests: the static checks failed (see lint: FAIL above)" >&2
  status=1
fi
exit "$status"
