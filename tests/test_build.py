"""Intake, checks and the deterministic artifact, through the library and the CLI."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

from packager.artifact.tarball import iter_members, read_manifest
from packager.build import build
from packager.errors import ArtifactError, HandlerError, SourceError
from packager.options import BuildOptions
from packager.source.checks import EntryPoint, check_source
from packager.source.intake import SourceFile, SourceTree, read_source
from tests.conftest import FIXTURES, run_cli

HELLO = FIXTURES / "python-hello"


def _zip(path: Path, files: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return path


def _targz(path: Path, files: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as tf:
        for name, data in files.items():
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            tf.addfile(ti, io.BytesIO(data))
    return path


# ------------------------------------------------------------------ intake


def test_kinds_are_detected_by_content_not_extension(tmp_path: Path) -> None:
    handler = (HELLO / "handler.py").read_bytes()
    z = _zip(tmp_path / "source.tar.gz", {"handler.py": handler})  # a zip with a misleading name
    t = _targz(tmp_path / "source.zip", {"./handler.py": handler})  # and a tar.gz named .zip
    assert read_source(z).kind == "zip"
    tree = read_source(t)
    assert tree.kind == "tar"
    assert tree.paths == ["handler.py"]  # "./" prefix normalized


def test_directory_skips_caches_and_vcs(tmp_path: Path) -> None:
    src = tmp_path / "fn"
    (src / "__pycache__").mkdir(parents=True)
    (src / ".git").mkdir()
    (src / "handler.py").write_text("def handler(p, c):\n    return 1\n")
    (src / "__pycache__" / "handler.cpython-312.pyc").write_bytes(b"\0")
    (src / ".git" / "HEAD").write_text("ref")
    (src / "lib.pyc").write_bytes(b"\0")
    tree = read_source(src)
    assert tree.paths == ["handler.py"]
    assert tree.ignored == ("lib.pyc",)


def test_missing_source_and_unknown_file(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="does not exist"):
        read_source(tmp_path / "nope")
    (tmp_path / "data.bin").write_bytes(b"\x00\x01binary")
    with pytest.raises(SourceError, match="neither a Python file nor"):
        read_source(tmp_path / "data.bin")


# ------------------------------------------------------------------ checks


def test_nested_handler_is_explained_with_the_fix() -> None:
    tree = SourceTree("zip", (SourceFile("app/handler.py", b"def handler(p, c): pass\n"),))
    with pytest.raises(HandlerError) as err:
        check_source(tree)
    assert err.value.where == "handler.py"
    assert "not at the root" in err.value.message
    assert "cd app && zip -r" in (err.value.hint or "")
    assert err.value.exit_code == 5


def test_not_utf8_names_line_and_column() -> None:
    tree = SourceTree("file", (SourceFile("handler.py", b"x = 1\ny = '\xff'\n"),))
    with pytest.raises(HandlerError) as err:
        check_source(tree)
    assert err.value.where == "handler.py:2"
    assert "0xff" in err.value.message and "column 6" in err.value.message


def test_syntax_error_names_the_line() -> None:
    tree = SourceTree("file", (SourceFile("handler.py", b"def handler(p, c):\n    return (\n\nx = \n"),))
    with pytest.raises(HandlerError) as err:
        check_source(tree)
    assert err.value.where is not None and err.value.where.startswith("handler.py:")
    assert "invalid Python 3.12 syntax" in err.value.message


def test_python312_only_syntax_is_accepted(python312: str) -> None:
    src = b"type Pair = tuple[int, int]\ndef handler[T](payload: T, ctx) -> T:\n    return payload\n"
    tree = SourceTree("file", (SourceFile("handler.py", src),))
    checked = check_source(tree, target_interpreter=python312)
    assert checked.entry_file == "handler.py"


def test_entry_not_bound_lists_the_functions_found() -> None:
    tree = SourceTree("file", (SourceFile("handler.py", b"def main(p, c):\n    return 1\n"),))
    with pytest.raises(HandlerError) as err:
        check_source(tree)
    assert "'handler' is not defined at module level" in err.value.message
    assert "--entry handler:NAME" in (err.value.hint or "") and "main" in (err.value.hint or "")


def test_entry_bound_by_assignment_import_or_conditional() -> None:
    for body in (
        b"def _impl(p, c): return 1\nhandler = _impl\n",
        b"from json import dumps as handler\n",
        b"try:\n    import ujson\nexcept ImportError:\n    def handler(p, c): return 2\n",
    ):
        check_source(SourceTree("file", (SourceFile("handler.py", body),)))


def test_entry_option_chooses_module_and_function() -> None:
    tree = SourceTree("directory", (SourceFile("app/main.py", b"async def run(p, c):\n    return 1\n"),))
    checked = check_source(tree, EntryPoint.parse("app.main:run"))
    assert checked.entry_file == "app/main.py" and checked.is_async
    assert checked.signature == ("p", "c")


def test_reserved_names_are_refused() -> None:
    for path in ("__ignite__/x.py", "manifest.json", "vendor/six.py"):
        tree = SourceTree("zip", (SourceFile("handler.py", b"def handler(p, c): pass\n"), SourceFile(path, b"")))
        with pytest.raises(HandlerError) as err:
            check_source(tree)
        assert "reserved" in err.value.message


def test_single_file_with_another_name_is_told_how_to_fix(tmp_path: Path) -> None:
    f = tmp_path / "main.py"
    f.write_text("def handler(p, c):\n    return 1\n")
    with pytest.raises(HandlerError) as err:
        check_source(read_source(f))
    assert "rename it to handler.py" in (err.value.hint or "")


# ------------------------------------------------------------------ artifact


def test_layout_manifest_first_and_normalized(tmp_path: Path) -> None:
    out = tmp_path / "a.tar.gz"
    result = build(BuildOptions(source=HELLO, output=out))
    with tarfile.open(out, "r|gz") as tf:  # streaming mode reads the whole single gzip member
        members = list(tf)
    assert members[0].name == "manifest.json"
    names = [m.name for m in members]
    assert "handler.py" in names and "__ignite__/__main__.py" in names
    for m in members:
        assert m.uid == 0 and m.gid == 0 and m.uname == "" and m.gname == ""
        assert m.mode in (0o644, 0o755) and m.isfile()
        assert m.mtime == 315532800
    raw = out.read_bytes()
    assert raw[:2] == b"\x1f\x8b" and raw[4:8] == b"\0\0\0\0"  # gzip mtime 0
    assert raw[3] & 0x08 == 0  # no file name in the gzip header
    with tarfile.open(out) as tf:
        manifest = json.loads(tf.extractfile("manifest.json").read())  # type: ignore[union-attr]
    assert manifest["entry"] == {"module": "handler", "function": "handler"}
    assert manifest["run"] == ["python", "-m", "__ignite__"]
    assert manifest["target"]["python"] == "3.12"
    recorded = {f["path"] for f in manifest["files"]}
    assert recorded == set(names) - {"manifest.json"}
    assert result.sha256 and result.size == len(raw)


def test_plain_tar_reads_the_artifact(tmp_path: Path) -> None:
    out = tmp_path / "a.tar.gz"
    build(BuildOptions(source=HELLO, output=out))
    dest = tmp_path / "x"
    dest.mkdir()
    subprocess.run(["tar", "xzf", str(out), "-C", str(dest)], check=True)
    assert (dest / "handler.py").read_bytes() == (HELLO / "handler.py").read_bytes()
    assert (dest / "__ignite__" / "__main__.py").is_file()


def test_two_builds_from_different_directories_are_byte_identical(tmp_path: Path) -> None:
    a, b = tmp_path / "one" / "deep" / "fn", tmp_path / "two"
    shutil.copytree(HELLO, a)
    shutil.copytree(HELLO, b)
    os.utime(b / "handler.py", (1_000_000_000, 1_000_000_000))  # different mtimes
    os.chmod(b / "handler.py", 0o600)  # and different permissions
    out_a, out_b = tmp_path / "a.tar.gz", tmp_path / "b.tar.gz"
    ra = run_cli("build", str(a), "-o", str(out_a), cwd=a)
    rb = run_cli("build", "two", "-o", str(out_b), cwd=tmp_path)
    assert ra.returncode == 0, ra.stderr
    assert rb.returncode == 0, rb.stderr
    assert out_a.read_bytes() == out_b.read_bytes()


@pytest.fixture
def no_premade(monkeypatch: pytest.MonkeyPatch) -> None:
    """The default build's launcher segment is made from the files and cached, as every other build's."""
    from packager.artifact import embed

    monkeypatch.setattr(embed, "PREMADE_FOR", ("none", "none"))


def test_the_default_build_ships_the_premade_launcher_segment_and_any_other_makes_its_own(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The premade segment is used only for the defaults and unchanged launcher files; the bytes
    are those the files make."""
    from packager.artifact import embed

    def no_deflate(*args: object, **kwargs: object) -> None:
        raise AssertionError("the launcher segment was made, not premade")

    cache = tmp_path / "cache"
    premade = tmp_path / "premade.tar.gz"
    with monkeypatch.context() as m:
        m.setattr(embed, "compress_tar", no_deflate)
        m.setattr(embed, "launcher_entries", no_deflate)
        build(BuildOptions(source=HELLO, output=premade, cache_dir=cache))
    assert not list((cache / "segments").glob("*.bin"))  # (nothing to cache)
    with monkeypatch.context() as m:
        m.setattr(embed, "PREMADE_FOR", ("none", "none"))
        made = tmp_path / "made.tar.gz"
        build(BuildOptions(source=HELLO, output=made, cache_dir=tmp_path / "other-cache"))
    assert made.read_bytes() == premade.read_bytes()

    # Another mtime or level: the premade segment's entries (inflated, not read from the files)
    # are deflated again; another convention reads its files. The bytes are the files' in each case.
    for label, kw, from_files in (
        ("a SOURCE_DATE_EPOCH", {"env": {"SOURCE_DATE_EPOCH": "1700000000"}}, 0),
        ("another level", {"level": 6}, 0),
        ("another convention", {"convention": "yandex"}, 1),
    ):
        embed.launcher_entries.cache_clear()
        got = build(BuildOptions(source=HELLO, output=tmp_path / "got.tar.gz", cache_dir=tmp_path / label, **kw))
        assert embed.launcher_entries.cache_info().misses == from_files, label
        with monkeypatch.context() as m:
            m.setattr(embed, "PREMADE_FOR", ("none", "none"))
            want = build(BuildOptions(source=HELLO, output=tmp_path / "want.tar.gz",
                                      cache_dir=tmp_path / (label + " no premade"), **kw))
        assert got.sha256 == want.sha256 != build(BuildOptions(
            source=HELLO, output=tmp_path / "default.tar.gz", cache_dir=tmp_path / "cd")).sha256, label

    launcher = tmp_path / "launcher"  # an edited launcher: its own files ship, never the premade ones
    shutil.copytree(embed.launcher_root(), launcher, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(embed, "launcher_root", lambda: launcher)
    with (launcher / "server.py").open("a") as f:
        f.write("# edited\n")
    edited = tmp_path / "edited.tar.gz"
    build(BuildOptions(source=HELLO, output=edited, cache_dir=tmp_path / "c-edited"))
    with tarfile.open(edited) as tf:
        member = tf.extractfile("__ignite__/server.py")
        assert member is not None and member.read().endswith(b"# edited\n")
    embed.launcher_entries.cache_clear()


@pytest.mark.usefixtures("no_premade")
def test_a_warm_build_finds_the_launcher_segment_by_its_files_stamps(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """Found by stat stamps, the launcher is not read, filtered or tarred again; a changed file is."""
    from packager.artifact import embed

    launcher = tmp_path / "launcher"
    shutil.copytree(embed.launcher_root(), launcher, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(embed, "launcher_root", lambda: launcher)
    embed.launcher_entries.cache_clear()
    cache = tmp_path / "cache"
    first = tmp_path / "first.tar.gz"
    build(BuildOptions(source=HELLO, output=first, cache_dir=cache))
    assert embed.launcher_entries.cache_info().misses == 1

    embed.launcher_entries.cache_clear()
    again = tmp_path / "again.tar.gz"
    build(BuildOptions(source=HELLO, output=again, cache_dir=cache))
    assert embed.launcher_entries.cache_info().misses == 0  # the pointer, its records and the blob
    assert again.read_bytes() == first.read_bytes()

    with (launcher / "server.py").open("a") as f:  # a rewritten launcher file: made from the files again
        f.write("# changed\n")
    embed.launcher_entries.cache_clear()
    changed = tmp_path / "changed.tar.gz"
    build(BuildOptions(source=HELLO, output=changed, cache_dir=cache))
    assert embed.launcher_entries.cache_info().misses == 1
    with tarfile.open(changed) as tf:
        member = tf.extractfile("__ignite__/server.py")
        assert member is not None and member.read().endswith(b"# changed\n")
        # (a changed source has no committed bytecode: none is shipped)
        assert not [n for n in tf.getnames() if n.startswith("__ignite__/__pycache__/")]
    embed.launcher_entries.cache_clear()


def test_a_launcher_file_rewritten_after_this_process_read_it_is_what_the_cache_points_to(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The stamp pointer ties the files' stamps to the content read for them: a process that read
    the launcher (memoized) before a file was rewritten must not point the new stamps at the old bytes."""
    from packager.artifact import embed

    launcher = tmp_path / "launcher"
    shutil.copytree(embed.launcher_root(), launcher, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(embed, "launcher_root", lambda: launcher)
    embed.launcher_entries.cache_clear()
    embed.launcher_entries("3.12", "ignite")  # read (and memoized) before the rewrite, as a build asks
    with (launcher / "server.py").open("a") as f:
        f.write("# rewritten\n")
    cache = tmp_path / "cache"
    for name in ("first.tar.gz", "again.tar.gz"):  # made, then found by the pointer
        build(BuildOptions(source=HELLO, output=tmp_path / name, cache_dir=cache))
        with tarfile.open(tmp_path / name) as tf:
            member = tf.extractfile("__ignite__/server.py")
            assert member is not None and member.read().endswith(b"# rewritten\n")
    embed.launcher_entries.cache_clear()


@pytest.mark.usefixtures("no_premade")
def test_the_launcher_segment_is_deflated_once_per_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from packager.artifact import embed

    cache = tmp_path / "cache"
    first = tmp_path / "first.tar.gz"
    build(BuildOptions(source=HELLO, output=first, cache_dir=cache))
    stored = sorted((cache / "segments").glob("*.bin"))
    assert len(stored) == 1

    def no_deflate(*args: object, **kwargs: object) -> None:
        raise AssertionError("the launcher segment was deflated again")

    with monkeypatch.context() as m:  # the second build takes it from the cache: same bytes
        m.setattr(embed, "compress_tar", no_deflate)
        again = tmp_path / "again.tar.gz"
        build(BuildOptions(source=HELLO, output=again, cache_dir=cache))
    assert again.read_bytes() == first.read_bytes()

    stored[0].write_bytes(stored[0].read_bytes()[:-1] + b"?")  # corrupted: made again, never shipped
    mended = tmp_path / "mended.tar.gz"
    build(BuildOptions(source=HELLO, output=mended, cache_dir=cache))
    assert mended.read_bytes() == first.read_bytes()

    def refuse(*args: object, **kwargs: object) -> None:
        raise PermissionError(13, "read-only cache")

    with monkeypatch.context() as m:  # a cache that cannot be written does not fail the build
        m.setattr(embed, "store_blob", refuse)
        uncached = tmp_path / "uncached.tar.gz"
        build(BuildOptions(source=HELLO, output=uncached, cache_dir=tmp_path / "other"))
    assert uncached.read_bytes() == first.read_bytes()
    assert not list((tmp_path / "other").glob("segments/*.bin"))

    def no_home() -> Path:
        raise RuntimeError("Could not determine home directory.")

    with monkeypatch.context() as m:  # no cache dir to be found (a uid without HOME): built all the same
        m.delenv("IGNITE_CACHE_DIR", raising=False)
        m.delenv("XDG_CACHE_HOME", raising=False)
        m.setattr(Path, "home", staticmethod(no_home))
        homeless = tmp_path / "homeless.tar.gz"
        build(BuildOptions(source=HELLO, output=homeless))
    assert homeless.read_bytes() == first.read_bytes()


def test_zip_targz_and_file_sources_give_the_same_tree(tmp_path: Path) -> None:
    data = (HELLO / "handler.py").read_bytes()
    digests = set()
    for src in (HELLO / "handler.py", HELLO, _zip(tmp_path / "s.zip", {"handler.py": data}),
                _targz(tmp_path / "s.tgz", {"handler.py": data})):
        out = tmp_path / f"{src.name}.tar.gz"
        digests.add(build(BuildOptions(source=src, output=out)).manifest.tree_digest)
    assert len(digests) == 1


def test_source_date_epoch_sets_member_mtime(tmp_path: Path) -> None:
    out = tmp_path / "a.tar.gz"
    build(BuildOptions(source=HELLO, output=out, env={"SOURCE_DATE_EPOCH": "1700000000"}))
    assert {m.path for m in iter_members(out)}
    with tarfile.open(out) as tf:
        assert {m.mtime for m in tf} == {1700000000}
    assert read_manifest(out).mtime == 1700000000


def test_failed_build_leaves_no_output(tmp_path: Path) -> None:
    src = tmp_path / "fn"
    src.mkdir()
    (src / "handler.py").write_text("def handler(payload, ctx):\n    return 1\n")
    out = tmp_path / "out.tar.gz"
    # The size budget fails at the very last step, after everything was assembled.
    with pytest.raises(ArtifactError, match="over the budget"):
        build(BuildOptions(source=src, output=out, max_size=100))
    assert list(tmp_path.iterdir()) == [src]
    # And through the CLI, a bad handler: no artifact, no temp file, exit code 5.
    (src / "handler.py").write_text("def nope(:\n")
    r = run_cli("build", str(src), "-o", str(out))
    assert r.returncode == 5, r.stderr
    assert list(tmp_path.iterdir()) == [src]


def test_existing_output_survives_a_failed_build(tmp_path: Path) -> None:
    out = tmp_path / "out.tar.gz"
    out.write_bytes(b"previous release")
    r = run_cli("build", str(tmp_path / "missing"), "-o", str(out))
    assert r.returncode == 3
    assert out.read_bytes() == b"previous release"


# ------------------------------------------------------------------ CLI


def test_cli_build_inspect_verify_json(tmp_path: Path) -> None:
    out = tmp_path / "hello.tar.gz"
    r = run_cli("build", str(HELLO), "-o", str(out), "--json")
    assert r.returncode == 0, r.stderr
    built = json.loads(r.stdout)
    assert built["ok"] is True and built["entry"] == "handler:handler" and built["size"] == out.stat().st_size
    r = run_cli("inspect", str(out), "--json")
    doc = json.loads(r.stdout)
    assert doc["artifact"]["sha256"] == built["sha256"]
    assert doc["entry"] == {"module": "handler", "function": "handler"}
    assert any(f["path"] == "handler.py" for f in doc["files"])
    r = run_cli("inspect", str(out))
    assert "entry      handler:handler" in r.stdout and "launcher" in r.stdout
    r = run_cli("verify", str(out))
    assert r.returncode == 0 and "match the manifest" in r.stdout


def _rewrite(src: Path, dest: Path, change: dict[str, bytes]) -> None:
    with tarfile.open(src) as tin, tarfile.open(dest, "w:gz") as tout:
        for m in tin:
            data = tin.extractfile(m).read()  # type: ignore[union-attr]
            data = change.get(m.name, data)
            m.size = len(data)
            tout.addfile(m, io.BytesIO(data))


def test_verify_names_the_tampered_member(tmp_path: Path) -> None:
    out = tmp_path / "hello.tar.gz"
    build(BuildOptions(source=HELLO, output=out))
    bad = tmp_path / "bad.tar.gz"
    _rewrite(out, bad, {"handler.py": b"def handler(p, c):\n    return 'pwned'\n"})
    r = run_cli("verify", str(bad), "--json")
    assert r.returncode == 11
    err = json.loads(r.stdout)["error"]
    assert err["where"] == "member 'handler.py'" and "sha256 mismatch" in err["message"]


def test_errors_have_distinct_exit_codes_and_json(tmp_path: Path) -> None:
    (tmp_path / "handler.py").write_text("def main(p, c):\n    return 1\n")
    r = run_cli("build", str(tmp_path / "handler.py"), "-o", str(tmp_path / "o.tar.gz"), "--json")
    assert r.returncode == 5
    err = json.loads(r.stdout)
    assert err["ok"] is False and err["error"]["error"] == "handler" and err["error"]["where"] == "handler.py"
    r = run_cli("build", str(tmp_path / "handler.py"), "-o", str(tmp_path / "o.tar.gz"))
    assert r.stdout == "" and "error: handler.py: entry function 'handler'" in r.stderr and "hint:" in r.stderr
    r = run_cli("verify", str(tmp_path / "handler.py"))
    assert r.returncode == 11 and "not a gzip'd tar" in r.stderr


def test_python_m_packager_and_version() -> None:
    r = subprocess.run([sys.executable, "-m", "packager", "--version"], capture_output=True, text=True,
                       env={**os.environ, "PYTHONPATH": str(FIXTURES.parent)})
    assert r.returncode == 0 and "ignite-pack" in r.stdout


def _fake_python(tmp_path: Path, says: str) -> Path:
    """An "interpreter" that answers the probe with *says* (e.g. a CPython of another version)."""
    fake = tmp_path / "fake-python"
    fake.write_text(f"#!/bin/sh\necho '{says}'\n")
    fake.chmod(0o755)
    return fake


@pytest.mark.parametrize("with_requirements", [False, True])
def test_an_explicit_python_of_another_version_fails_the_build(tmp_path: Path, with_requirements: bool) -> None:
    """--python is probed in the background now; a wrong one still fails the build (exit 12, where
    --python) although the build does not need an interpreter, and it wins over a resolution
    that was started meanwhile and fails too (offline, nothing in the wheelhouse)."""
    src = tmp_path / "src"
    shutil.copytree(HELLO, src)
    if with_requirements:
        (src / "requirements.txt").write_text("attrs\n")
    (tmp_path / "wh").mkdir()
    out = tmp_path / "o.tar.gz"
    fake = _fake_python(tmp_path, "3.11 cpython")
    r = run_cli("build", str(src), "-o", str(out), "--python", str(fake), "--json", "--offline",
                "--wheelhouse", str(tmp_path / "wh"), "--cache-dir", str(tmp_path / "cache"))
    assert r.returncode == 12, r.stdout + r.stderr
    err = json.loads(r.stdout)["error"]
    assert err["where"] == "--python" and "is not a working CPython 3.12" in err["message"]
    assert not out.exists()
    # the same interpreter answering as a 3.12 passes (the probe's answer is what decides)
    ok = _fake_python(tmp_path / "wh", "3.12 cpython")
    if not with_requirements:
        r = run_cli("build", str(src), "-o", str(out), "--python", str(ok))
        assert r.returncode == 0, r.stderr
        assert out.exists()


def test_an_explicit_python_of_another_version_fails_the_lock(tmp_path: Path) -> None:
    src = tmp_path / "src"
    shutil.copytree(HELLO, src)
    (src / "requirements.txt").write_text("attrs\n")
    r = run_cli("lock", str(src), "--python", str(_fake_python(tmp_path, "3.13 cpython")), "--offline",
                "--cache-dir", str(tmp_path / "cache"))
    assert r.returncode == 12, r.stdout + r.stderr
    assert "is not a working CPython 3.12" in r.stderr


def test_the_early_resolution_reaches_its_subprocess_without_the_later_stages_imports() -> None:
    """A build starts the resolver before importing fetch/install/compress (they are imported
    while it runs): importing the early-resolution wiring must not pull them in."""
    code = ("import sys, packager.cli, packager.build, packager.resolution, packager.deps.resolve, "
            "packager.deps.uvresolve; "
            "print(' '.join(sorted(m for m in ('packager.deps.fetch', 'packager.deps.install', "
            "'packager.dependencies', 'installer', 'urllib.request', 'http.client', 'ssl', "
            "'packager.artifact.tarball', 'packager.artifact.embed', 'concurrent.futures') if m in sys.modules)))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                       env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])})
    assert r.stdout.split() == []


def test_a_passed_python_probe_is_noted_per_executable_file_and_only_then(tmp_path: Path, python312: str) -> None:
    """--python is probed once per executable file (real path, size, mtime, inode); the note in the
    cache's host/ is what later builds believe. A script (a pyenv shim, a fake) is never noted."""
    from packager.pyprobe import probe_note as _probe_note

    src = tmp_path / "src"
    shutil.copytree(HELLO, src)
    cache = tmp_path / "cache"
    out = tmp_path / "a.tar.gz"
    r = run_cli("build", str(src), "-o", str(out), "--python", python312, "--cache-dir", str(cache))
    assert r.returncode == 0, r.stderr
    note = _probe_note(cache / "host", python312, "3.12")
    assert note is not None and note.read_text() == "ok"
    # The note stands for the probe: a native executable that is not Python passes with one...
    fake = tmp_path / "bin" / "not-python"
    fake.parent.mkdir()
    shutil.copy2(shutil.which("true") or "/bin/true", fake)
    r = run_cli("build", str(src), "-o", str(out), "--python", str(fake), "--cache-dir", str(cache))
    assert r.returncode == 12, r.stderr  # probed: not a CPython 3.12, and nothing noted
    fake_note = _probe_note(cache / "host", str(fake), "3.12")
    assert fake_note is not None and not fake_note.exists()
    fake_note.write_text("ok")
    r = run_cli("build", str(src), "-o", str(out), "--python", str(fake), "--cache-dir", str(cache))
    assert r.returncode == 0, r.stderr
    # ...and only for that very file: once it changes, it is probed again
    os.utime(fake, ns=(1, 1))
    r = run_cli("build", str(src), "-o", str(out), "--python", str(fake), "--cache-dir", str(cache))
    assert r.returncode == 12, r.stderr
    # a script is probed every time and never noted
    ok = _fake_python(tmp_path, "3.12 cpython")
    r = run_cli("build", str(src), "-o", str(out), "--python", str(ok), "--cache-dir", str(cache))
    assert r.returncode == 0, r.stderr
    assert _probe_note(cache / "host", str(ok), "3.12") is None
