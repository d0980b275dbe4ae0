"""Shared fixtures: the target interpreter, temp dirs and a CLI runner."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from packager.errors import RuntimeNotFound
from packager.runtime import find_python

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "fixtures"


@pytest.fixture(scope="session")
def python312() -> str:
    """A real CPython 3.12. Skips locally when missing; fails under CI=true."""
    try:
        return find_python("3.12")
    except RuntimeNotFound as exc:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"CPython 3.12 is required under CI: {exc.message}")
        pytest.skip(f"CPython 3.12 not available: {exc.message}")
