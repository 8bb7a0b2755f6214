"""Where the tests find the repository and its real CMS test files (tests/data/, see its README)."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
REAL_DATA = REPO / "tests" / "data"
