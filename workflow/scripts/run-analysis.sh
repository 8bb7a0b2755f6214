#!/usr/bin/env bash
# The main job: set up the environment, then run the default analysis
# (configs/config.yaml) on the built-in generated samples. Extra arguments go to
# snakemake, e.g. `--configfile configs/mini.yaml` or `--cores 8`.
set -euo pipefail
cd "$(dirname "$0")/../.."
bash workflow/scripts/setup-env.sh generate
exec .venv/bin/snakemake --cores "${CORES:-2}" "$@"
