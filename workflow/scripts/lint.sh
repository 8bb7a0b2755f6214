#!/usr/bin/env bash
# Static checks of CI (run by run-tests.sh before pytest; needs the dev extra): ruff on the Python
# code, snakefmt on the workflow, `snakemake --lint`, and mypy on src/ (settings in pyproject.toml).
# Prints each check's time; exit 1 if any fails.
#   bash workflow/scripts/lint.sh
set -uo pipefail
cd "$(dirname "$0")/../.."
venv="${DL4HEP_VENV:-.venv}"
status=0
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT

check() {  # check NAME COMMAND...
  local name="$1"; shift
  local t0; t0="$(date +%s.%N)"
  if "$@" >"$scratch/out" 2>&1; then
    printf 'lint: %-16s ok   (%.1f s)\n' "$name" "$(echo "$(date +%s.%N) - $t0" | bc)"
  else
    printf 'lint: %-16s FAIL (%.1f s)\n' "$name" "$(echo "$(date +%s.%N) - $t0" | bc)"
    sed 's/^/    /' "$scratch/out" | tail -n 60
    status=1
  fi
}

check ruff "$venv/bin/ruff" check src tests workflow/scripts benchmarks
check snakefmt "$venv/bin/snakefmt" --check Snakefile workflow/rules
check "snakemake --lint" env CONDOR_CONFIG="${CONDOR_CONFIG:-/dev/null}" "$venv/bin/python" -m snakemake --lint \
  --configfile configs/mini.yaml --config "output=$scratch/out"
check mypy "$venv/bin/mypy"
exit "$status"
