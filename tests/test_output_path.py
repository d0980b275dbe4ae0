"""The build's output path (issue 31, items 1-3): nothing of the user's is replaced or packed."""

from __future__ import annotations

import json
import os
import shutil
import stat
import tarfile
import time
from pathlib import Path

import pytest

from packager.artifact.outpath import STALE_TEMP_S, remove_stale_temps
from tests.conftest import FIXTURES, run_cli

HELLO = FIXTURES / "python-hello" / "handler.py"


def _fn(tmp_path: Path) -> Path:
    src = tmp_path / "fn"
    src.mkdir()
    shutil.copy(HELLO, src / "handler.py")
    return src


def _usage(proc: object) -> dict[str, object]:
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)  # type: ignore[attr-defined]
    doc = json.loads(proc.stdout)  # type: ignore[attr-defined]
    assert doc["ok"] is False
    return doc["error"]  # type: ignore[no-any-return]


def test_output_that_is_the_source_file_is_refused_and_the_source_kept(tmp_path: Path) -> None:
    src = _fn(tmp_path)
    before = (src / "handler.py").read_bytes()
    err = _usage(run_cli("build", str(src / "handler.py"), "-o", str(src / "handler.py"), "--json"))
    assert err["error"] == "usage" and "is the source itself" in str(err["message"])
    assert (src / "handler.py").read_bytes() == before
    assert sorted(p.name for p in src.iterdir()) == ["handler.py"]


def test_output_that_is_the_source_archive_is_refused(tmp_path: Path) -> None:
    arch = tmp_path / "fn.tar.gz"
    with tarfile.open(arch, "w:gz") as tf:
        tf.add(HELLO, arcname="handler.py")
    before = arch.read_bytes()
    _usage(run_cli("build", str(arch), "-o", str(arch), "--json"))
    assert arch.read_bytes() == before


def test_output_inside_the_source_directory_is_refused(tmp_path: Path) -> None:
    src = _fn(tmp_path)
    # `cd fn && ignite-pack build . -o fn.tar.gz`: the next build would pack this one
    err = _usage(run_cli("build", ".", "-o", "fn.tar.gz", "--json", cwd=src))
    assert "inside the source directory" in str(err["message"]) and "../" in str(err["hint"])
    assert not (src / "fn.tar.gz").exists()
    # a nested path inside the tree, spelled through a symlinked parent, is refused too
    (tmp_path / "alias").symlink_to(src)
    _usage(run_cli("build", str(src), "-o", str(tmp_path / "alias" / "out" / ".." / "a.tar.gz"), "--json"))
    # next to the source is fine
    ok = run_cli("build", ".", "-o", "../fn.tar.gz", cwd=src)
    assert ok.returncode == 0, ok.stderr
    assert (tmp_path / "fn.tar.gz").is_file()


@pytest.mark.parametrize("kind", ["directory", "symlink", "fifo", "device"])
def test_output_that_is_not_a_regular_file_is_refused_and_kept(tmp_path: Path, kind: str) -> None:
    src = _fn(tmp_path)
    out = tmp_path / "out"
    if kind == "directory":
        out.mkdir()
    elif kind == "symlink":
        (tmp_path / "real.tar.gz").write_bytes(b"old")
        out.symlink_to(tmp_path / "real.tar.gz")
    elif kind == "fifo":
        os.mkfifo(out)
    else:  # a node of its own, like /dev/null (1, 3): never the machine's real one
        if os.geteuid() != 0:
            pytest.skip("creating a device node needs root")
        os.mknod(out, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    err = _usage(run_cli("build", str(src), "-o", str(out), "--json"))
    words = {"directory": "a directory", "symlink": "a symbolic link", "fifo": "a FIFO", "device": "a device"}
    assert f"is {words[kind]};" in str(err["message"])
    if kind == "directory":
        assert out.is_dir() and not any(out.iterdir())
    elif kind == "symlink":
        assert out.is_symlink() and (tmp_path / "real.tar.gz").read_bytes() == b"old"
    elif kind == "fifo":
        assert out.is_fifo()
    else:
        assert out.is_char_device()


def test_a_killed_builds_temp_file_is_removed_by_the_next_build(tmp_path: Path) -> None:
    src = _fn(tmp_path)
    out = tmp_path / "fn.tar.gz"
    stale = tmp_path / ".fn.tar.gz.abc123.tmp"
    stale.write_bytes(b"x" * 1000)
    old = time.time() - STALE_TEMP_S - 60
    os.utime(stale, (old, old))
    fresh = tmp_path / ".fn.tar.gz.def456.tmp"  # may belong to a build still writing
    fresh.write_bytes(b"y")
    other = tmp_path / ".other.tar.gz.abc.tmp"
    other.write_bytes(b"z")
    os.utime(other, (old, old))
    proc = run_cli("build", str(src), "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    assert not stale.exists()
    assert fresh.exists() and other.exists()
    assert remove_stale_temps(out, now=time.time() + 2 * STALE_TEMP_S) == [fresh]
