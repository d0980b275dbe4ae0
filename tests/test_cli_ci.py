"""CI ergonomics: one JSON object per command, --quiet, NO_COLOR, the size budget,
SOURCE_DATE_EPOCH, exit codes (and their table in docs/ci.md), shell completion."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from packager.artifact.tarball import read_manifest
from packager.cli.exit_codes import exit_code_rows, exit_code_table
from packager.cli.output import _use_color
from packager.cli.values import parse_size
from packager.errors import EXIT_CODES, INTERNAL_ERROR_EXIT, UsageError
from tests.ci_helpers import REPO, build_with, source, validate
from tests.conftest import run_cli
from tests.wheelhouse import make_wheel


def _noise(n: int) -> str:
    """Deterministic, poorly compressible text."""
    out, h = [], b"seed"
    while sum(map(len, out)) < n:
        h = hashlib.sha256(h).digest()
        out.append(h.hex())
    return "".join(out)[:n]


def test_every_command_prints_one_json_object(tmp_path: Path, hermetic_pip: Path) -> None:
    wh = tmp_path / "wh"
    make_wheel(wh, "small", "1.0")
    src = source(tmp_path, requirements="small\n")
    out = tmp_path / "a.tar.gz"
    common = ["--wheelhouse", str(wh), "--offline"]
    runs = {
        "build": run_cli("build", str(src), "-o", str(out), "--json", *common),
        "lock": run_cli("lock", str(src), "-o", str(tmp_path / "req.lock"), "--json", *common),
    }
    runs["inspect"] = run_cli("inspect", str(out), "--json")
    runs["verify"] = run_cli("verify", str(out), "--strict", "--json")
    runs["diff"] = run_cli("diff", str(out), str(out), "--json")
    runs["exit-codes"] = run_cli("exit-codes", "--json")
    for name, r in runs.items():
        assert r.returncode == 0, (name, r.stdout, r.stderr)
        doc = json.loads(r.stdout)  # exactly one JSON document, nothing else on stdout
        assert isinstance(doc, dict) and doc["ok"] is True, name
        assert "[intake]" not in r.stdout and "[intake]" not in r.stderr  # no progress logs under --json
    validate(json.loads(runs["build"].stdout), "build")
    validate(json.loads(runs["inspect"].stdout), "inspect")
    validate(json.loads(runs["verify"].stdout), "verify")
    validate(json.loads(runs["diff"].stdout), "diff")
    assert json.loads(runs["lock"].stdout)["schema"] == "ignite-lock/1"
    codes = {row["error"]: row["code"] for row in json.loads(runs["exit-codes"].stdout)["exit_codes"]}
    assert {k: codes[k] for k in EXIT_CODES} == EXIT_CODES


def test_invoke_json(tmp_path: Path, python312: str) -> None:
    src = source(tmp_path)
    out = tmp_path / "a.tar.gz"
    build_with(src, out)
    r = run_cli("invoke", str(out), "--json", "--runtime", "bare", "--python", python312)
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["ok"] is True and doc["status"] == 200 and doc["body"] == "ok"


def test_logs_go_to_stderr_and_quiet_silences_them(tmp_path: Path) -> None:
    src = source(tmp_path)
    out = tmp_path / "a.tar.gz"
    r = run_cli("build", str(src), "-o", str(out))
    assert r.returncode == 0 and r.stdout == f"{out}\n"
    assert "[intake]" in r.stderr and "built " in r.stderr
    r = run_cli("build", str(src), "-o", str(out), "--quiet")
    assert r.returncode == 0 and r.stdout == f"{out}\n" and r.stderr == ""
    r = run_cli("build", str(tmp_path / "missing"), "-o", str(out), "-q")
    assert r.returncode == 3 and r.stderr.startswith("error: ")  # errors still reported


def test_no_color(monkeypatch: pytest.MonkeyPatch) -> None:
    class Tty:
        def isatty(self) -> bool:
            return True

    monkeypatch.delenv("NO_COLOR", raising=False)
    assert _use_color(Tty()) is True
    monkeypatch.setenv("NO_COLOR", "1")
    assert _use_color(Tty()) is False
    monkeypatch.delenv("NO_COLOR")
    assert _use_color(sys.stderr) is sys.stderr.isatty()


def test_no_color_output_has_no_escapes(tmp_path: Path) -> None:
    r = run_cli("build", str(tmp_path / "missing"), env={"NO_COLOR": "1"})
    assert r.returncode == 3 and "\x1b[" not in r.stderr and "\nerror: " in r.stderr


@pytest.mark.parametrize(("text", "expected"), [
    ("50MB", 50_000_000), ("50mb", 50_000_000), ("1.5GiB", 1_610_612_736), ("300KB", 300_000),
    ("2KiB", 2048), ("1GB", 10**9), ("10MiB", 10 * 2**20), ("1024", 1024), (" 7 B ", 7),
])
def test_parse_size(text: str, expected: int) -> None:
    assert parse_size(text) == expected


def test_parse_size_rejects_garbage() -> None:
    for bad in ("fifty", "50XB", "-1MB", ""):
        with pytest.raises(UsageError):
            parse_size(bad)


def test_size_budget_names_the_biggest_contributors(tmp_path: Path, hermetic_pip: Path) -> None:
    wh = tmp_path / "wh"
    make_wheel(wh, "hefty", "1.0", files={"hefty/__init__.py": "", "hefty/blob.py": f"B = '{_noise(600_000)}'\n"})
    make_wheel(wh, "small", "1.0")
    src = source(tmp_path, requirements="hefty\nsmall\n")
    out = tmp_path / "a.tar.gz"
    r = run_cli("build", str(src), "-o", str(out), "--max-size", "100KB", "--json", "--wheelhouse", str(wh),
                "--offline")
    assert r.returncode == 10, r.stdout + r.stderr
    assert not out.exists() and not [p for p in tmp_path.iterdir() if p.name.startswith(".a.tar.gz")]
    doc = json.loads(r.stdout)
    validate(doc, "error")
    err = doc["error"]
    assert err["error"] == "artifact" and "over the budget of 100.0 kB (100000 bytes)" in err["message"]
    assert "biggest contributors (compressed): vendor:hefty " in err["message"]
    d = err["details"]
    assert d["max_size"] == 100_000 and d["size"] > 100_000 and d["over_by"] == d["size"] - 100_000
    assert d["segments"][0]["name"] == "vendor:hefty"
    assert d["vendored"][0]["name"] == "hefty" and d["vendored"][0]["size"] > 300_000
    assert d["top_level"][0]["path"] == "vendor/"
    r = run_cli("build", str(src), "-o", str(out), "--max-size", "100KB", "--wheelhouse", str(wh), "--offline")
    assert r.returncode == 10 and "vendor:hefty" in r.stderr and "hint: " in r.stderr and not out.exists()
    r = run_cli("build", str(src), "-o", str(out), "--max-size", "1MiB", "--wheelhouse", str(wh), "--offline")
    assert r.returncode == 0, r.stderr
    assert out.stat().st_size <= 2**20


def test_source_date_epoch(tmp_path: Path) -> None:
    src = source(tmp_path)
    a, b = tmp_path / "a.tar.gz", tmp_path / "b.tar.gz"
    r = run_cli("build", str(src), "-o", str(a), env={"SOURCE_DATE_EPOCH": "1700000000"})
    assert r.returncode == 0 and read_manifest(a).mtime == 1700000000
    r = run_cli("build", str(src), "-o", str(b), env={"SOURCE_DATE_EPOCH": "1700000000"})
    assert a.read_bytes() == b.read_bytes()
    r = run_cli("build", str(src), "-o", str(b), "--json", env={"SOURCE_DATE_EPOCH": "soon"})
    assert r.returncode == 10 and json.loads(r.stdout)["error"]["where"] == "SOURCE_DATE_EPOCH"


def test_exit_code_table_in_docs_matches_errors() -> None:
    for name in ("docs/ci.md", "README.md"):
        doc = (REPO / name).read_text()
        m = re.search(r"<!-- exit-codes:start -->\n(.*?)<!-- exit-codes:end -->", doc, re.S)
        assert m, f"{name} lacks the exit-codes markers"
        assert m.group(1) == exit_code_table(), f"{name}: regenerate with: ignite-pack exit-codes"
    rows = exit_code_rows()
    assert {(name, code) for code, name, _ in rows} >= set(EXIT_CODES.items())
    assert (INTERNAL_ERROR_EXIT, "internal") in {(c, n) for c, n, _ in rows}
    r = run_cli("exit-codes")
    assert r.returncode == 0 and r.stdout == exit_code_table()


def test_docs_name_every_schema() -> None:
    doc = (REPO / "docs" / "ci.md").read_text()
    for schema in sorted((REPO / "packager" / "schemas").glob("*.json")):
        assert f"packager/schemas/{schema.name}" in doc
        props = json.loads(schema.read_text())["properties"]
        const = (props.get("schema") or props["_type"])["const"]  # provenance: an in-toto Statement
        assert const in doc


def test_shell_completion() -> None:
    exe = Path(sys.executable).parent / "ignite-pack"
    if not exe.exists():
        pytest.skip("ignite-pack is not installed in this environment")
    env = {**os.environ, "_IGNITE_PACK_COMPLETE": "bash_source"}
    r = subprocess.run([str(exe)], env=env, capture_output=True, text=True, timeout=60, check=False)
    assert r.returncode == 0 and "_ignite_pack_completion" in r.stdout and "complete " in r.stdout
    env = {**os.environ, "_IGNITE_PACK_COMPLETE": "bash_complete", "COMP_WORDS": "ignite-pack di", "COMP_CWORD": "1"}
    r = subprocess.run([str(exe)], env=env, capture_output=True, text=True, timeout=60, check=False)
    assert "plain,diff" in r.stdout
