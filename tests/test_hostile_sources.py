"""Every hostile source of :mod:`tests.hostile`, through the real CLI.

Each case runs ``python -m packager build SRC -o OUT --json`` in a subprocess
whose cwd, TMPDIR, HOME and cache dir are fresh directories under the test's
``tmp_path``. The test asserts the exit code (one per error class), the JSON
error (code, message, ``where`` naming the member), that no artifact (and no
half-written temp file) exists, that the whole ``tmp_path`` tree is unchanged
except for the outputs of a successful build, and that nothing appeared at the
escape targets (``tmp_path/escaped``).

Unit tests at the bottom drive :func:`packager.source.intake.read_source` with small
:class:`~packager.source.intake.Limits` to reach each cap cheaply.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

from packager.errors import EXIT_CODES, ArchiveError, IgniteError, SourceError
from packager.runtime import find_python
from packager.source.intake import Limits, read_source
from tests import hostile
from tests.hostile import CASES, HANDLER, MiB, TarEntry, ZipEntry, build_tar, build_zip

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def python_flag() -> list[str]:
    """``--python PATH`` when a 3.12 is known: saves the CLI probing every candidate per run."""
    try:
        return ["--python", find_python("3.12")]
    except IgniteError:
        return []


def snapshot(root: Path) -> dict[str, str]:
    """Every path under *root* with its type and content digest (links not followed)."""
    out: dict[str, str] = {}
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        for name in dirnames + filenames:
            p = Path(dirpath, name)
            rel = p.relative_to(root).as_posix()
            if p.is_symlink():
                out[rel] = "link:" + os.readlink(p)
            elif p.is_dir():
                out[rel] = "dir"
            elif p.is_file():
                out[rel] = hashlib.sha256(p.read_bytes()).hexdigest()
            else:
                out[rel] = "special"
    return out


def run_build(tmp_path: Path, source: Path, python_flag: list[str]) -> tuple[subprocess.CompletedProcess[str], Path]:
    """Run the CLI on *source* in a sandbox of fresh dirs; return the process and the output path."""
    dirs = {k: tmp_path / k for k in ("work", "tmp", "home", "cache", "out")}
    for d in dirs.values():
        d.mkdir(exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("IGNITE_", "PIP_"))}
    env.update(PYTHONPATH=str(REPO), TMPDIR=str(dirs["tmp"]), HOME=str(dirs["home"]),
               IGNITE_CACHE_DIR=str(dirs["cache"]), IGNITE_OFFLINE="1", PIP_CONFIG_FILE=os.devnull)
    out = dirs["out"] / "artifact.tar.gz"
    proc = subprocess.run(
        [sys.executable, "-m", "packager", "build", str(source), "-o", str(out), "--json", *python_flag],
        cwd=dirs["work"], env=env, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL,
    )
    return proc, out


def assert_no_escape(tmp_path: Path) -> None:
    for target in (tmp_path / "escaped", tmp_path.parent / "escaped", Path("/tmp/escaped")):
        assert not os.path.lexists(target), f"something was written at {target}"


@pytest.mark.parametrize("case", CASES, ids=hostile.CASE_IDS)
def test_hostile_source_via_cli(case: hostile.Case, tmp_path: Path, python_flag: list[str]) -> None:
    src_dir = tmp_path / "src"
    src_dir.mkdir()
    source = case.make(src_dir)
    sentinel = tmp_path / "sentinel"
    (sentinel / "deep").mkdir(parents=True)
    (sentinel / "keep.txt").write_text("untouched")
    (sentinel / "deep" / "handler.py").write_bytes(HANDLER)
    before = snapshot(tmp_path)

    proc, out = run_build(tmp_path, source, python_flag)

    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.stdout.strip(), proc.stderr
    result = json.loads(proc.stdout)
    after = snapshot(tmp_path)
    assert_no_escape(tmp_path)
    fresh = {k: v for k, v in after.items() if k not in before}
    changed = {k for k in before if after.get(k) != before[k]}
    assert not changed, f"existing paths changed: {changed}"

    if case.exit == 0:
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert result["ok"] is True
        # The only new files: the directories of the sandbox, the artifact itself and the notes
        # on this machine (the deflate probe's verdict, a passed --python probe, a segment's
        # sha256 by its stat stamp). Nothing of the upload's, and no segment: the default build's
        # launcher segment is premade (packager.artifact.embed.PREMADE_BLOB).
        files = {k for k, v in fresh.items() if v != "dir"}
        notes = {k for k in files if k.startswith("cache/host/")}
        assert all(k.split("/")[-1].startswith(("deflate-", "python-")) or k.startswith("cache/host/sha256/")
                   for k in notes), notes
        for k in notes:  # a sha256 note: a stat stamp and a digest, nothing of the upload's
            if k.startswith("cache/host/sha256/"):
                assert re.fullmatch(r"\d+:\d+:\d+:\d+ [0-9a-f]{64}", (tmp_path / k).read_text()), k
        assert files - notes == {"out/artifact.tar.gz"}, fresh
        _assert_nested_kept_as_data(source, out)
        return

    assert proc.returncode == case.exit, proc.stdout + proc.stderr
    assert proc.returncode == EXIT_CODES[case.code]
    assert result["ok"] is False
    err = result["error"]
    assert err["error"] == case.code
    assert err["exit_code"] == case.exit
    assert case.message.lower() in err["message"].lower(), err
    assert case.where.lower() in (err["where"] or "").lower(), err
    assert err["hint"], err
    assert "\n" not in err["message"] and "\n" not in (err["where"] or "").replace("\\n", ""), err
    # No artifact, no half-written temp file, nothing left in TMPDIR, cwd or HOME.
    assert not out.exists()
    assert [k for k, v in fresh.items() if v != "dir"] == [], fresh


def _assert_nested_kept_as_data(source: Path, out: Path) -> None:
    """The inner archives are in the artifact byte for byte; nothing of theirs was unpacked."""
    if source.suffix == ".zip":
        with zipfile.ZipFile(source) as zf:
            inner = {n: zf.read(n) for n in zf.namelist() if n != "handler.py"}
    else:
        with tarfile.open(source) as tf:
            inner = {m.name: tf.extractfile(m).read() for m in tf.getmembers() if m.name != "handler.py"}  # type: ignore[union-attr]
    with tarfile.open(out) as art:
        names = art.getnames()
        for name, data in inner.items():
            fh = art.extractfile(name)
            assert fh is not None and fh.read() == data
        assert not [n for n in names if "escaped" in n or n.startswith(("/", "..")) or n == "link"]


# ------------------------------------------------------------------ unit: caps with small limits


SMALL = Limits(max_members=20, max_total_bytes=64 * 1024, max_file_bytes=32 * 1024, max_ratio=20.0,
               ratio_floor_bytes=16 * 1024)


def _src(tmp_path: Path, name: str, blob: bytes) -> Path:
    p = tmp_path / name
    p.write_bytes(blob)
    return p


@pytest.mark.parametrize("kind", ["zip", "tar"])
def test_small_limits_ratio_bomb(tmp_path: Path, kind: str) -> None:
    if kind == "zip":
        blob = build_zip([ZipEntry("handler.py", HANDLER), hostile.zip_bomb_entry("z.bin", 30 * 1024)])
    else:
        blob = hostile.tar_gz_zeros([("z.bin", 30 * 1024)], small=[("handler.py", HANDLER)])
    with pytest.raises(ArchiveError, match="compression ratio") as exc:
        read_source(_src(tmp_path, f"b.{kind}", blob), SMALL)
    assert exc.value.where == "member 'z.bin'"


@pytest.mark.parametrize("kind", ["zip", "tar"])
def test_small_limits_total_cap(tmp_path: Path, kind: str) -> None:
    # Each file compresses about 10:1, under the ratio cap: only the total cap can stop them.
    files = [("handler.py", HANDLER)] + [(f"f{i}.bin", os.urandom(3 * 1024) * 10) for i in range(3)]
    if kind == "zip":
        blob = build_zip([ZipEntry(n, d) for n, d in files])
    else:
        blob = build_tar([TarEntry(n, d) for n, d in files])
    with pytest.raises(ArchiveError, match="too large uncompressed") as exc:
        read_source(_src(tmp_path, f"t.{kind}", blob), SMALL)
    assert exc.value.where == "member 'f2.bin'"


@pytest.mark.parametrize("kind", ["zip", "tar"])
def test_small_limits_file_cap(tmp_path: Path, kind: str) -> None:
    data = os.urandom(40 * 1024)
    if kind == "zip":
        blob = build_zip([ZipEntry("handler.py", HANDLER), ZipEntry("big.bin", data, method=zipfile.ZIP_STORED)])
    else:
        blob = build_tar([TarEntry("handler.py", HANDLER), TarEntry("big.bin", data)])
    with pytest.raises(ArchiveError, match="file is too large") as exc:
        read_source(_src(tmp_path, f"f.{kind}", blob), SMALL)
    assert exc.value.where == "member 'big.bin'"


@pytest.mark.parametrize("kind", ["zip", "tar", "dir"])
def test_small_limits_member_count(tmp_path: Path, kind: str) -> None:
    names = ["handler.py"] + [f"m{i:02}.txt" for i in range(25)]
    if kind == "zip":
        src = _src(tmp_path, "m.zip", build_zip([ZipEntry(n, b"x") for n in names]))
    elif kind == "tar":
        src = _src(tmp_path, "m.tar", build_tar([TarEntry(n, b"x") for n in names], compression=""))
    else:
        src = tmp_path / "d"
        src.mkdir()
        for n in names:
            (src / n).write_bytes(b"x")
    with pytest.raises(SourceError, match="too many members"):
        read_source(src, SMALL)


def test_small_limits_source_file_size(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="too large") as exc:
        read_source(_src(tmp_path, "handler.py", b"#" * (SMALL.max_total_bytes + 1)), SMALL)
    assert exc.value.exit_code == 3


@pytest.mark.parametrize("compression", ["gz", "bz2", "xz", ""])
def test_every_tar_compression_refuses_links(tmp_path: Path, compression: str) -> None:
    blob = build_tar([TarEntry("handler.py", HANDLER), TarEntry("l", type=tarfile.SYMTYPE, linkname="/")],
                     compression=compression)
    with pytest.raises(ArchiveError, match="symbolic link"):
        read_source(_src(tmp_path, "s.tar", blob), Limits())


@pytest.mark.parametrize("compression", ["bz2", "xz"])
def test_every_tar_compression_detects_corruption(tmp_path: Path, compression: str) -> None:
    blob = bytearray(build_tar([TarEntry("handler.py", HANDLER), TarEntry("r.bin", os.urandom(20_000))],
                               compression=compression))
    for i in range(len(blob) // 2, len(blob) // 2 + 32):
        blob[i] ^= 0xA5
    with pytest.raises(ArchiveError):
        read_source(_src(tmp_path, "c.tar", bytes(blob)), Limits())


def test_longname_header_bomb_is_refused_before_allocation(tmp_path: Path) -> None:
    """A 2 GiB GNU long name (2 MiB compressed) is refused from its header: no 2 GiB read."""
    header = hostile.long_header(tarfile.GNUTYPE_LONGNAME, 2048 * MiB)
    blob = hostile.tar_gz_zeros([], raw_headers=[(header, 4 * MiB)])  # the header lies; the data need not exist
    with pytest.raises(ArchiveError, match="header claims"):
        read_source(_src(tmp_path, "l.tar.gz", blob), Limits())


def test_legit_tar_with_many_long_names_passes(tmp_path: Path) -> None:
    """The header cap does not refuse real archives: 2000 members with long, pax-encoded names."""
    entries = [TarEntry("handler.py", HANDLER)] + [TarEntry(f"pkg/{'é' * 60}/{i}.txt", b"x") for i in range(2000)]
    for fmt in (tarfile.PAX_FORMAT, tarfile.GNU_FORMAT):
        blob = build_tar(entries, format=fmt)
        tree = read_source(_src(tmp_path, "ok.tar.gz", blob), Limits())
        assert len(tree.files) == 2001


def test_zip_declared_sizes_are_checked_before_inflating(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A zip over the total cap is refused from its central directory: no member is opened."""
    blob = build_zip([ZipEntry("handler.py", HANDLER)] + [hostile.zip_bomb_entry(f"z{i}", 30 * 1024) for i in range(3)])

    def no_open(*a: object, **k: object) -> None:
        raise AssertionError("a member was opened")

    monkeypatch.setattr(zipfile.ZipFile, "open", no_open)
    small = Limits(max_total_bytes=64 * 1024, max_ratio=1e9)
    with pytest.raises(ArchiveError, match="too large uncompressed") as exc:
        read_source(_src(tmp_path, "z.zip", blob), small)
    assert exc.value.where == "member 'z2'"


