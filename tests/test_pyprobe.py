"""The probe of IGNITE_PYTHON started at the build's first step (packager.pyprobe via packager.prestart),
taken by PendingPython, noted once it passed, and never left running."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from packager import prestart, pyprobe
from packager.runtime import PendingPython
from tests.conftest import FIXTURES, run_cli

HELLO = FIXTURES / "python-hello"


@pytest.fixture(autouse=True)
def _nothing_left() -> Iterator[None]:
    yield
    pyprobe.stop_early()


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty cache, and none of the variables that would send the build down click's path."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("IGNITE_CACHE_DIR", str(cache))
    for name in ("IGNITE_PYTHON", "IGNITE_INDEX_URL", "IGNITE_OFFLINE", "IGNITE_CACHE_URL", "IGNITE_RESOLVER"):
        monkeypatch.delenv(name, raising=False)
    return cache


def _gone(pid: int) -> bool:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return True
    return False


def test_the_early_probe_is_taken_passes_and_is_noted(env: Path, python312: str,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IGNITE_PYTHON", python312)
    prestart.begin(["build", str(HELLO), "-o", "out.tar.gz"])
    early = pyprobe._early
    assert early is not None and early.python == python312

    pending = PendingPython(python312, "3.12", env / "host")
    assert pyprobe._early is None and pending._proc is None  # (taken, not started again)
    assert pending.ok() and pending() == python312
    assert _gone(early.pid)
    note = pending.note_to_write()
    assert note == pyprobe.probe_note(env / "host", python312, "3.12") and note is not None

    note.parent.mkdir(parents=True)
    note.write_text("ok", "ascii")  # (what a build that succeeded writes)
    prestart.begin(["build", str(HELLO)])
    assert pyprobe._early is None  # noted: nothing to start
    assert PendingPython(python312, "3.12", env / "host").ok()


def test_an_early_probe_of_another_version_fails_the_check(env: Path, python313: str,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IGNITE_PYTHON", python313)
    prestart.begin(["build", str(HELLO)])
    assert pyprobe._early is not None
    pending = PendingPython(python313, "3.12", env / "host")
    assert pyprobe._early is None and not pending.ok() and pending.note_to_write() is None


@pytest.mark.parametrize("argv", [["build", str(HELLO), "--python", "x"], ["build", str(HELLO), "--profile", "python3.13"],
                                  ["lock", str(HELLO)], ["build"]])
def test_nothing_starts_for_another_command_line(env: Path, python312: str, monkeypatch: pytest.MonkeyPatch,
                                                 argv: list[str]) -> None:
    monkeypatch.setenv("IGNITE_PYTHON", python312)
    prestart.begin(argv)
    assert pyprobe._early is None


def test_a_probe_nobody_takes_is_stopped_and_reaped(env: Path, python312: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IGNITE_PYTHON", python312)
    prestart.begin(["build", str(HELLO)])
    early = pyprobe._early
    assert early is not None
    assert pyprobe.take_early("/another/python") is None and pyprobe._early is early  # (not that interpreter)
    pyprobe.stop_early()
    assert pyprobe._early is None and _gone(early.pid)
    with pytest.raises(OSError):
        os.fstat(early.fd)  # (its pipe closed)


def test_a_probe_taken_but_never_asked_is_stopped_at_exit(env: Path, python312: str,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """A build that fails before it asks for the answer (a bad output path, say) leaves no process."""
    monkeypatch.setenv("IGNITE_PYTHON", python312)
    prestart.begin(["build", str(HELLO)])
    pending = PendingPython(python312, "3.12", env / "host")
    early = pending._early
    assert early is not None and pyprobe._early is None
    pyprobe.stop_early()  # (what atexit runs)
    assert _gone(early.pid) and early.fd == -1


def test_a_probe_that_hangs_is_killed_at_its_deadline(env: Path, tmp_path: Path) -> None:
    hangs = tmp_path / "python3.12"
    hangs.write_text("#!/bin/sh\nexec sleep 30\n")
    hangs.chmod(0o755)
    pyprobe.start_early(str(hangs), None, "3.12")
    early = pyprobe.take_early(str(hangs))
    assert early is not None
    assert early.finish(timeout=0.3) is None
    assert _gone(early.pid) and early.fd == -1 and early not in pyprobe._live


def test_a_missing_interpreter_starts_nothing_and_fails_as_before(env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IGNITE_PYTHON", "/nonexistent/python3.12")
    prestart.begin(["build", str(HELLO)])
    assert pyprobe._early is None
    assert not PendingPython("/nonexistent/python3.12", "3.12", env / "host").ok()


def test_the_quick_build_with_an_interpreter_of_another_version_fails_and_writes_nothing(
        tmp_path: Path, python313: str) -> None:
    src = tmp_path / "src"
    shutil.copytree(HELLO, src)
    out = tmp_path / "out.tar.gz"
    r = run_cli("build", str(src), "-o", str(out), cwd=tmp_path,
                env={"IGNITE_PYTHON": python313, "IGNITE_CACHE_DIR": str(tmp_path / "cache")})
    assert r.returncode == 12, r.stderr
    assert "is not a working CPython 3.12" in r.stderr
    assert not out.exists() and not (tmp_path / "cache" / "host").exists()
