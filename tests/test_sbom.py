"""ignite-pack sbom / build --sbom: CycloneDX and SPDX, validated by the formats' own libraries."""

from __future__ import annotations

import hashlib
import json
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from packager.errors import SbomError
from packager.inspect.inspection import inspect_artifact
from packager.inspect.metadata import license_of
from packager.inspect.sbom import purl, require_library
from tests.ci_helpers import build_with, source
from tests.conftest import run_cli
from tests.wheelhouse import make_wheel

cyclonedx = pytest.importorskip("cyclonedx", reason="the [sbom] extra is part of [dev]")


@pytest.fixture
def art(tmp_path: Path, hermetic_pip: Path) -> Path:
    """Three vendored distributions (one license source each) and one preinstalled (requests)."""
    wh = tmp_path / "wheelhouse"
    make_wheel(wh, "Expr_Lib", "1.0", metadata=["License-Expression: MIT OR Apache-2.0", "Summary: by expression"])
    make_wheel(wh, "field-lib", "2.0", metadata=["License: BSD"])
    make_wheel(wh, "classy", "3.0", requires=["field-lib", "requests", 'expr-lib; python_version < "3.12"'],
               metadata=["License: Copyright (c) someone\n        all the text",
                                              "Classifier: License :: OSI Approved :: BSD License"])
    src = source(tmp_path, requirements="expr-lib\nfield-lib\nclassy\nrequests\n")
    out = tmp_path / "function.tar.gz"
    build_with(src, out, wh)
    return out


def _cdx(art: Path, *args: str, env: dict[str, str] | None = None) -> tuple[str, dict[str, Any]]:
    r = run_cli("sbom", str(art), *args, env=env)
    assert r.returncode == 0, r.stderr
    return r.stdout, json.loads(r.stdout)


def test_cyclonedx_is_strictly_valid_and_lists_every_distribution(art: Path) -> None:
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator

    text, doc = _cdx(art)
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(text) is None
    info = inspect_artifact(art)
    m = info.manifest
    # the function is the root component, hashed by the artifact's sha256
    root = doc["metadata"]["component"]
    assert root["name"] == "function" and root["type"] == "application"
    assert root["hashes"] == [{"alg": "SHA-256", "content": info.sha256}]
    # every vendored distribution: name, version, purl, the wheel's SHA-256, license
    comps = {c["name"]: c for c in doc["components"] if c["type"] == "library"}
    assert set(comps) == {v.name for v in m.vendored}
    for v in m.vendored:
        c = comps[v.name]
        assert c["version"] == v.version
        assert c["purl"] == f"pkg:pypi/{v.name.lower().replace('_', '-')}@{v.version}"
        assert c["hashes"] == [{"alg": "SHA-256", "content": v.wheel_sha256}]
    assert comps["expr-lib"]["licenses"] == [{"expression": "MIT OR Apache-2.0"}]
    assert comps["field-lib"]["licenses"] == [{"license": {"name": "BSD"}}]
    assert comps["classy"]["licenses"] == [{"license": {"name": "BSD License"}}]
    assert comps["expr-lib"]["description"] == "by expression"
    # preinstalled packages: separate, under the image component, marked as provided by it
    image = next(c for c in doc["components"] if c["type"] == "container")
    assert image["name"] == "python" and image["version"] == "3.12"
    pre = {c["name"]: c for c in image["components"]}
    assert "requests" in pre and set(pre) == {s.name for s in m.skipped}
    assert {"name": "ignite:provided-by", "value": "python:3.12 image"} in pre["requests"]["properties"]
    assert "hashes" not in pre["requests"]  # not in the artifact
    # deterministic: serial derived from the artifact digest, no wall-clock timestamp
    assert doc["serialNumber"] == f"urn:uuid:{uuid.uuid5(uuid.uuid5(uuid.NAMESPACE_URL, 'urn:ignite-packager:sbom'), info.sha256)}"
    assert "timestamp" not in doc["metadata"]
    deps = {d["ref"]: d.get("dependsOn", []) for d in doc["dependencies"]}
    assert set(deps["function"]) == {c["bom-ref"] for c in comps.values()} | {image["bom-ref"]}
    # Requires-Dist edges, markers evaluated for the target (3.12: the python_version < "3.12" one is out)
    assert set(deps[comps["classy"]["bom-ref"]]) == {comps["field-lib"]["bom-ref"], pre["requests"]["bom-ref"]}
    assert deps[comps["expr-lib"]["bom-ref"]] == []