def test_directory_with_hardlink_reads_content_only(tmp_path: Path) -> None:
    """A hard link in a *directory* source is just a second regular file: its bytes, no link."""
    root = tmp_path / "d"
    root.mkdir()
    (root / "handler.py").write_bytes(HANDLER)
    os.link(root / "handler.py", root / "copy.py")
    tree = read_source(root, Limits())
    assert tree.paths == ["copy.py", "handler.py"]


def test_never_extractall() -> None:
    """The intake never calls extract/extractall (a grep, so a refactor cannot sneak one in)."""
    files = sorted((REPO / "packager" / "source").rglob("*.py"))
    assert any("intake" in (f.stem, f.parent.name) for f in files)
    text = "\n".join(f.read_text() for f in files)
    code = "\n".join(line.split("#", 1)[0] for line in text.splitlines() if not line.strip().startswith(('"', "'")))
    assert ".extractall(" not in code and ".extract(" not in code


def test_error_classes_have_distinct_exit_codes() -> None:
    codes = list(EXIT_CODES.values())
    assert len(codes) == len(set(codes))


def test_corpus_covers_the_brief() -> None:
    """Guard against the corpus silently shrinking."""
    ids = set(hostile.CASE_IDS)
    for must in ("zip-slip", "tar-slip", "zip-absolute", "zip-backslash", "zip-drive-letter",
                 "tar-symlink-outside", "tar-symlink-inside", "tar-hardlink-outside", "tar-hardlink-inside",
                 "zip-symlink", "tar-chardev", "tar-fifo", "zip-duplicate", "zip-casefold", "tar-nfc-nfd",
                 "tar-non-utf8", "zip-non-utf8-legacy", "zip-control-char", "zip-ratio-bomb", "tar-ratio-bomb",
                 "zip-many-members", "zip-nested-archive", "zip-truncated", "tar-truncated", "zip-empty",
                 "not-an-archive", "dir-symlink-outside", "dir-fifo"):
        assert must in ids
    assert len(io.BytesIO(build_zip([])).getvalue()) == 22
