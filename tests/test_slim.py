"""--slim: vendored test suites left out, RECORD/manifest/verify consistent, cache keyed, source untouched."""

from __future__ import annotations

import csv
import io
import json
import tarfile
import zipfile
from pathlib import Path

import pytest

from packager.artifact.tarball import Segment as ArtSegment
from packager.artifact.tarball import iter_members, read_manifest, write_artifact
from packager.deps.slim import SlimSettings
from packager.errors import UsageError, VerifyError
from packager.inspect.inspection import inspect_artifact, verify_artifact
from packager.records import replace
from tests.ci_helpers import build_with, source, validate
from tests.conftest import run_cli
from tests.wheelhouse import make_wheel

SCI_FILES = {
    "sci/__init__.py": "from sci.core import f\n",
    "sci/core.py": "def f():\n    return 42\n",
    "sci/core.pyi": "def f() -> int: ...\n",
    "sci/testing.py": "# public helpers, imported at run time: kept\n",
    "sci/_testutils.py": "# kept: not a tests package\n",
    "sci/tests_helper.py": "# kept: only a directory named tests/ is a test suite\n",
    "sci/conftest.py": "import pytest\n",
    "sci/tests/__init__.py": "",
    "sci/tests/test_core.py": "def test_f():\n    assert True\n" * 50,
    "sci/tests/data/big.csv": "1,2,3\n" * 4000,
    "sci/sub/__init__.py": "",
    "sci/sub/test/test_sub.py": "def test_x():\n    pass\n",
    "sci/docs/guide.txt": "read me\n",
}
DROPPED_BY_DEFAULT = {"sci/conftest.py", "sci/tests/__init__.py", "sci/tests/test_core.py",
                      "sci/tests/data/big.csv", "sci/sub/test/test_sub.py"}


@pytest.fixture
def wh(tmp_path: Path, hermetic_pip: Path) -> Path:
    w = tmp_path / "wheelhouse"
    make_wheel(w, "sci", "1.0", files=SCI_FILES)
    make_wheel(w, "plain", "1.0")
    return w


def _src(tmp_path: Path, name: str = "src") -> Path:
    # the user's own tests/ and conftest.py must ship untouched
    return source(tmp_path, name, requirements="sci\nplain\n",
                  files={"tests/test_handler.py": "def test_h():\n    pass\n", "conftest.py": "\n"})


def _names(art: Path) -> set[str]:
    with tarfile.open(art) as tf:
        return set(tf.getnames())


def test_slim_drops_vendored_test_suites_only(tmp_path: Path, wh: Path) -> None:
    out = tmp_path / "slim.tar.gz"
    res = build_with(_src(tmp_path), out, wh, slim=SlimSettings(tests=True))
    names = _names(out)
    for rel in DROPPED_BY_DEFAULT:
        assert f"vendor/{rel}" not in names
    for rel in set(SCI_FILES) - DROPPED_BY_DEFAULT:
        assert f"vendor/{rel}" in names, rel
    assert not any("/tests/" in n or "/test/" in n for n in names if n.startswith("vendor/"))
    assert {"tests/test_handler.py", "conftest.py", "vendor/plain.py"} <= names  # the user's source untouched
    # per distribution: what was dropped, in files and bytes
    slim = res.manifest.slim
    assert slim["dropped"]["sci"] == {"files": len(DROPPED_BY_DEFAULT),
                                      "bytes": sum(len(SCI_FILES[p].encode()) for p in DROPPED_BY_DEFAULT)}
    assert slim["dropped"]["plain"] == {"files": 0, "bytes": 0}
    assert slim["total"] == slim["dropped"]["sci"]
    assert slim["patterns"] == ["tests/", "test/", "conftest.py"]
    # RECORD lists exactly what ships for that distribution
    members = {m.path: m.data for m in iter_members(out)}
    record = members["vendor/sci-1.0.dist-info/RECORD"].decode()
    listed = {row[0] for row in csv.reader(io.StringIO(record)) if row}
    shipped = {p[len("vendor/"):] for p in members if p.startswith(("vendor/sci/", "vendor/sci-1.0.dist-info/"))}
    assert listed == shipped
    # the manifest on disk says the same
    assert read_manifest(out).slim == slim


