"""A kernel compiled with another file's helper must not keep the helper's old code in numba's cache."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from dl4hep.features.numba_cache import invalidate_if_changed

pytestmark = pytest.mark.slow  # four fresh processes importing numba

KERNEL = """
from numba import njit
from pkg import helper
{guard}

@njit(cache=True)
def kernel():
    return helper.value() + 100
"""


def _package(root: Path, guarded: bool) -> Path:
    pkg = root / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "helper.py").write_text("from numba import njit\n\n@njit(cache=True)\ndef value():\n    return 1\n")
    guard = ("from dl4hep.features.numba_cache import invalidate_if_changed\n"
             "invalidate_if_changed(__file__, helper.__file__)") if guarded else ""
    (pkg / "kernel.py").write_text(textwrap.dedent(KERNEL.format(guard=guard)))
    return pkg


def _run(root: Path) -> int:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(root), *sys.path]))
    env.pop("NUMBA_CACHE_DIR", None)
    out = subprocess.run([sys.executable, "-c", "from pkg.kernel import kernel; print(kernel())"],
                         env=env, capture_output=True, text=True, check=True)
    return int(out.stdout.strip())


def _edit_helper(pkg: Path) -> None:
    helper = pkg / "helper.py"
    helper.write_text(helper.read_text().replace("return 1", "return 2"))
    st = helper.stat()
    os.utime(helper, (st.st_atime, st.st_mtime + 10))  # a distinct timestamp however fast the edit


@pytest.mark.parametrize("guarded", [False, True])
def test_editing_a_helper_recompiles_the_kernel_that_uses_it(tmp_path, guarded):
    pkg = _package(tmp_path, guarded)
    assert _run(tmp_path) == 101
    assert list((pkg / "__pycache__").glob("kernel.*.nbi")), "the kernel was cached"
    _edit_helper(pkg)
    # numba alone keeps the helper's old code inside the cached kernel; the guard clears it
    assert _run(tmp_path) == (102 if guarded else 101)


def test_invalidate_only_when_a_dependency_changes(tmp_path):
    (tmp_path / "__pycache__").mkdir()
    module, dep = tmp_path / "kernel.py", tmp_path / "helper.py"
    module.write_text("")
    dep.write_text("a = 1\n")
    cached = tmp_path / "__pycache__" / "kernel.kernel-3.py311.nbi"
    cached.write_text("")
    other = tmp_path / "__pycache__" / "helper.value-2.py311.nbi"
    other.write_text("")
    assert invalidate_if_changed(str(module), str(dep)) is True  # first sight: no stamp yet
    assert not cached.exists() and other.exists()
    cached.write_text("")
    assert invalidate_if_changed(str(module), str(dep)) is False
    assert cached.exists()
    dep.write_text("a = 2\n")
    assert invalidate_if_changed(str(module), str(dep)) is True
    assert not cached.exists()
