"""The repository is self-contained: its fast test lane passes in a clone with nothing beside it.

A test that opens a file outside the repository (say ``../shared/...``) passes in the
developers' checkout and fails for every user who clones the project. This test clones the
committed repository into an empty temporary directory and runs ``pytest -m "not slow"``
there with the clone's own ``src/`` first on the path, so such a dependency fails CI.
Uncommitted changes are not part of the clone: the test checks what a user would get.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from tests.paths import REPO

pytestmark = [pytest.mark.workflow, pytest.mark.slow]


def _git(*args: str, cwd=REPO) -> subprocess.CompletedProcess:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True)


@pytest.fixture(scope="module")
def clone(tmp_path_factory):
    if shutil.which("git") is None or _git("rev-parse", "--git-dir").returncode != 0:
        pytest.skip("not a git checkout (e.g. an unpacked sdist): nothing to clone")
    parent = tmp_path_factory.mktemp("fresh")
    dest = parent / "dl4hep"
    res = _git("clone", "--quiet", "--no-hardlinks", str(REPO), str(dest))
    assert res.returncode == 0, res.stderr
    assert [p.name for p in parent.iterdir()] == ["dl4hep"]  # nothing beside the clone
    return dest


def _env(clone) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "DL4HEP_"))}
    env.update(PYTHONPATH=str(clone / "src"), MPLBACKEND="Agg", DL4HEP_FRESH_CLONE="1")
    return env


def test_clone_imports_its_own_package(clone):
    res = subprocess.run([sys.executable, "-c", "import dl4hep; print(dl4hep.__file__)"],
                         cwd=clone, env=_env(clone), capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip().startswith(str(clone / "src")), res.stdout


def test_fast_lane_passes_in_a_clone_with_nothing_beside_it(clone, request):
    """Also CI's only run of the fast lane in a clean checkout (workflow/scripts/run-tests.sh runs the
    slow tests in place), so its summary goes to the terminal and every failure is listed."""
    if os.environ.get("DL4HEP_FRESH_CLONE"):
        pytest.skip("already inside the fresh-clone run")
    res = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-m", "not slow", "-p", "no:cacheprovider", "-rfEs"],
        cwd=clone, env=_env(clone), capture_output=True, text=True, timeout=1800,
    )
    tail = (res.stdout + res.stderr)[-6000:]
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        summary = [line for line in res.stdout.splitlines() if line.startswith(("FAILED", "ERROR", "SKIPPED"))]
        reporter.write_line("\nfast lane in the fresh clone: " + res.stdout.strip().splitlines()[-1])
        for line in summary:
            reporter.write_line("  " + line)
    assert res.returncode == 0, tail
    assert " passed" in res.stdout.splitlines()[-1], tail
