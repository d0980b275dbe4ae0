"""The launcher's committed bytecode (CPython 3.12 and 3.13): fresh, equal to the source, and used at start."""

from __future__ import annotations

import json
import subprocess
import tarfile
from pathlib import Path

import pytest

from packager.artifact.embed import (
    PYC_DIR,
    PYC_VERSIONS,
    launcher_entries,
    launcher_pycs,
    launcher_root,
)
from packager.artifact.manifest import cache_tag, pyc_path
from packager.artifact.tarball import unpack
from packager.build import build
from packager.options import BuildOptions
from tests.conftest import FIXTURES

STALE = "the launcher changed since its bytecode was generated: run `make launcher-pyc` and commit"


@pytest.mark.parametrize("version", PYC_VERSIONS)
def test_committed_bytecode_matches_the_current_launcher_sources(version: str) -> None:
    sources = [e for e in launcher_entries(version) if e.path.endswith(".py")]
    pycs = launcher_pycs(sources, version)
    assert pycs, STALE
    assert {p.path for p in pycs} == {pyc_path(s.path, cache_tag(version)) for s in sources}


def test_the_premade_launcher_segment_is_what_the_current_files_make() -> None:
    """The default build's premade segment (packager.artifact.embed.PREMADE_BLOB): the same bytes
    and records as deflating the launcher's tar now."""
    from packager.artifact import DEFAULT_LEVEL
    from packager.artifact.embed import PREMADE_FOR, _premade, _premade_index
    from packager.artifact.tarball import DEFAULT_MTIME, Segment, compress_tar

    version, convention = PREMADE_FOR
    index = _premade_index(version, convention)
    assert index is not None, STALE
    premade = _premade(index, version, convention, DEFAULT_MTIME, DEFAULT_LEVEL)
    assert premade is not None, STALE
    launcher_entries.cache_clear()
    seg = Segment("launcher", launcher_entries(version, convention))
    made = compress_tar(seg.name, seg.records, seg.tar(DEFAULT_MTIME), DEFAULT_LEVEL)
    assert (premade.data(), premade.crc, premade.length, premade.records) == \
        (made.data(), made.crc, made.length, seg.records)