def test_no_slim_keeps_everything_and_records_nothing(tmp_path: Path, wh: Path) -> None:
    out = tmp_path / "full.tar.gz"
    res = build_with(_src(tmp_path), out, wh)
    assert {f"vendor/{p}" for p in SCI_FILES} <= _names(out)
    assert res.manifest.slim == {}
    assert "slim" not in json.loads(next(iter_members(out)).data)
    assert inspect_artifact(out).to_dict()["slim"] is None


def test_slim_verify_strict_reinstalls_the_cached_wheel_with_the_same_settings(tmp_path: Path, wh: Path) -> None:
    out = tmp_path / "slim.tar.gz"
    build_with(_src(tmp_path), out, wh, slim=SlimSettings(tests=True, drop=("*.pyi",)))
    report = verify_artifact(out, strict=True, wheel_dirs=[wh])
    assert "slim" in report.checks and "records" in report.checks
    assert set(report.wheels_checked) == {"sci-1.0-py3-none-any.whl", "plain-1.0-py3-none-any.whl"}
    r = run_cli("verify", str(out), "--strict", "--wheelhouse", str(wh), "--json")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "slim" in json.loads(r.stdout)["checks"]


def test_strict_refuses_a_file_the_recorded_patterns_drop(tmp_path: Path, wh: Path) -> None:
    full = tmp_path / "full.tar.gz"
    build_with(_src(tmp_path), full, wh)
    m = read_manifest(full)
    entries = [m2 for m2 in iter_members(full) if m2.path != "manifest.json"]
    from packager.artifact.tarball import Entry

    forged = replace(m, slim={**SlimSettings(tests=True).to_dict(), "dropped": {}})
    bad = tmp_path / "bad.tar.gz"
    write_artifact(bad, forged, [ArtSegment("all", tuple(Entry(e.path, e.data, e.mode & 0o777) for e in entries))])
    verify_artifact(bad)  # plain verify: hashes still match
    with pytest.raises(VerifyError, match="slim patterns drop") as ei:
        verify_artifact(bad, strict=True)
    assert "vendor/sci/" in (ei.value.where or "")


def test_slim_is_deterministic_and_segments_are_keyed_by_the_settings(tmp_path: Path, wh: Path) -> None:
    cache = tmp_path / "cache"
    a, b, full, keep = (tmp_path / f"{n}.tar.gz" for n in ("a", "b", "full", "keep"))
    build_with(_src(tmp_path, "s1"), a, wh, slim=SlimSettings(tests=True), cache_dir=cache)
    # the same cache, without slim: the cached slim segment must not be reused
    build_with(_src(tmp_path, "s2"), full, wh, cache_dir=cache)
    assert "vendor/sci/tests/test_core.py" in _names(full)
    # with slim again, from a warm cache, in another directory: the same bytes
    build_with(_src(tmp_path, "s3"), b, wh, slim=SlimSettings(tests=True), cache_dir=cache)
    assert a.read_bytes() == b.read_bytes()
    # another keep pattern is another segment too
    build_with(_src(tmp_path, "s4"), keep, wh, slim=SlimSettings(tests=True, keep=("sci/tests/data/",)),
               cache_dir=cache)
    names = _names(keep)
    assert "vendor/sci/tests/data/big.csv" in names and "vendor/sci/tests/test_core.py" not in names
    # one cached segment per (wheel, settings): 2 wheels x 3 settings (a and b shared theirs);
    # the launcher's is premade for these default builds, never cached
    assert len(list((cache / "segments").glob("*.bin"))) == 6


def test_drop_and_keep_patterns(tmp_path: Path, wh: Path) -> None:
    out = tmp_path / "p.tar.gz"
    res = build_with(_src(tmp_path), out, wh,
                     slim=SlimSettings(drop=("*.pyi", "docs/"), keep=("sci/docs/guide.txt",)))
    names = _names(out)
    assert "vendor/sci/core.pyi" not in names
    assert "vendor/sci/docs/guide.txt" in names  # keep wins over drop
    assert "vendor/sci/tests/test_core.py" in names  # --slim-drop alone does not drop test suites
    assert res.manifest.slim["dropped"]["sci"]["files"] == 1
    assert res.manifest.slim["patterns"] == ["*.pyi", "docs/"]


