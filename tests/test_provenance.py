"""``build --provenance FILE``: in-toto Statement v1 + SLSA Provenance v1 (issue 30 item 4)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from tests.ci_helpers import validate
from tests.conftest import run_cli
from tests.wheelhouse import make_wheel


def _build(tmp_path: Path, run: str, env: dict[str, str] | None = None) -> tuple[Path, Path, dict]:  # type: ignore[type-arg]
    src = tmp_path / "src"
    if not src.exists():
        src.mkdir()
        (src / "handler.py").write_text("import dep\n\ndef handler(payload, ctx):\n    return dep.VERSION\n")
        (src / "requirements.txt").write_text("dep==1.0\n")
        make_wheel(tmp_path / "wh", "dep", "1.0")
    out_dir = tmp_path / run
    out_dir.mkdir()
    art, prov = out_dir / "fn.tar.gz", out_dir / "fn.intoto.json"
    r = run_cli("build", str(src), "-o", str(art), "--provenance", str(prov), "--wheelhouse", str(tmp_path / "wh"),
                "--offline", "--index-url", "https://ci:s3cret@127.0.0.1:9/simple", "--json",
                "--cache-dir", str(tmp_path / f"cache-{run}"), env=env)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["provenance"] == str(prov)
    return art, prov, json.loads(prov.read_text())


def test_provenance_is_slsa_v1_names_the_artifact_and_is_deterministic(tmp_path: Path) -> None:
    art, prov, doc = _build(tmp_path, "one")
    validate(doc, "provenance")
    assert doc["_type"] == "https://in-toto.io/Statement/v1"
    assert doc["predicateType"] == "https://slsa.dev/provenance/v1"
    assert doc["subject"] == [{"name": "fn.tar.gz", "digest": {"sha256": hashlib.sha256(art.read_bytes()).hexdigest()}}]
    bd = doc["predicate"]["buildDefinition"]
    ext = bd["externalParameters"]
    assert ext["profile"] == "python3.12" and ext["entry"] == {"module": "handler", "function": "handler"}
    assert ext["source"]["kind"] == "directory" and ext["source"]["sha256"] is None and len(ext["source"]["files_sha256"]) == 64
    assert "s3cret" not in prov.read_text() and "https://****@127.0.0.1:9/simple" in ext["indexes"]
    deps = {d["name"]: d for d in bd["resolvedDependencies"]}
    wheel = next(d for d in bd["resolvedDependencies"] if d["uri"] == "pkg:pypi/dep@1.0")
    assert wheel["name"].startswith("dep-1.0-") and len(wheel["digest"]["sha256"]) == 64
    assert deps["compressor"]["uri"] == "pkg:pypi/cmeel-zlib@1.3.1"
    assert {"target profile", "ignite-packager", "build python"} <= set(deps)
    assert "metadata" not in doc["predicate"]["runDetails"]  # no clock without SOURCE_DATE_EPOCH
    _, prov2, _ = _build(tmp_path, "two")
    assert prov2.read_bytes() == prov.read_bytes()


def test_source_date_epoch_sets_finished_on(tmp_path: Path) -> None:
    _, _, doc = _build(tmp_path, "one", env={"SOURCE_DATE_EPOCH": "1700000000"})
    validate(doc, "provenance")
    assert doc["predicate"]["runDetails"]["metadata"] == {"finishedOn": "2023-11-14T22:13:20Z"}
