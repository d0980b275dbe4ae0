"""--compile: CPython 3.12 unchecked-hash pycs, reproducible, and used by the launcher."""

from __future__ import annotations

import json
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

from packager.artifact.compile import compile_segment
from packager.artifact.manifest import pyc_path
from packager.artifact.tarball import read_manifest, unpack
from packager.build import build
from packager.errors import RuntimeNotFound
from packager.inspect.inspection import verify_artifact
from packager.options import BuildOptions
from tests.ci_helpers import build_with, source, wheelhouse
from tests.conftest import run_cli

HELLO = "def handler(payload, ctx):\n    from pkg.util import word\n    return word()\n"


def _src(root: Path) -> Path:
    return source(root, "fn", requirements="small==1.0\n",
                  files={"pkg/__init__.py": "", "pkg/util.py": "def word():\n    return 'compiled'\n",
                         "notes.txt": "not python\n"})


def _members(p: Path) -> dict[str, bytes]:
    with tarfile.open(p) as tf:
        return {m.name: tf.extractfile(m).read() for m in tf if m.isfile()}  # type: ignore[union-attr]


def test_compile_is_reproducible_across_directories(tmp_path: Path, python312: str, hermetic_pip: Path) -> None:
    wh = wheelhouse(tmp_path)
    a_src = _src(tmp_path / "one")
    (a_src / "handler.py").write_text(HELLO)
    b_src = tmp_path / "two" / "deeper" / "fn"
    shutil.copytree(a_src, b_src)
    a, b = tmp_path / "a.tar.gz", tmp_path / "b.tar.gz"
    ra = build_with(a_src, a, wh, compile=True, target_interpreter=python312)
    r = run_cli("build", str(b_src), "-o", str(b), "--compile", "--python", python312, "--json",
                "--wheelhouse", str(wh), "--offline")
    assert r.returncode == 0, r.stdout + r.stderr
    assert json.loads(r.stdout)["compiled"] is True
    assert a.read_bytes() == b.read_bytes()
    assert ra.manifest.compiled is True and read_manifest(b).compiled is True
    files = _members(a)
    pycs = sorted(p for p in files if p.endswith(".pyc") and not p.startswith("__ignite__/"))
    assert pycs == ["__pycache__/handler.cpython-312.pyc", "pkg/__pycache__/__init__.cpython-312.pyc",
                    "pkg/__pycache__/util.cpython-312.pyc", "vendor/__pycache__/small.cpython-312.pyc"]
    util = files["pkg/__pycache__/util.cpython-312.pyc"]
    assert util[:4] == b"\xcb\r\r\n" and util[4:8] == b"\x01\x00\x00\x00"  # 3.12 magic, unchecked hash
    assert b"pkg/util.py" in util and str(tmp_path).encode() not in util  # artifact-relative co_filename
    # The launcher's own pycs (if it ships them) are not --compile's business.
    plain = build_with(a_src, tmp_path / "plain.tar.gz", wh)
    launcher_pycs = {f.path for f in plain.manifest.files if f.path.endswith(".pyc")}
    assert all(p.startswith("__ignite__/") for p in launcher_pycs)
    assert {p for p in files if p.startswith("__ignite__/") and p.endswith(".pyc")} == launcher_pycs
    report = verify_artifact(a, strict=True, target_interpreter=python312)
    assert report.pycs_checked == 4 + len(launcher_pycs)


def test_the_launcher_runs_the_compiled_artifact(tmp_path: Path, python312: str) -> None:
    src = _src(tmp_path)
    (src / "requirements.txt").unlink()
    (src / "handler.py").write_text(HELLO)
    out = tmp_path / "c.tar.gz"
    build(BuildOptions(source=src, output=out, compile=True, target_interpreter=python312))
    r = run_cli("invoke", str(out), "--runtime", "bare", "--python", python312)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.strip() == "compiled"
    # And the pycs are what gets imported: with the source changed behind them, the
    # unchecked-hash pyc still wins (so a read-only container never compiles).
    run = tmp_path / "run"
    run.mkdir()
    unpack(out, run)
    (run / "pkg" / "util.py").write_text("def word():\n    return 'source'\n")
    proc = subprocess.run([python312, "-B", "-c", "from pkg.util import word; print(word())"], cwd=run,
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.stdout.strip() == "compiled", proc.stderr


def test_compile_skips_files_312_cannot_compile(tmp_path: Path, python312: str) -> None:
    from packager.artifact.tarball import Entry, Segment

    seg = Segment("source", (Entry("ok.py", b"X = 1\n"), Entry("py2.py", b"print 'x'\n"), Entry("a.txt", b"")))
    out = compile_segment([seg], python312)
    assert [e.path for e in out.segment.entries] == [pyc_path("ok.py")] == ["__pycache__/ok.cpython-312.pyc"]
    assert len(out.skipped) == 1 and out.skipped[0].startswith("py2.py: ")


def test_compile_without_312_is_runtime_not_found(tmp_path: Path) -> None:
    src = source(tmp_path)
    out = tmp_path / "o.tar.gz"
    with pytest.raises(RuntimeNotFound, match=r"--compile needs a CPython 3\.12"):
        build(BuildOptions(source=src, output=out, compile=True, target_interpreter=None, auto_python=False))
    assert not out.exists()
    r = run_cli("build", str(src), "-o", str(out), "--compile", "--python", str(tmp_path / "no-python"))
    assert r.returncode == 12 and not out.exists()


def test_compile_from_config(tmp_path: Path, python312: str) -> None:
    src = source(tmp_path)
    (src / "ignite.toml").write_text("compile = true\n")
    out = tmp_path / "o.tar.gz"
    r = run_cli("build", str(src), "-o", str(out), "--python", python312)
    assert r.returncode == 0, r.stderr
    assert read_manifest(out).compiled is True
    r = run_cli("build", str(src), "-o", str(out), "--no-compile", "--python", python312)
    assert r.returncode == 0 and read_manifest(out).compiled is False


def test_cached_segments_are_read_back_for_compiling() -> None:
    """Vendored segments arrive compressed (from the cache, chunked when large): their entries come back intact."""
    from packager.artifact.compile import segment_entries
    from packager.artifact.tarball import CHUNK_BYTES, Entry, Segment, compress_segment

    big = Entry("vendor/big.py", ("X = '" + "ab" * CHUNK_BYTES + "'\n").encode())
    seg = Segment("vendor:big", (Entry("vendor/a.py", b"A = 1\n"), big, Entry("vendor/run.sh", b"#!/bin/sh\n", 0o755)))
    comp = compress_segment(seg, 315532800, 4)
    assert len(comp.deflated) < comp.length
    assert segment_entries(comp) == seg.entries
