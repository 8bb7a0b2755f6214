"""Write workflow/envs/dl4hep.yaml from pyproject.toml (dependencies + the generate extra).

    python workflow/scripts/conda-env.py          # rewrite the file
    python workflow/scripts/conda-env.py --check  # exit 1 if it is out of date (tests run this)
"""

from __future__ import annotations

import sys
from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parents[2]
TARGET = ROOT / "workflow" / "envs" / "dl4hep.yaml"
HEADER = """\
# The jobs' software for `snakemake --software-deployment-method conda` (each rule's `conda:`).
# Python and pip from conda-forge; the Python packages are pyproject.toml's dependencies and its
# `generate` extra, from PyPI with the same version ranges, so a conda job runs what a
# `pip install -e '.[generate]'` environment runs. Generated: edit pyproject.toml, then run
# `python workflow/scripts/conda-env.py` (tests/workflow/test_module.py checks it is current).
# The dl4hep package itself is the workflow's src/, put on PYTHONPATH by workflow/rules/jobs.smk,
# so the environment is not rebuilt when the code changes. torch from PyPI is the CUDA build on
# Linux (what a GPU node needs). Snakemake itself runs outside this environment.
channels:
  - conda-forge
  - nodefaults
dependencies:
  - python=3.11
  - pip
  - pip:
"""


def render() -> str:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    requirements = [*project["dependencies"], *project["optional-dependencies"]["generate"]]
    return HEADER + "".join(f'      - "{r}"\n' for r in requirements)


def main() -> int:
    text = render()
    if "--check" in sys.argv[1:]:
        if TARGET.read_text() != text:
            print(f"{TARGET} is out of date: run python workflow/scripts/conda-env.py", file=sys.stderr)
            return 1
        return 0
    TARGET.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
