"""``ignite-pack verify ARTIFACT --rebuild SOURCE`` (issue 30 item 3)."""

from __future__ import annotations

import json
from pathlib import Path

from tests.ci_helpers import validate
from tests.conftest import run_cli
from tests.wheelhouse import make_wheel


def _setup(tmp_path: Path) -> tuple[Path, Path, Path]:
    src = tmp_path / "src"
    src.mkdir()
    (src / "handler.py").write_text("import dep\n\ndef handler(payload, ctx):\n    return dep.VERSION\n")
    (src / "util.py").write_text("X = 1\n")
    (src / "requirements.txt").write_text("dep==1.0\n")
    wh = tmp_path / "wheelhouse"
    make_wheel(wh, "dep", "1.0")
    art = tmp_path / "a.tar.gz"
    # Settings that differ from the defaults: the rebuild must take them from the manifest.
    r = run_cli("build", str(src), "-o", str(art), "--wheelhouse", str(wh), "--offline", "--level", "7",
                "--cache-dir", str(tmp_path / "c1"), env={"SOURCE_DATE_EPOCH": "1700000000"})
    assert r.returncode == 0, r.stderr
    return src, wh, art


def test_rebuild_of_the_same_source_is_byte_identical(tmp_path: Path) -> None:
    src, wh, art = _setup(tmp_path)
    r = run_cli("verify", str(art), "--rebuild", str(src), "--wheelhouse", str(wh), "--offline", "--json")
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    validate(report, "rebuild")
    assert report["identical"] is True and report["differences"] == []
    assert report["settings"]["level"] == 7 and report["settings"]["mtime"] == 1700000000
    assert report["rebuild_sha256"] == report["artifact_sha256"]


def test_rebuild_of_a_changed_source_exits_11_naming_the_file(tmp_path: Path) -> None:
    src, wh, art = _setup(tmp_path)
    (src / "handler.py").write_text("import dep\n\ndef handler(payload, ctx):\n    return 'changed'\n")
    r = run_cli("verify", str(art), "--rebuild", str(src), "--wheelhouse", str(wh), "--offline")
    assert r.returncode == 11, r.stderr
    assert "handler.py: differs" in r.stderr and "different source file(s): handler.py" in r.stderr
    assert "util.py" not in r.stderr
    r = run_cli("verify", str(art), "--rebuild", str(src), "--wheelhouse", str(wh), "--offline", "--json")
    assert r.returncode == 11
    err = json.loads(r.stdout)["error"]
    validate(err["details"], "rebuild")
    assert err["exit_code"] == 11 and err["error"] == "verify"
    diffs = err["details"]["differences"]
    assert {"path": "handler.py", "side": "changed"}.items() <= next(d for d in diffs if d["path"] == "handler.py").items()
    assert err["details"]["cause"].startswith("different source file(s): handler.py")


def test_rebuild_names_a_file_only_one_side_has(tmp_path: Path) -> None:
    src, wh, art = _setup(tmp_path)
    (src / "util.py").unlink()
    (src / "extra.py").write_text("Y = 2\n")
    r = run_cli("verify", str(art), "--rebuild", str(src), "--wheelhouse", str(wh), "--offline", "--json")
    assert r.returncode == 11
    diffs = {d["path"]: d["side"] for d in json.loads(r.stdout)["error"]["details"]["differences"]}
    assert diffs["util.py"] == "only-artifact" and diffs["extra.py"] == "only-rebuild"


def test_rebuild_takes_the_conventions_recorded_options(tmp_path: Path) -> None:
    """--lambda-payload and --init-param are recorded in the manifest: the rebuild uses them too."""
    lam = tmp_path / "lam"
    lam.mkdir()
    (lam / "handler.py").write_text("def handler(event, context):\n    return event\n")
    a = tmp_path / "lam.tar.gz"
    r = run_cli("build", str(lam), "-o", str(a), "--convention", "lambda", "--lambda-payload", "raw")
    assert r.returncode == 0, r.stderr
    r = run_cli("verify", str(a), "--rebuild", str(lam), "--json")
    assert r.returncode == 0, r.stderr + r.stdout
    assert json.loads(r.stdout)["settings"]["lambda_payload"] == "raw"
    dh = tmp_path / "dh"
    dh.mkdir()
    (dh / "handler.py").write_text("def init(context, size=1):\n    pass\n\ndef handler(event):\n    return 1\n")
    b = tmp_path / "dh.tar.gz"
    r = run_cli("build", str(dh), "-o", str(b), "--convention", "digitalhub", "--init", "init",
                "--init-param", "size=3")
    assert r.returncode == 0, r.stderr
    r = run_cli("verify", str(b), "--rebuild", str(dh), "--json")
    assert r.returncode == 0, r.stderr + r.stdout
    assert json.loads(r.stdout)["settings"]["init_params"] == {"size": 3}
