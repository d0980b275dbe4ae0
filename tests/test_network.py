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


def test_s2_slim_is_smaller_reproducible_strictly_valid_runs_and_has_an_sbom(tmp_path: Path, python312: str) -> None:
    """Issue 16 on the bench's S2 set (scikit-learn + requests), against the real index."""
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator

    from packager.artifact.tarball import read_manifest

    env = {"SOURCE_DATE_EPOCH": "1700000000"}
    src = FIXTURES / "sklearn-requests"
    full, slim, again = tmp_path / "full.tar.gz", tmp_path / "slim.tar.gz", tmp_path / "again.tar.gz"
    cache = tmp_path / "cache"
    for out, extra in ((full, []), (slim, ["--slim"])):
        r = run_cli("build", str(src), "-o", str(out), "--cache-dir", str(cache), *extra, env=env, timeout=900)
        assert r.returncode == 0, r.stderr
    mf, ms = read_manifest(full), read_manifest(slim)
    size_full, size_slim = sum(f.size for f in mf.files), sum(f.size for f in ms.files)
    assert size_slim <= 0.85 * size_full, (size_slim, size_full)
    assert not [f.path for f in ms.files if f.path.startswith("vendor/")
                and ({"tests", "test"} & set(f.path.split("/")[:-1]))]
    assert ms.slim["dropped"]["scipy"]["files"] > 0 and ms.slim["dropped"]["scikit-learn"]["files"] > 0
    assert ms.slim["total"]["bytes"] == sum(d["bytes"] for d in ms.slim["dropped"].values())
    # reproducible: another directory, a fresh cache, the same bytes
    r = run_cli("build", str(src), "-o", str(again), "--cache-dir", str(tmp_path / "cache2"), "--slim",
                env=env, timeout=900, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert again.read_bytes() == slim.read_bytes()
    r = run_cli("verify", str(slim), "--strict", "--cache-dir", str(cache), "--json")
    assert r.returncode == 0, r.stdout + r.stderr
    rep = json.loads(r.stdout)
    assert "slim" in rep["checks"] and len(rep["wheels_checked"]) == len(ms.vendored)
    # the slim artifact still fits a scikit-learn model on the image runtime
    r = run_cli("invoke", str(slim), "--runtime", "image", "--python", python312,
                "-p", '{"xs": [[0], [1], [2], [3], [4], [5]], "ys": [0, 0, 0, 1, 1, 1]}', timeout=1800)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["pred"] == [0, 1]
    # the SBOM: strictly valid CycloneDX, every vendored distribution with purl and SHA-256, stable bytes
    a, b = run_cli("sbom", str(slim)), run_cli("sbom", str(slim))
    assert a.returncode == 0, a.stderr
    assert a.stdout == b.stdout
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(a.stdout) is None
    comps = {c["name"]: c for c in json.loads(a.stdout)["components"] if c["type"] == "library"}
    for v in ms.vendored:
        assert comps[v.name]["purl"] == f"pkg:pypi/{v.name}@{v.version}"
        assert comps[v.name]["hashes"] == [{"alg": "SHA-256", "content": v.wheel_sha256}]
