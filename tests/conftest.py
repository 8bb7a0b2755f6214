"""Shared fixtures: repository root, the real CMS test files, a working directory at the root."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.paths import REAL_DATA, REPO


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


@pytest.fixture(scope="session")
def real_data() -> Path:
    # The files ship with the repository (tests/data/README.md): missing means a broken checkout.
    assert REAL_DATA.is_dir(), f"real CMS test files not found at {REAL_DATA}"
    return REAL_DATA


@pytest.fixture
def at_repo(monkeypatch):
    """Run the test with the repository root as working directory (configs/ is relative)."""
    monkeypatch.chdir(REPO)
    return REPO


def pytest_report_header(config):
    return f"dl4hep repo: {REPO}; real data: {REAL_DATA} ({'present' if REAL_DATA.is_dir() else 'missing'}); cores: {os.cpu_count()}"