def test_entries_read_back_from_the_premade_segment_are_the_files(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """A build with SOURCE_DATE_EPOCH (or another level) deflates its own launcher segment from
    the entries inflated out of the premade one: exactly the files', and none when a file changed."""
    import shutil

    from packager.artifact import embed

    version, convention = embed.PREMADE_FOR
    index = embed._premade_index(version, convention)
    assert index is not None, STALE
    launcher_entries.cache_clear()
    from_files = launcher_entries(version, convention)
    from_premade = embed._premade_entries(index)
    assert from_premade is not None
    assert [(e.path, e.data, e.mode, e.record()) for e in from_premade] == \
        [(e.path, e.data, e.mode, e.record()) for e in from_files]
    # a launcher source edited since the segment was made: nothing is read back from it
    launcher = tmp_path / "launcher"
    shutil.copytree(embed.launcher_root(), launcher, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(embed, "launcher_root", lambda: launcher)
    assert embed._premade_entries(index) is not None
    original = (launcher / "server.py").read_bytes()
    (launcher / "server.py").write_bytes(original + b"# edited\n")
    assert embed._premade_entries(index) is None
    (launcher / "server.py").write_bytes(original)
    copy = tmp_path / "launcher_pyc"
    shutil.copytree(embed.PYC_DIR, copy)
    monkeypatch.setattr(embed, "PYC_DIR", copy)
    assert embed._premade_entries(index) is not None
    (copy / embed.PREMADE_BLOB).write_bytes((copy / embed.PREMADE_BLOB).read_bytes()[:-10])
    assert embed._premade_entries(index) is None  # a truncated blob


@pytest.mark.parametrize("version", PYC_VERSIONS)
def test_bytecode_is_what_that_cpython_compiles_from_the_source(version: str, request: pytest.FixtureRequest) -> None:
    python = request.getfixturevalue("python" + version.replace(".", ""))
    sources = {e.path: e.data.decode("utf-8") for e in launcher_entries(version) if e.path.endswith(".py")}
    pycs = {p.path: p.data
            for p in launcher_pycs([e for e in launcher_entries(version) if e.path.endswith(".py")], version)}
    assert pycs, STALE
    # The launcher's pycs are its source compiled with every docstring removed (asserts kept) and
    # without column positions.
    script = (
        "import ast, importlib.util, json, marshal, sys\n"
        "def stripped(src, rel):\n"
        "    tree = ast.parse(src)\n"
        "    for node in ast.walk(tree):\n"
        "        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):\n"
        "            if ast.get_docstring(node, clean=False) is not None:\n"
        "                node.body = node.body[1:] or [ast.copy_location(ast.Pass(), node.body[0])]\n"
        "    return compile(tree, rel, 'exec', dont_inherit=True)\n"
        "items = json.load(sys.stdin)\n"
        "bad = []\n"
        "for rel, src, pyc_hex in items:\n"
        "    pyc = bytes.fromhex(pyc_hex)\n"
        "    flags = int.from_bytes(pyc[4:8], 'little')\n"
        "    code = marshal.loads(pyc[16:])\n"
        "    if flags != 1 or pyc[8:16] != importlib.util.source_hash(src.encode()) or code != stripped(src, rel):\n"
        "        bad.append(rel)\n"
        "print(json.dumps(bad))\n"
    )
    items = [[rel, src, pycs[pyc_path(rel, cache_tag(version))].hex()] for rel, src in sorted(sources.items())]
    proc = subprocess.run([python, "-I", "-X", "no_debug_ranges", "-c", script], input=json.dumps(items),
                          capture_output=True, text=True, timeout=120, check=True)
    assert json.loads(proc.stdout) == []
    # ... made with -X no_debug_ranges (no column positions: ~20 KB of deflate). Checked without
    # that flag, which would also drop them from code as it is loaded.
    columns = (
        "import json, marshal, sys\n"
        "bad = []\n"
        "for rel, _src, pyc_hex in json.load(sys.stdin):\n"
        "    todo = [marshal.loads(bytes.fromhex(pyc_hex)[16:])]\n"
        "    while todo:\n"
        "        c = todo.pop()\n"
        "        if any(p[2] is not None for p in c.co_positions()):\n"
        "            bad.append(rel + ': ' + c.co_qualname)\n"
        "            break\n"
        "        todo += [k for k in c.co_consts if hasattr(k, 'co_positions')]\n"
        "print(json.dumps(bad))\n"
    )
    proc = subprocess.run([python, "-I", "-c", columns], input=json.dumps(items), capture_output=True, text=True,
                          timeout=120, check=True)
    assert json.loads(proc.stdout) == []


def test_artifact_ships_the_bytecode_and_python_uses_it(tmp_path: Path, python312: str) -> None:
    out = tmp_path / "a.tar.gz"
    build(BuildOptions(source=FIXTURES / "python-hello", output=out))
    root = tmp_path / "root"
    root.mkdir()
    with tarfile.open(out) as tf:
        names = tf.getnames()
    unpack(out, root)
    assert "__ignite__/__pycache__/server.cpython-312.pyc" in names
    # Unchecked-hash pycs are used without looking at the source: break the source, the import still works.
    target = root / "__ignite__" / "protocol.py"
    target.write_text("raise SystemExit('the source was compiled instead of the shipped bytecode')\n")
    proc = subprocess.run(
        [python312, "-c", "import __ignite__.protocol as p; print(p.Response.__name__)"],
        cwd=root, capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "Response"
    assert PYC_DIR.is_dir()


def test_the_launcher_bytecode_and_shipped_source_have_no_docstrings(tmp_path: Path, python312: str) -> None:
    out = tmp_path / "a.tar.gz"
    build(BuildOptions(source=FIXTURES / "python-hello", output=out))
    root = tmp_path / "root"
    root.mkdir()
    unpack(out, root)
    proc = subprocess.run(
        [python312, "-c", "import __ignite__.server as s, __ignite__.http11 as h;"
                          "print(s.__doc__, h.__doc__, s.Server.__doc__)"],
        cwd=root, capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["None", "None", "None"]
    shipped = (root / "__ignite__" / "server.py").read_text("utf-8")
    original = (launcher_root() / "server.py").read_text("utf-8")
    assert '"""' in original and '"""' not in shipped and "# " in original
    assert shipped.splitlines()[0].startswith("# comments and docstrings removed, lines kept: launcher/server.py")
    assert len(shipped.splitlines()) == len(original.splitlines())


def test_the_shipped_launcher_source_is_the_repos_line_for_line_without_comments_and_docstrings() -> None:
    """Each stripped file in launcher_pyc/ is what stripping the current source makes (stale: run
    `make launcher-pyc`); every line is the original's, its comment cut, or empty; the code is the same."""
    from packager.artifact.embed import _launcher_sources, stripped_name
    from packager.artifact.stripping import strip_source

    for e in _launcher_sources():
        shipped = (PYC_DIR / stripped_name(e.path)).read_bytes()
        note = shipped.decode("utf-8").splitlines()[0].lstrip("# ") if shipped.startswith(b"# ") else ""
        assert shipped == strip_source(e.data, e.path, note), STALE
        for n, (line, was) in enumerate(zip(shipped.decode().splitlines(), e.data.decode().splitlines()), 1):
            assert not line or was.startswith(line) or line.strip() in ("pass", "# " + note), (e.path, n, line)
        assert shipped.count(b"\n") == e.data.count(b"\n")


def test_stripping_refuses_a_result_that_is_not_the_same_code(monkeypatch: pytest.MonkeyPatch) -> None:
    from packager.artifact import stripping
    from packager.errors import ArtifactError

    source = b'"""Doc."""\n\n\ndef f(x):  # a comment\n    """Doc."""\n    return x  # another\n\n\nclass C:\n    """Only a docstring."""\n'
    out = stripping.strip_source(source, "m.py", "note").decode()
    assert out == "# note\n\n\ndef f(x):\n\n    return x\n\n\nclass C:\n    pass\n"
    # a comment sign inside a string stays; a coding line stays
    assert stripping.strip_source(b"# -*- coding: utf-8 -*-\nx = '# not a comment'  # one\n", "m.py", "n") == \
        b"# -*- coding: utf-8 -*-\nx = '# not a comment'\n"
    real = stripping._without_comments
    monkeypatch.setattr(stripping, "_without_comments", lambda text: [ln.replace("return x", "return 1")
                                                                      for ln in real(text)])
    with pytest.raises(ArtifactError, match="changed its code or its lines"):
        stripping.strip_source(source, "m.py", "note")