def test_dist_info_is_never_dropped(tmp_path: Path, wh: Path) -> None:
    out = tmp_path / "d.tar.gz"
    build_with(_src(tmp_path), out, wh, slim=SlimSettings(drop=("*",), keep=("sci/__init__.py",)))
    names = {n for n in _names(out) if n.startswith("vendor/")}
    assert names == {"vendor/sci/__init__.py", *(f"vendor/{d}-1.0.dist-info/{f}" for d in ("sci", "plain")
                                                  for f in ("METADATA", "WHEEL", "RECORD", "INSTALLER"))}
    verify_artifact(out, strict=True, wheel_dirs=[wh])


def test_invalid_pattern_is_a_usage_error() -> None:
    with pytest.raises(UsageError) as ei:
        SlimSettings(drop=("",)).matcher()
    assert ei.value.where == "--slim-drop"


def test_cli_slim_inspect_shows_the_savings(tmp_path: Path, wh: Path) -> None:
    src = _src(tmp_path)
    out = tmp_path / "cli.tar.gz"
    r = run_cli("build", str(src), "-o", str(out), "--wheelhouse", str(wh), "--offline", "--slim",
                "--slim-drop", "*.pyi", "--json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    validate(doc, "build")
    assert doc["slim"]["total"]["files"] == len(DROPPED_BY_DEFAULT) + 1
    r = run_cli("inspect", str(out), "--json")
    ins = json.loads(r.stdout)
    validate(ins, "inspect")
    s = ins["slim"]
    assert s["dropped_files"] == len(DROPPED_BY_DEFAULT) + 1 and s["patterns"][-1] == "*.pyi"
    assert s["distributions"][0]["name"] == "sci" and 0 < s["ratio"] < 1
    text = run_cli("inspect", str(out)).stdout
    assert "slim" in text and "sci" in text and f"{s['dropped_files']} files" in text


def test_config_file_turns_slim_on(tmp_path: Path, wh: Path) -> None:
    src = _src(tmp_path)
    (src / "ignite.toml").write_text('slim = true\nslim-keep = ["sci/tests/data/"]\n')
    out = tmp_path / "cfg.tar.gz"
    r = run_cli("build", str(src), "-o", str(out), "--wheelhouse", str(wh), "--offline", "--json")
    assert r.returncode == 0, r.stderr
    names = _names(out)
    assert "vendor/sci/tests/data/big.csv" in names and "vendor/sci/conftest.py" not in names
    r = run_cli("build", str(src), "-o", str(out), "--wheelhouse", str(wh), "--offline", "--no-slim", "--json")
    assert r.returncode == 0, r.stderr
    assert "vendor/sci/conftest.py" in _names(out)  # the flag wins over the file


def test_wheel_fixture_really_holds_the_test_suite(wh: Path) -> None:
    with zipfile.ZipFile(wh / "sci-1.0-py3-none-any.whl") as zf:
        assert set(zf.namelist()) >= DROPPED_BY_DEFAULT


def test_diff_names_the_slim_settings_and_the_dropped_files(tmp_path: Path, wh: Path) -> None:
    full, slim = tmp_path / "full.tar.gz", tmp_path / "slim.tar.gz"
    build_with(_src(tmp_path, "a"), full, wh)
    build_with(_src(tmp_path, "b"), slim, wh, slim=SlimSettings(tests=True))
    r = run_cli("diff", str(full), str(slim), "--json")
    assert r.returncode == 1, r.stderr
    doc = json.loads(r.stdout)
    validate(doc, "diff")
    change = next(c for c in doc["metadata"] if c["field"] == "slim")
    assert change["old"] is None and change["new"]["patterns"] == ["tests/", "test/", "conftest.py"]
    assert len(doc["vendor_files"]["removed"]) == len(DROPPED_BY_DEFAULT)
