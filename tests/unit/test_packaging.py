"""The main job's environment holds every package the default workflow's rules import.

``run-analysis.sh`` installs the core dependencies plus the extras it names; the test
environment has more (dev), so a rule needing a dev-only package would pass CI and fail
on a physicist's fresh machine (it did once: ONNX export was dev-only).
"""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

import pytest

from dl4hep.config import analysis_from_dict, load_yaml
from dl4hep.plan import Plan

try:
    import tomllib  # Python >= 3.11
except ModuleNotFoundError:  # Python 3.10
    tomllib = pytest.importorskip("tomli")

REPO = Path(__file__).resolve().parents[2]

#: distribution names needed by the rules of ``rule all`` (lazy imports in the package)
NEEDED_BY_RULES = {
    "generate": {"pythia8mc", "fastjet"},
    "export": {"onnx", "onnxruntime", "onnxscript"},
}


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~;\[ ]", requirement.strip(), maxsplit=1)[0].lower()


def _main_job_extras() -> list[str]:
    script = (REPO / "workflow/scripts/run-analysis.sh").read_text()
    match = re.search(r"setup-env\.sh\s+([\w,]+)", script)
    assert match, "run-analysis.sh must call setup-env.sh with its extras"
    return match.group(1).split(",")


def test_main_job_installs_every_package_the_rules_import():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    installed = {_name(r) for r in project["dependencies"]}
    for extra in _main_job_extras():
        installed |= {_name(r) for r in project["optional-dependencies"][extra]}
    for rule, packages in NEEDED_BY_RULES.items():
        assert packages <= installed, f"rule {rule} needs {sorted(packages - installed)}, not installed by run-analysis.sh"


def test_every_third_party_import_of_the_package_is_declared():
    """A package imported by dl4hep but only present as someone else's dependency can vanish."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    declared = {_name(r) for r in project["dependencies"]}
    for reqs in project["optional-dependencies"].values():
        declared |= {_name(r) for r in reqs}
    dist_of = {"sklearn": "scikit-learn", "yaml": "pyyaml", "pythia8": "pythia8mc", "torch_geometric": "torch-geometric",
               "pydantic_core": "pydantic", "XRootD": "xrootd", "fsspec_xrootd": "fsspec-xrootd"}
    imported = set()
    for path in (REPO / "src/dl4hep").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                imported |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                imported.add(node.module.split(".")[0])
    third_party = {m for m in imported if m not in sys.stdlib_module_names and m != "dl4hep"}
    assert {"torch", "awkward", "onnx"} <= third_party  # the scan sees lazy imports too
    missing = {dist_of.get(m, m) for m in third_party} - declared
    assert not missing, f"imported by dl4hep but not declared in pyproject.toml: {sorted(missing)}"


def test_default_targets_include_the_onnx_export(at_repo):
    """Keeps NEEDED_BY_RULES honest: the default analysis asks for an exported model per model."""
    plan = Plan(analysis_from_dict(load_yaml("configs/config.yaml")))
    assert any(t.endswith("/model.onnx") for t in plan.targets())
