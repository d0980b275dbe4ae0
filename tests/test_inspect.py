"""inspect (text, --files, --json against the schema) and verify (plain, --strict, tampering)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from packager.errors import VerifyError
from packager.inspect.inspection import INSPECT_SCHEMA, inspect_artifact, verify_artifact
from tests.ci_helpers import build_with, rewrite, source, validate, wheelhouse
from tests.conftest import run_cli


@pytest.fixture
def vendored(tmp_path: Path, hermetic_pip: Path) -> tuple[Path, Path]:
    """An artifact with two vendored distributions (big, small) and its wheelhouse."""
    wh = wheelhouse(tmp_path)
    src = source(tmp_path, requirements="small==1.0\nbig\n")
    out = tmp_path / "v.tar.gz"
    build_with(src, out, wh)
    return out, wh


def test_inspect_json_matches_schema_and_sorts_largest_first(vendored: tuple[Path, Path]) -> None:
    out, _ = vendored
    r = run_cli("inspect", str(out), "--json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    validate(doc, "inspect")
    assert doc["schema"] == INSPECT_SCHEMA == "ignite-inspect/1"
    assert [v["name"] for v in doc["vendored"]] == ["big", "small"]
    assert doc["vendored"][0]["size"] > doc["vendored"][1]["size"]
    assert doc["lock_digest"] and len(doc["lock_digest"]) >= 16
    sizes = [row["size"] for row in doc["sizes_by_top_level"]]
    assert sizes == sorted(sizes, reverse=True)
    assert sum(sizes) == doc["totals"]["bytes"] == sum(f["size"] for f in doc["files"])
    assert {row["path"] for row in doc["sizes_by_top_level"]} == {"vendor/", "__ignite__/", "handler.py",
                                                                 "requirements.txt"}
    assert doc["artifact"]["size"] == out.stat().st_size


def test_inspect_text_report(vendored: tuple[Path, Path]) -> None:
    out, _ = vendored
    info = inspect_artifact(out)
    r = run_cli("inspect", str(out))
    assert r.returncode == 0, r.stderr
    text = r.stdout
    assert f"sha256     {info.sha256}" in text
    assert "entry      handler:handler  (convention ignite)" in text
    assert "target     python3.12" in text
    assert f"lock       {info.lock_digest}" in text
    assert f"launcher   {info.manifest.launcher_version}" in text
    assert text.index("big 1.0") < text.index("small 1.0")  # largest first
    assert "vendor/" in text and "total" in text
    assert "\nfiles\n" not in text and "vendor/small.py" not in text
    r = run_cli("inspect", str(out), "--files")
    assert "vendor/small.py" in r.stdout and "0644" in r.stdout


def test_inspect_lists_skipped_preinstalled(tmp_path: Path, hermetic_pip: Path) -> None:
    src = source(tmp_path, requirements="requests\n")
    out = tmp_path / "a.tar.gz"
    build_with(src, out, wheelhouse(tmp_path))
    doc = json.loads(run_cli("inspect", str(out), "--json").stdout)
    validate(doc, "inspect")
    assert "requests" in {s["name"] for s in doc["skipped"]}
    r = run_cli("inspect", str(out))
    assert "preinstalled, not vendored" in r.stdout and "requests " in r.stdout


def test_verify_json_plain_and_strict(vendored: tuple[Path, Path]) -> None:
    out, wh = vendored
    r = run_cli("verify", str(out), "--json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    validate(doc, "verify")
    assert doc["strict"] is False and "records" not in doc["checks"]
    r = run_cli("verify", str(out), "--strict", "--json", "--wheelhouse", str(wh))
    assert r.returncode == 0, r.stdout + r.stderr
    doc = json.loads(r.stdout)
    validate(doc, "verify")
    assert doc["strict"] is True and doc["records_checked"] == 2
    assert {"records", "wheels", "entry-parses"} <= set(doc["checks"])
    assert sorted(doc["wheels_checked"]) == ["big-1.0-py3-none-any.whl", "small-1.0-py3-none-any.whl"]
    r = run_cli("verify", str(out), "--strict")
    assert r.returncode == 0 and "ok: strict: 2 RECORD file(s)" in r.stdout
    r = run_cli("verify", str(out), "-q")
    assert r.returncode == 0 and r.stdout == ""


def test_strict_catches_a_tampered_vendored_file(vendored: tuple[Path, Path], tmp_path: Path) -> None:
    out, _ = vendored
    bad = tmp_path / "bad.tar.gz"
    rewrite(out, bad, {"vendor/small.py": b"import os; os.system('evil')\n"})
    # The file and its manifest record agree, so plain verify is satisfied...
    assert verify_artifact(bad).files_checked == verify_artifact(out).files_checked
    assert run_cli("verify", str(bad)).returncode == 0
    # ...but the distribution's RECORD is not.
    r = run_cli("verify", str(bad), "--strict", "--json")
    assert r.returncode == 11, r.stdout
    doc = json.loads(r.stdout)
    validate(doc, "error")
    assert doc["error"]["error"] == "verify"
    assert doc["error"]["where"].startswith("vendor/small-1.0.dist-info/RECORD:")
    assert "does not match its RECORD hash" in doc["error"]["message"]


def test_strict_catches_an_unlisted_vendored_file(vendored: tuple[Path, Path], tmp_path: Path) -> None:
    out, _ = vendored
    bad = tmp_path / "bad.tar.gz"
    from packager.artifact.tarball import (
        Entry,
        Segment,
        iter_members,
        read_manifest,
        write_artifact,
    )
    from packager.records import replace

    m = read_manifest(out)
    entries = [Entry(x.path, x.data, x.mode & 0o777) for x in iter_members(out) if x.path != "manifest.json"]
    entries.append(Entry("vendor/sitecustomize.py", b"print('hi')\n"))
    write_artifact(bad, replace(m, files=tuple(e.record() for e in entries)), [Segment("all", tuple(entries))])
    verify_artifact(bad)
    with pytest.raises(VerifyError, match="not listed in any distribution's RECORD") as ei:
        verify_artifact(bad, strict=True)
    assert ei.value.where == "member 'vendor/sitecustomize.py'"


def test_strict_compares_the_cached_wheel(vendored: tuple[Path, Path], tmp_path: Path) -> None:
    """A consistent rewrite of a file AND its RECORD line passes the RECORD check, not the wheel check."""
    import base64
    import hashlib

    out, wh = vendored
    evil = b"VERSION = 'evil'\n"
    rec_path = "vendor/small-1.0.dist-info/RECORD"
    from packager.artifact.tarball import iter_members

    record = next(x.data for x in iter_members(out) if x.path == rec_path).decode()
    h = base64.urlsafe_b64encode(hashlib.sha256(evil).digest()).decode().rstrip("=")
    lines = [f"small.py,sha256={h},{len(evil)}" if ln.startswith("small.py,") else ln for ln in record.splitlines()]
    bad = tmp_path / "bad.tar.gz"
    rewrite(out, bad, {"vendor/small.py": evil, rec_path: ("\n".join(lines) + "\n").encode()})
    verify_artifact(bad, strict=True)  # no wheel at hand: RECORD is all there is
    with pytest.raises(VerifyError, match=r"differs from what small-1\.0-py3-none-any\.whl installs"):
        verify_artifact(bad, strict=True, wheel_dirs=[wh])


def test_strict_entry_must_parse_as_312(tmp_path: Path) -> None:
    src = source(tmp_path)
    out = tmp_path / "a.tar.gz"
    build_with(src, out)
    bad = tmp_path / "bad.tar.gz"
    rewrite(out, bad, {"handler.py": b"def handler(payload, ctx:\n    return 1\n"})
    verify_artifact(bad)
    with pytest.raises(VerifyError, match=r"does not parse as Python 3\.12"):
        verify_artifact(bad, strict=True)


def test_inspect_and_verify_errors_are_json(tmp_path: Path) -> None:
    missing = tmp_path / "nope.tar.gz"
    for cmd in ("inspect", "verify"):
        r = run_cli(cmd, str(missing), "--json")
        assert r.returncode == 11
        doc = json.loads(r.stdout)
        validate(doc, "error")
        assert doc["error"]["message"] == "artifact not found"


def test_strict_rejects_a_pyc_smuggled_into_a_plain_build(tmp_path: Path) -> None:
    from packager.artifact.tarball import (
        Entry,
        Segment,
        iter_members,
        read_manifest,
        write_artifact,
    )
    from packager.records import replace

    out = tmp_path / "a.tar.gz"
    build_with(source(tmp_path), out)
    m = read_manifest(out)
    entries = [Entry(x.path, x.data, x.mode & 0o777) for x in iter_members(out) if x.path != "manifest.json"]
    entries.append(Entry("__pycache__/handler.cpython-312.pyc", b"\xcb\r\r\n\x01\x00\x00\x00" + b"\0" * 16))
    bad = tmp_path / "bad.tar.gz"
    write_artifact(bad, replace(m, files=tuple(e.record() for e in entries)), [Segment("all", tuple(entries))])
    verify_artifact(bad)
    with pytest.raises(VerifyError, match="not built with --compile"):
        verify_artifact(bad, strict=True)
