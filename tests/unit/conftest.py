"""Fixtures shared by the unit tests (pytest finds them here; test modules import none)."""

from __future__ import annotations

import pytest


@pytest.fixture
def one_thread():
    """Run torch on one thread: on a loaded 2-core CI runner, two OpenMP threads can be 50x slower."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
