"""SIGTERM/SIGINT during a build (issue 31 item 12).

A SIGTERM used to end a build with status -15 and no word, leaving ``ignite-fetch-*`` /
``ignite-resolve-*`` in TMPDIR and pip running; SIGINT printed a traceback or click's
"Aborted!" with exit 1. Now: one line, 143/130, children stopped, temp files removed.
"""

from __future__ import annotations

import http.server
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import REPO


class StallingIndex:
    """An index whose every page waits (at most 60 s) until the test is done: pip is busy on it."""

    def __init__(self) -> None:
        self.asked = threading.Event()
        self.release = threading.Event()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                return None

            def do_GET(self) -> None:
                outer.asked.set()
                outer.release.wait(60)
                try:
                    self.send_error(404)
                except OSError:
                    pass  # the client was stopped meanwhile: that is the point

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/simple/"

    def __enter__(self) -> StallingIndex:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(10)


@pytest.fixture
def index() -> Iterator[StallingIndex]:
    with StallingIndex() as idx:
        yield idx


def _descendants(pid: int) -> list[int]:
    """Every process below *pid*, from /proc."""
    parents: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        try:
            with open(f"/proc/{name}/stat") as fh:
                parents.setdefault(int(fh.read().rsplit(")", 1)[1].split()[1]), []).append(int(name))
        except (OSError, ValueError, IndexError):
            continue
    out, todo = [], [pid]
    while todo:
        kids = parents.get(todo.pop(), [])
        out += kids
        todo += kids
    return out


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _source_with_requirements(tmp_path: Path) -> Path:
    """A function with two requirements (the index stalls on both); skips where /proc is missing."""
    if not Path("/proc/self/stat").exists():
        pytest.skip("needs /proc to see the build's children")
    src = tmp_path / "src"
    src.mkdir()
    (src / "handler.py").write_text("def handler(payload, ctx):\n    return 1\n")
    (src / "requirements.txt").write_text("demo\nother\n")
    return src


@pytest.mark.parametrize(("sig", "code", "resolver"), [(signal.SIGTERM, 143, "pip"), (signal.SIGINT, 130, "pip"),
                                                       (signal.SIGTERM, 143, "uv")])
