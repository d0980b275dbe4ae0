"""Against the real package index: real packages, built from this (3.11) host for the 3.12 target.

Marked ``network``; `make test-all` runs them, `make test` does not.
"""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import pytest

from tests.conftest import FIXTURES, run_cli

pytestmark = pytest.mark.network


def test_yaml_and_sklearn_build_for_the_target_and_run(tmp_path: Path, python312: str) -> None:
    out = tmp_path / "fn.tar.gz"
    r = run_cli("build", str(FIXTURES / "yaml-sklearn"), "-o", str(out), "--json",
                "--cache-dir", str(tmp_path / "cache"), timeout=900)
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    vendored = {v["name"]: v for v in doc["vendored"]}
    assert {"pyyaml", "scikit-learn", "scipy"} <= set(vendored)
    assert "tomli" not in vendored  # python_version < "3.12" is false on the target
    for name in ("pyyaml", "scikit-learn", "scipy"):
        assert "-cp312-cp312-manylinux" in vendored[name]["wheel"], vendored[name]["wheel"]
    skipped = {s["name"] for s in doc["skipped"]}
    assert {"numpy", "requests", "urllib3", "idna", "certifi"} <= skipped
    with tarfile.open(out) as tf:
        names = tf.getnames()
    assert not any(n.startswith("vendor/numpy/") for n in names)
    assert any(n.startswith("vendor/yaml/_yaml.cpython-312-x86_64-linux-gnu") for n in names)
    r = run_cli("invoke", str(out), "--python", python312, "-p", "xs: [1, 2, 3]\nys: [5, 10, 15]\n",
                timeout=1800)
    assert r.returncode == 0, r.stderr
    body = json.loads(r.stdout)
    assert body["slope"] == 5.0 and body["mean_y"] == 10.0 and body["yaml"].startswith("6.")
    assert body["pandas"] == "3.1.1"  # the image's pinned pandas, not a vendored copy