def test_two_runs_give_identical_bytes_and_source_date_epoch_sets_the_timestamp(art: Path, tmp_path: Path) -> None:
    a, _ = _cdx(art)
    b, _ = _cdx(art)
    assert a == b
    out = tmp_path / "o.cdx.json"
    r = run_cli("sbom", str(art), "-o", str(out))
    assert r.returncode == 0 and r.stdout == ""
    assert out.read_text() == a
    r = run_cli("sbom", str(art), "-o", str(out), "--json")
    assert json.loads(r.stdout) == {"ok": True, "output": str(out), "format": "cyclonedx-json",
                                    "sha256": hashlib.sha256(a.encode()).hexdigest()}
    r = run_cli("sbom", str(tmp_path / "missing.tar.gz"), "--json")
    assert r.returncode == 11 and json.loads(r.stdout)["error"]["error"] == "verify"
    _, doc = _cdx(art, env={"SOURCE_DATE_EPOCH": "1700000000"})
    assert doc["metadata"]["timestamp"] == "2023-11-14T22:13:20+00:00"


@pytest.mark.skipif(sys.version_info < (3, 10), reason="spdx-tools needs Python 3.10+ (tested below)")
def test_spdx_is_valid_for_the_spdx_tools_parser_and_validator(art: Path, tmp_path: Path) -> None:
    from spdx_tools.spdx.parser.parse_anything import parse_file
    from spdx_tools.spdx.validation.document_validator import validate_full_spdx_document

    out = tmp_path / "o.spdx.json"
    r = run_cli("sbom", str(art), "--format", "spdx-json", "-o", str(out))
    assert r.returncode == 0, r.stderr
    doc = parse_file(str(out))
    assert validate_full_spdx_document(doc) == []
    info = inspect_artifact(art)
    pkgs = {p.name: p for p in doc.packages}
    for v in info.manifest.vendored:
        p = pkgs[v.name]
        assert p.version == v.version and p.checksums[0].value == v.wheel_sha256
        assert [e.locator for e in p.external_references] == [purl(v.name, v.version)]
    assert str(pkgs["expr-lib"].license_declared) == "MIT OR Apache-2.0"
    assert "provided by the python:3.12 image" in (pkgs["requests"].comment or "")
    depends = {(r.spdx_element_id, r.related_spdx_element_id) for r in doc.relationships
               if r.relationship_type.name == "DEPENDS_ON"}
    assert (pkgs["classy"].spdx_id, pkgs["requests"].spdx_id) in depends
    assert (pkgs["classy"].spdx_id, pkgs["expr-lib"].spdx_id) not in depends
    again = tmp_path / "again.spdx.json"
    run_cli("sbom", str(art), "--format", "spdx-json", "-o", str(again))
    assert again.read_bytes() == out.read_bytes()


@pytest.mark.skipif(sys.version_info >= (3, 10), reason="the 3.9 branch")
def test_spdx_on_python_39_is_a_clear_error(art: Path) -> None:
    r = run_cli("sbom", str(art), "--format", "spdx-json")
    assert r.returncode == 16 and "spdx-tools" in r.stderr


def test_build_sbom_writes_the_same_document(tmp_path: Path, hermetic_pip: Path) -> None:
    wh = tmp_path / "wh"
    make_wheel(wh, "one", "1.0", metadata=["License-Expression: MIT"])
    src = source(tmp_path, requirements="one\n")
    out, sb = tmp_path / "fn.tar.gz", tmp_path / "fn.cdx.json"
    r = run_cli("build", str(src), "-o", str(out), "--wheelhouse", str(wh), "--offline", "--sbom", str(sb),
                "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["sbom"] == str(sb)
    assert sb.read_text() == run_cli("sbom", str(out)).stdout


def test_missing_library_is_a_clear_error_before_the_build(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    from packager.cli import main

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "cyclonedx" else real(name, *a))
    with pytest.raises(SbomError) as ei:
        require_library("cyclonedx-json")
    assert "ignite-packager[sbom]" in (ei.value.hint or "") and ei.value.exit_code == 16
    src = source(tmp_path)
    out = tmp_path / "never.tar.gz"
    res = CliRunner().invoke(main, ["build", str(src), "-o", str(out), "--sbom", str(tmp_path / "s.json"),
                                    "--json"])
    assert res.exit_code == 16
    assert json.loads(res.stdout)["error"]["error"] == "sbom"
    assert not out.exists()  # failed before any work


def test_license_sources_in_order() -> None:
    assert license_of({"license_expression": "MIT", "license": "BSD"}) == ("expression", "MIT")
    assert license_of({"license": "UNKNOWN", "classifiers": ["License :: OSI Approved :: MIT License"]}) == (
        "name", "MIT License")
    assert license_of({"license": "x" * 200}) is None
    assert purl("Foo_Bar", "1.0") == "pkg:pypi/foo-bar@1.0"
