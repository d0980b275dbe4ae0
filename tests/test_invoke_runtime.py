"""``invoke``/``serve`` run the artifact as the platform will, whatever the cache holds (issue 28).

A function with no requirements that imports numpy (the image provides it) answered 500
``No module named 'numpy'`` on a machine that had never made the image runtime, and 200 on
one that had. ``--runtime auto`` now decides from the artifact alone.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from packager.deps.profile import load_profile
from packager.invoke import unprovided_imports
from tests.conftest import run_cli
from tests.wheelhouse import make_wheel

HANDLER = ("import numpy\n\n"
           "def handler(payload, ctx):\n"
           "    return {'numpy': numpy.VERSION}\n")


def _artifact(tmp_path: Path, handler: str = HANDLER) -> Path:
    src = tmp_path / "src"
    src.mkdir(exist_ok=True)
    (src / "handler.py").write_text(handler)
    out = tmp_path / "fn.tar.gz"
    r = run_cli("build", str(src), "-o", str(out), "--cache-dir", str(tmp_path / "build-cache"), timeout=300)
    assert r.returncode == 0, r.stderr
    return out


def _image_wheelhouse(tmp_path: Path) -> Path:
    """Tiny stand-ins of every package the image preinstalls, at the profile's pins."""
    wh = tmp_path / "image-wheels"
    for name, version in load_profile().preinstalled.items():
        make_wheel(wh, name, version)
    return wh


def test_a_no_requirements_numpy_handler_answers_200_on_an_empty_cache(tmp_path: Path, hermetic_pip: Path,
                                                                       python312: str) -> None:
    artifact = _artifact(tmp_path)
    wh = _image_wheelhouse(tmp_path)
    empty = tmp_path / "empty-cache"
    env = {"PIP_NO_INDEX": "1", "PIP_FIND_LINKS": str(wh)}  # the image's packages from a local wheelhouse
    r = run_cli("invoke", str(artifact), "--python", python312, "--cache-dir", str(empty), "--json",
                env=env, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    out = json.loads(r.stdout)
    assert out["status"] == 200 and out["body"] == {"numpy": load_profile().preinstalled["numpy"]}
    assert out["runtime"] == "image"
    assert (empty / "runtimes").is_dir()  # made under --cache-dir, not ~/.cache
    # --runtime bare on request: the 500 names the runtime it ran on and how to switch.
    r = run_cli("invoke", str(artifact), "--python", python312, "--runtime", "bare", "--cache-dir", str(empty),
                env=env, timeout=300)
    assert r.returncode == 14, r.stderr
    assert "No module named 'numpy'" in r.stderr and "bare runtime" in r.stderr and "--runtime image" in r.stderr


def test_a_handler_that_imports_only_what_it_ships_stays_bare(tmp_path: Path, hermetic_pip: Path,
                                                              python312: str) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "helper.py").write_text("X = 1\n")
    artifact = _artifact(tmp_path, "import json\nimport helper\n\ndef handler(payload, ctx):\n"
                                   "    return helper.X\n")
    assert unprovided_imports(artifact) == []


def test_the_scan_sees_imports_the_image_must_provide(tmp_path: Path, hermetic_pip: Path) -> None:
    src = ("import os, numpy as np\nfrom requests import get\nfrom . import sibling\nimport importlib\n"
           "def handler(payload, ctx):\n    import pandas.io\n    return importlib.import_module('yaml')\n")
    artifact = _artifact(tmp_path, src)
    assert unprovided_imports(artifact) == ["numpy", "pandas", "requests", "yaml"]


@pytest.mark.network
def test_a_numpy_handler_answers_200_on_an_empty_cache_with_the_real_image_packages(
        tmp_path: Path, python312: str) -> None:
    artifact = _artifact(tmp_path, "import numpy\n\ndef handler(payload, ctx):\n    return numpy.__version__\n")
    r = run_cli("invoke", str(artifact), "--python", python312, "--cache-dir", str(tmp_path / "empty"),
                timeout=1800)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().strip('"') == load_profile().preinstalled["numpy"]