def test_a_signal_mid_build_stops_children_removes_temp_files_and_says_one_line(
        tmp_path: Path, hermetic_pip: Path, index: StallingIndex, sig: int, code: int, resolver: str) -> None:
    src = _source_with_requirements(tmp_path)
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    env = {**os.environ, "PYTHONPATH": str(REPO), "TMPDIR": str(tmp), "PIP_RETRIES": "0"}
    proc = subprocess.Popen([sys.executable, "-m", "packager", "build", str(src), "-o", str(tmp_path / "a.tar.gz"),
                             "--index-url", index.url, "--resolver", resolver, "--cache-dir", str(tmp_path / "cache")],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert index.asked.wait(120), "the build never asked the index"
        children = _descendants(proc.pid)
        assert children, "pip/uv should be running"
        proc.send_signal(sig)
        _out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == code, err
    assert "Traceback" not in err and "Aborted!" not in err
    last = err.strip().splitlines()[-1]
    assert last.startswith("error: stopped by " + signal.Signals(sig).name), err
    deadline = time.monotonic() + 5
    while any(_alive(c) for c in children) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not [c for c in children if _alive(c)], "a child of the build outlived it"
    assert sorted(p.name for p in tmp.iterdir()) == []  # no ignite-resolve-*, ignite-fetch-*, ...
    assert not (tmp_path / "a.tar.gz").exists()
    cache = tmp_path / "cache"
    leftovers = [p for p in cache.rglob(".*") if p.is_file() and ".ignite-probe-" not in p.name
                 and p.relative_to(cache).parts[0] != "uv"]  # (uv's cache has its own .gitignore)
    assert leftovers == []  # no half-written .name.XXXX entries


def test_a_signal_while_the_resolution_started_first_runs_stops_it_at_once(
        tmp_path: Path, hermetic_pip: Path, index: StallingIndex, uv: str) -> None:
    """The commonest build's resolution is started before the CLI (packager.prestart) and waited for
    by the early resolution's thread: a SIGTERM while the handler is still being checked (here: an
    interpreter slow to answer its probe) stops it too, instead of waiting for the index."""
    src = _source_with_requirements(tmp_path)
    slow = tmp_path / "slow-python"  # (the --python probe waits: the checks are still running)
    slow.write_text(f'#!/bin/sh\nsleep 30\nexec "{sys.executable}" "$@"\n')
    slow.chmod(0o755)
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    env = {**os.environ, "PYTHONPATH": str(REPO), "TMPDIR": str(tmp), "IGNITE_UV": uv,
           "IGNITE_PYTHON": str(slow), "IGNITE_CACHE_DIR": str(tmp_path / "cache")}
    proc = subprocess.Popen([sys.executable, "-m", "packager", "build", str(src), "-o", str(tmp_path / "a.tar.gz"),
                             "--index-url", index.url], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        assert index.asked.wait(120), "the build never asked the index"
        children = _descendants(proc.pid)
        compiling = [c for c in children if b"compile" in Path(f"/proc/{c}/cmdline").read_bytes()]
        assert compiling, "uv pip compile should be running"
        time.sleep(0.5)  # (the early resolution's thread is waiting for it by now)
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=20)  # (the index holds uv for 60 s: only a stop ends it sooner)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 143, err
    assert err.strip().splitlines()[-1].startswith("error: stopped by SIGTERM"), err
    deadline = time.monotonic() + 5
    while any(_alive(c) for c in compiling) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not [c for c in compiling if _alive(c)], "uv outlived the build"
    assert sorted(p.name for p in tmp.iterdir()) == []  # prestart's work directory too


def test_what_a_killed_build_left_in_tmpdir_is_removed_by_the_next_one(tmp_path: Path, hermetic_pip: Path,
                                                                      index: StallingIndex) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "handler.py").write_text("def handler(payload, ctx):\n    return 1\n")
    (src / "requirements.txt").write_text("demo\n")
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    env = {**os.environ, "PYTHONPATH": str(REPO), "TMPDIR": str(tmp), "PIP_RETRIES": "0"}
    argv = [sys.executable, "-m", "packager", "build", str(src), "--index-url", index.url, "--resolver", "pip",
            "--cache-dir", str(tmp_path / "cache")]
    proc = subprocess.Popen([*argv, "-o", str(tmp_path / "a.tar.gz")], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        assert index.asked.wait(120), "the build never asked the index"
        children = _descendants(proc.pid)
    finally:
        proc.kill()  # kill -9: nothing of ours runs
        proc.wait()
    left = sorted(p.name for p in tmp.iterdir())
    assert left and all(n.startswith("ignite-tmp-") for n in left), left  # everything in one private dir
    for c in children:  # the orphaned pip, stalled on the index: stop it ourselves (the test's own)
        if _alive(c):
            os.kill(c, signal.SIGKILL)
    (src / "requirements.txt").unlink()
    r = subprocess.run([*argv, "-o", str(tmp_path / "b.tar.gz")], env=env, capture_output=True, text=True,
                       timeout=300, check=False)
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in tmp.iterdir()) == []


def test_help_makes_no_temp_dir_and_leaves_a_killed_runs_for_a_command_that_needs_temp_space(tmp_path: Path) -> None:
    """``--help`` needs no temp space: it makes no private directory and sweeps nothing (the sweep
    and the directory come with the first command that makes temp files, as in the test above)."""
    from packager.childenv import host_label

    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()  # a pid whose process has ended: a killed run's
    tmp = tmp_path / "tmp"
    killed = tmp / f"ignite-tmp-{gone.pid}-{host_label()}-x"
    killed.mkdir(parents=True)
    env = {**os.environ, "PYTHONPATH": str(REPO), "TMPDIR": str(tmp)}
    for args in (["--help"], ["build", "--help"]):
        r = subprocess.run([sys.executable, "-m", "packager", *args], env=env, capture_output=True, text=True,
                           timeout=60, check=False)
        assert r.returncode == 0, r.stderr
        assert "Usage:" in r.stdout
        assert sorted(p.name for p in tmp.iterdir()) == [killed.name], args
