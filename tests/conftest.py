"""Shared fixtures: the target interpreter, temp dirs and a CLI runner."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from packager.errors import RuntimeNotFound
from packager.runtime import find_python

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "fixtures"


def _required_python(version: str) -> str:
    """A real CPython *version*. Skips locally when missing; fails under CI=true (the README promises it)."""
    try:
        return find_python(version)
    except RuntimeNotFound as exc:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"CPython {version} is required under CI: {exc.message}")
        pytest.skip(f"CPython {version} not available: {exc.message}")


@pytest.fixture(scope="session")
def python312() -> str:
    """A real CPython 3.12. Skips locally when missing; fails under CI=true."""
    return _required_python("3.12")


@pytest.fixture(scope="session")
def python313() -> str:
    """A real CPython 3.13 (the python3.13 profiles' target). Skips locally when missing; fails under CI=true."""
    return _required_python("3.13")


@pytest.fixture(scope="session")
def uv() -> str:
    """The uv binary installed with ignite-pack (a default dependency). Skips locally when missing; fails under CI=true."""
    from packager.deps.uvresolve import find_uv

    found = find_uv()
    if found is None:
        if os.environ.get("CI") == "true":
            pytest.fail("uv is missing: `make test` installs it (a default dependency, and the test extra's)")
        pytest.skip("uv is not installed with ignite-pack (pip install 'ignite-packager[uv]')")
    return found


@pytest.fixture
def hermetic_pip(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """pip sees no machine configuration (no extra indexes or find-links); a private cache dir."""
    for key in list(os.environ):
        if key.startswith("PIP_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("PIP_CACHE_DIR", str(tmp_path / "pip-cache"))
    cache = tmp_path / "ignite-cache"
    monkeypatch.setenv("IGNITE_CACHE_DIR", str(cache))
    return cache


def run_cli(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None,
            input: bytes | None = None, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """Run ``python -m packager ARGS`` in a subprocess, as a user would."""
    full_env = dict(os.environ)
    full_env["PYTHONPATH"] = str(REPO)
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "packager", *args], cwd=cwd or REPO, env=full_env,
        capture_output=True, text=True, timeout=timeout, input=input.decode() if input else None,
    )
