"""diff: pure comparison of two manifests, text and JSON output, exit codes 0/1/error."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from packager.inspect.diff import diff_artifacts
from packager.inspect.inspection import inspect_artifact
from tests.ci_helpers import build_with, source, validate, wheelhouse
from tests.conftest import run_cli


def test_identical_builds_exit_0(tmp_path: Path) -> None:
    a_src = source(tmp_path, "a")
    b_src = tmp_path / "elsewhere" / "b"
    shutil.copytree(a_src, b_src)
    a, b = tmp_path / "a.tar.gz", tmp_path / "b.tar.gz"
    build_with(a_src, a)
    build_with(b_src, b)
    r = run_cli("diff", str(a), str(b))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "identical (byte for byte)" in r.stdout
    r = run_cli("diff", str(a), str(b), "--json")
    assert r.returncode == 0
    doc = json.loads(r.stdout)
    validate(doc, "diff")
    assert doc["identical"] is True and doc["same_bytes"] is True and doc["metadata"] == []


def test_same_tree_other_level_is_identical_but_not_same_bytes(tmp_path: Path) -> None:
    src = source(tmp_path)
    a, b = tmp_path / "a.tar.gz", tmp_path / "b.tar.gz"
    build_with(src, a, level=1)
    build_with(src, b, level=9)
    d = diff_artifacts(inspect_artifact(a), inspect_artifact(b))
    assert d.identical and d.same_tree and d.old.sha256 != d.new.sha256
    r = run_cli("diff", str(a), str(b))
    assert r.returncode == 0 and "identical (same files and metadata)" in r.stdout


def test_source_distribution_and_metadata_changes(tmp_path: Path, hermetic_pip: Path) -> None:
    wh = wheelhouse(tmp_path)
    old_src = source(tmp_path, "old", requirements="small==1.0\nbig\n", files={"util.py": "A = 1\n", "gone.py": ""})
    new_src = source(tmp_path, "new", requirements="small==2.0\n", files={"util.py": "A = 2\n", "extra/new.py": ""})
    (new_src / "handler.py").write_text("def main(payload, ctx):\n    return 'ok'\n")
    old, new = tmp_path / "old.tar.gz", tmp_path / "new.tar.gz"
    build_with(old_src, old, wh)
    from packager.source.checks import EntryPoint

    build_with(new_src, new, wh, entry=EntryPoint.parse("handler:main"))
    r = run_cli("diff", str(old), str(new), "--json")
    assert r.returncode == 1, r.stdout + r.stderr
    doc = json.loads(r.stdout)
    validate(doc, "diff")
    assert doc["identical"] is False
    assert doc["source"] == {"added": ["extra/new.py"], "removed": ["gone.py"],
                             "changed": ["handler.py", "requirements.txt", "util.py"]}
    assert doc["distributions"] == [
        {"name": "big", "old": "1.0", "new": None, "change": "removed"},
        {"name": "small", "old": "1.0", "new": "2.0", "change": "upgraded"},
    ]
    fields = {c["field"]: c for c in doc["metadata"]}
    assert fields["entry"]["old"] == "handler:handler" and fields["entry"]["new"] == "handler:main"
    assert "lock_digest" in fields and "vendored" in fields
    vendor = next(s for s in doc["sizes_by_top_level"] if s["path"] == "vendor/")
    assert vendor["delta"] < -20000 and vendor["delta"] == vendor["new"] - vendor["old"]
    assert doc["sizes_by_top_level"][0]["path"] == "vendor/"  # largest change first
    assert doc["artifact_size_delta"] == new.stat().st_size - old.stat().st_size
    # The reverse direction: a downgrade and an addition.
    back = diff_artifacts(inspect_artifact(new), inspect_artifact(old)).to_dict()["distributions"]
    assert {(c["name"], c["change"]) for c in back} == {("big", "added"), ("small", "downgraded")}

    r = run_cli("diff", str(old), str(new))
    assert r.returncode == 1
    text = r.stdout
    assert "  entry: handler:handler -> handler:main" in text
    assert "  + extra/new.py" in text and "  - gone.py" in text and "  ~ util.py" in text
    assert "  - big 1.0" in text and "  ↑ small 1.0 -> 2.0 (upgraded)" in text
    assert "size by top-level entry" in text and text.rstrip().endswith("different")
    r = run_cli("diff", str(old), str(new), "-q")
    assert r.returncode == 1 and r.stdout == ""


def test_convention_and_compile_are_metadata(tmp_path: Path) -> None:
    src = source(tmp_path)
    a, b = tmp_path / "a.tar.gz", tmp_path / "b.tar.gz"
    build_with(src, a)
    build_with(src, b, env={"SOURCE_DATE_EPOCH": "1700000000"})
    d = diff_artifacts(inspect_artifact(a), inspect_artifact(b))
    assert d.same_tree and not d.identical  # same files, other mtime: different artifacts
    assert [c.field for c in d.metadata] == ["mtime"]


def test_diff_errors_have_their_own_exit_codes(tmp_path: Path) -> None:
    src = source(tmp_path)
    a = tmp_path / "a.tar.gz"
    build_with(src, a)
    r = run_cli("diff", str(a), str(tmp_path / "missing.tar.gz"), "--json")
    assert r.returncode == 11
    doc = json.loads(r.stdout)
    validate(doc, "error")
    assert doc["error"]["where"].endswith("missing.tar.gz")
    r = run_cli("diff", str(a))
    assert r.returncode == 2 and "Missing argument" in r.stderr
