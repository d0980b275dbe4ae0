"""The pip that ignite-pack runs must be one it can use: an older or missing pip is a clear
`toolchain` error (exit 23) before pip runs, never pip's own option error."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from packager.deps.piprun import PIP_FLOOR, pip_version
from packager.errors import ToolchainError
from tests.ci_helpers import REPO, source, validate, wheelhouse
from tests.conftest import run_cli


def _fake_pip(tmp_path: Path, init: str) -> dict[str, str]:
    """An environment whose `import pip` finds *init* first: what a downgraded pip looks like."""
    fake = tmp_path / "fake-pip"
    (fake / "pip").mkdir(parents=True)
    (fake / "pip" / "__init__.py").write_text(init)
    return {"PYTHONPATH": f"{fake}{os.pathsep}{REPO}"}


@pytest.mark.parametrize("command", ["build", "lock"])
def test_old_pip_is_a_toolchain_error_not_pips_option_error(
        tmp_path: Path, hermetic_pip: Path, command: str) -> None:
    wh = wheelhouse(tmp_path)
    src = source(tmp_path, requirements="small\n")
    env = _fake_pip(tmp_path, "__version__ = '23.2.1'\n")
    args = [command, str(src), "--wheelhouse", str(wh), "--offline"]
    if command == "build":
        args += ["-o", str(tmp_path / "a.tar.gz")]

    r = run_cli(*args, "--json", env=env)
    assert r.returncode == ToolchainError.exit_code == 23, r.stderr
    doc = json.loads(r.stdout)
    validate(doc, "error")
    err = doc["error"]
    assert err["error"] == "toolchain"
    assert err["exit_code"] == 23
    assert "pip 23.2.1 is older than 23.3" in err["message"]
    assert err["details"] == {"found": "23.2.1", "required": f">={PIP_FLOOR}", "python": err["where"]}
    assert f"-m pip install -U 'pip>={PIP_FLOOR}'" in err["hint"]
    assert "Can not use any platform" not in r.stdout + r.stderr
    assert not (tmp_path / "a.tar.gz").exists()

    text = run_cli(*args, env=env)
    assert text.returncode == 23
    assert "error: " in text.stderr and "pip 23.2.1 is older than 23.3" in text.stderr
    assert f"pip install -U 'pip>={PIP_FLOOR}'" in text.stderr
    assert "Can not use any platform" not in text.stderr


def test_missing_pip_is_a_toolchain_error(tmp_path: Path, hermetic_pip: Path) -> None:
    wh = wheelhouse(tmp_path)
    src = source(tmp_path, requirements="small\n")
    env = _fake_pip(tmp_path, "raise ImportError('no pip here')\n")
    r = run_cli("build", str(src), "-o", str(tmp_path / "a.tar.gz"), "--wheelhouse", str(wh),
                "--offline", "--json", env=env)
    assert r.returncode == 23, r.stderr
    err = json.loads(r.stdout)["error"]
    assert err["error"] == "toolchain" and err["details"]["found"] is None
    assert "pip is not installed" in err["message"] and "ensurepip" in err["hint"]


def test_build_without_requirements_does_not_need_pip(tmp_path: Path, hermetic_pip: Path) -> None:
    src = source(tmp_path)
    env = _fake_pip(tmp_path, "__version__ = '9.0.1'\n")
    r = run_cli("build", str(src), "-o", str(tmp_path / "a.tar.gz"), "--json", env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    assert (tmp_path / "a.tar.gz").is_file()


def test_the_pip_here_meets_the_floor_declared_in_pyproject() -> None:
    """The floor in code, the `pip>=` in pyproject.toml and the pin in .ci/lowest.txt agree."""
    from packaging.version import Version

    found = pip_version()
    assert found is not None and Version(found) >= Version(PIP_FLOOR)
    pyproject = (REPO / "pyproject.toml").read_text()
    assert f'"pip>={PIP_FLOOR}"' in pyproject
    assert f"pip=={PIP_FLOOR}\n" in (REPO / ".ci" / "lowest.txt").read_text()
