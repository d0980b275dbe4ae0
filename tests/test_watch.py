"""`serve SOURCE --watch` (issue 33): rebuild on save and swap with zero refused or failed requests;
a broken save answers 503 naming file and line until the next good one; a new requirement is picked
up; SIGINT exits 0 leaving no launcher and no port. Plus the watcher alone (watchfiles and polling)."""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Optional

import pytest

from packager.devserver import Watcher, ignored
from tests.conftest import run_cli
from tests.wheelhouse import make_wheel


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _post(port: int, body: bytes = b"{}", conn: Optional[http.client.HTTPConnection] = None,
          timeout: float = 30) -> tuple[int, bytes]:
    own = conn is None
    c = conn or http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        c.request("POST", "/", body=body, headers={"Content-Type": "application/json"})
        r = c.getresponse()
        return r.status, r.read()
    finally:
        if own:
            c.close()


def _until(port: int, want: Any, timeout: float = 90) -> tuple[int, Any]:
    """POST until the answer (status, parsed JSON body) satisfies *want*; bounded."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            status, body = _post(port)
            last = (status, json.loads(body))
            if want(*last):
                return last  # type: ignore[no-any-return]
        except (OSError, ValueError) as exc:
            last = exc
        time.sleep(0.1)
    raise AssertionError(f"no matching answer in {timeout}s; last: {last!r}")


def _handler(version: int, syntax_error: bool = False) -> str:
    return (
        "import os\ntry:\n    import tinydep\n    DEP = tinydep.VERSION\nexcept ImportError:\n    DEP = None\n\n"
        "def handler(payload, ctx):\n"
        f"    return {{'v': {version}, 'dep': DEP, 'env': os.environ.get('FROM_ENV_FILE')}}"
        + ("(\n" if syntax_error else "\n")
    )


def _save(path: Path, text: str) -> None:
    """As editors do: write a temp file next to it, then rename over (plus a swap file that must be ignored)."""
    (path.parent / f".{path.name}.swp").write_text("editor state")
    tmp = path.parent / f"{path.name}~"
    tmp.write_text(text)
    os.replace(tmp, path)


class Client(threading.Thread):
    """POSTs continuously, alternating fresh connections and one keep-alive connection; records every
    answer and every failure (a refused connection, a reset, a non-200)."""

    def __init__(self, port: int) -> None:
        super().__init__(daemon=True)
        self.port, self.stop = port, threading.Event()
        self.answers: list[int] = []
        self.failures: list[str] = []
        self.keep: Optional[http.client.HTTPConnection] = None

    def run(self) -> None:
        n = 0
        while not self.stop.is_set():
            n += 1
            try:
                if n % 2:
                    status, body = _post(self.port)
                else:
                    self.keep = self.keep or http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
                    status, body = _post(self.port, conn=self.keep)
                if status != 200:
                    self.failures.append(f"HTTP {status}: {body[:300]!r}")
                else:
                    self.answers.append(json.loads(body)["v"])
            except (OSError, http.client.HTTPException, ValueError) as exc:
                self.failures.append(repr(exc))
                self.keep = None
            time.sleep(0.005)


@pytest.fixture
def watched(tmp_path: Path, python312: str) -> Iterator[tuple[subprocess.Popen[bytes], int, Path, Path]]:
    src = tmp_path / "src"
    src.mkdir()
    (src / "handler.py").write_text(_handler(1))
    wh = tmp_path / "wheelhouse"
    make_wheel(wh, "tinydep", "1.0")
    port = _free_port()
    log = tmp_path / "serve.log"
    env_file = tmp_path / "local.env"
    env_file.write_text("FROM_ENV_FILE=yes\n")
    env = {**os.environ, "IGNITE_CACHE_DIR": str(tmp_path / "cache"), "PIP_CONFIG_FILE": os.devnull}
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "packager", "serve", str(src), "--watch", "--port", str(port),
             "--wheelhouse", str(wh), "--offline", "--python", python312, "--env-file", str(env_file)],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env)
    try:
        yield proc, port, src, log
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(30)
        for pid in re.findall(r"launcher pid (\d+)\)", log.read_text("utf-8", "replace")):
            try:
                os.kill(int(pid), signal.SIGKILL)
            except ProcessLookupError:
                pass


def _children(pid: int) -> list[int]:
    """Live (not zombie) child processes of *pid*, from /proc."""
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            out.append(int(stat.parent.name))
    return sorted(out)


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    status = Path(f"/proc/{pid}/status")
    return status.exists() and "\nState:\tZ" in status.read_text()


@pytest.mark.slow
def test_serve_watch_swaps_without_a_failed_request_and_exits_clean(
        watched: tuple[subprocess.Popen[bytes], int, Path, Path], python312: str) -> None:
    proc, port, src, log = watched
    _until(port, lambda s, b: s == 200 and b["v"] == 1)

    # 1. Edits while a client sends requests continuously: never refused, never failed.
    client = Client(port)
    client.start()
    try:
        for version in (2, 3):
            time.sleep(0.3)
            _save(src / "handler.py", _handler(version))
            deadline = time.monotonic() + 90
            while version not in client.answers and time.monotonic() < deadline and not client.failures:
                time.sleep(0.05)
            assert version in client.answers, (client.failures, log.read_text())
        seen = len(client.answers)
        while len(client.answers) < seen + 20 and not client.failures:
            time.sleep(0.01)
    finally:
        client.stop.set()
        client.join(60)
    assert client.failures == [], log.read_text()
    assert client.answers == sorted(client.answers), "an older build answered after a newer one"
    assert {1, 2, 3} <= set(client.answers)

    # 2. A syntax error: 503 naming the file and the line; the loop survives; the next good save serves.
    _save(src / "handler.py", _handler(4, syntax_error=True))
    _status, body = _until(port, lambda s, b: s == 503)
    assert body["file"] == "handler.py" and body["line"] == 9 and body["hint"], body
    _save(src / "handler.py", _handler(5))
    _until(port, lambda s, b: s == 200 and b == {"v": 5, "dep": None, "env": "yes"})

    # 3. An unresolvable requirement is a broken save too; a resolvable one is vendored and picked up.
    (src / "requirements.txt").write_text("nosuchdep-for-ignite\n")
    _status, body = _until(port, lambda s, b: s == 503)
    assert "nosuchdep-for-ignite" in json.dumps(body), body
    (src / "requirements.txt").write_text("tinydep\n")
    _until(port, lambda s, b: s == 200 and b == {"v": 5, "dep": "1.0", "env": "yes"})

    # 4. A handler that builds but fails to import: the launcher's own 500 (as on the platform), and said so.
    _save(src / "handler.py", "raise RuntimeError('broken at import')\n" + _handler(6))
    _status, body = _until(port, lambda s, b: s == 500)
    assert body["type"] == "RuntimeError" and "broken at import" in body["error"], body

    # One line per rebuild, naming what changed; temp and swap files never triggered one.
    text = log.read_text()
    lines = [ln for ln in text.splitlines() if ln.startswith("[watch ")]
    assert len(lines) == 8, text  # first build, v2, v3, broken, v5, bad requirement, requirement, import error
    assert "FAILED" in lines[3] and "handler.py:9" in lines[3]
    assert "requirements.txt" in lines[5] and "FAILED" in lines[5]
    assert "requirements.txt" in lines[6] and "1 vendored" in lines[6]
    assert ".swp" not in text and "handler.py~" not in text
    assert "failed to import (RuntimeError: broken at import)" in lines[7]
    assert "listening on" not in text  # the launchers' start/stop lines are folded into the rebuild line

    # Every replaced launcher was stopped: only the last one is left.
    pids = [int(p) for p in re.findall(r"launcher pid (\d+)\)", text)]
    assert len(pids) == 6
    deadline = time.monotonic() + 30
    while _children(proc.pid) != [pids[-1]] and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _children(proc.pid) == [pids[-1]]

    # 5. Ctrl-C: exit 0, every launcher gone, the port free.
    proc.send_signal(signal.SIGINT)
    assert proc.wait(60) == 0, log.read_text()
    assert all(_gone(p) for p in pids), log.read_text()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", port))


@pytest.mark.parametrize("poll", [False, True], ids=["watchfiles", "polling"])
def test_watcher_batches_saves_and_ignores_temp_files_caches_and_vcs(tmp_path: Path, poll: bool) -> None:
    if not poll:
        pytest.importorskip("watchfiles")
    (tmp_path / "pkg").mkdir()
    (tmp_path / "handler.py").write_text("x = 1\n")
    watcher = Watcher(tmp_path, poll=poll)
    watcher.start()  # returns once the watch is in place
    batches: list[tuple[str, ...]] = []
    for junk in ("__pycache__/handler.cpython-312.pyc", ".git/index", ".handler.py.swp", "handler.py~",
                 "#handler.py#", "pkg/__pycache__/m.pyc"):
        (tmp_path / junk).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / junk).write_text("junk")
    (tmp_path / "handler.py").write_text("x = 2\n")
    (tmp_path / "pkg" / "m.py").write_text("y = 1\n")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and set().union(*batches) < {"handler.py", os.path.join("pkg", "m.py")}:
        batches.append(watcher.next(0.1))
    batches.append(watcher.next(0.5))
    watcher.close()
    assert set().union(*batches) == {"handler.py", os.path.join("pkg", "m.py")}, batches


@pytest.mark.parametrize("poll", [False, True], ids=["watchfiles", "polling"])
def test_watcher_of_a_single_file_source_sees_only_that_file(tmp_path: Path, poll: bool) -> None:
    if not poll:
        pytest.importorskip("watchfiles")
    handler = tmp_path / "handler.py"
    handler.write_text("x = 1\n")
    watcher = Watcher(handler, poll=poll)
    watcher.start()
    (tmp_path / "other.py").write_text("not part of the source")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "handler.py").write_text("nor this")
    assert watcher.next(1.0) == ()
    _save(handler, "x = 2\n")
    assert watcher.next(30) == ("handler.py",)
    watcher.close()


def test_a_save_right_after_start_is_not_missed(tmp_path: Path) -> None:
    """The watch is in place when start() returns (the CLI builds only then): the very next save is seen."""
    pytest.importorskip("watchfiles")
    (tmp_path / "handler.py").write_text("x = 1\n")
    watcher = Watcher(tmp_path)
    watcher.start()
    (tmp_path / "handler.py").write_text("x = 2\n")
    try:
        assert watcher.next(30) == ("handler.py",)
    finally:
        watcher.close()


def test_watch_takes_a_source_and_build_flags_need_watch(tmp_path: Path) -> None:
    art = tmp_path / "a.tar.gz"
    art.write_bytes(b"not read")
    r = run_cli("serve", str(art), "--watch", "--port", str(_free_port()), timeout=60)
    assert r.returncode == 2 and "--watch takes a source" in r.stderr, r.stderr
    r = run_cli("serve", str(tmp_path / "missing"), "--watch", "--port", str(_free_port()), timeout=60)
    assert r.returncode == 3 and "source does not exist" in r.stderr, r.stderr
    r = run_cli("serve", str(art), "--wheelhouse", str(tmp_path), timeout=60)
    assert r.returncode == 2 and "--wheelhouse is a build flag" in r.stderr, r.stderr


def test_ignored_paths() -> None:
    assert ignored("__pycache__/x.pyc") and ignored(".git/HEAD") and ignored("a/.hg/x")
    assert ignored(".handler.py.swp") and ignored("handler.py~") and ignored(".#handler.py")
    assert not ignored("handler.py") and not ignored("requirements.txt") and not ignored("pkg/m.py")


def test_front_proxy_forwards_each_request_to_the_current_launcher(tmp_path: Path, python312: str) -> None:
    """The proxy in front of real launchers: chunked bodies, HEAD, probes, response headers and the
    execution id pass through; a keep-alive connection moves to the new launcher at a switch; a
    failure answers 503; nothing listens after close()."""
    from packager.devserver import Backend, FrontProxy, error_body
    from packager.errors import HandlerError
    from tests.ci_helpers import build_with, source

    arts = []
    for v in (1, 2):
        src = source(tmp_path, f"src{v}", files={"handler.py": (
            "def handler(payload, ctx):\n"
            f"    return {{'v': {v}, 'len': len(payload), 'id': ctx['execution_id']}}\n")})
        build_with(src, tmp_path / f"a{v}.tar.gz")
        arts.append(tmp_path / f"a{v}.tar.gz")
    front = FrontProxy("127.0.0.1", 0)
    front.start()
    logs = [(tmp_path / f"log{i}").open("wb") for i in range(len(arts))]
    backends = [Backend(a, python312, output=log) for a, log in zip(arts, logs)]
    try:
        for b in backends:
            assert b.wait_ready() is None
        front.switch(backends[0])
        conn = http.client.HTTPConnection("127.0.0.1", front.port, timeout=30)

        def chunks() -> Iterator[bytes]:
            yield b'{"a": '
            yield b"1}"

        conn.request("POST", "/", body=chunks(), headers={"X-Ignite-Execution-Id": "exec-1"},
                     encode_chunked=True)
        r = conn.getresponse()
        assert (r.status, json.loads(r.read())) == (200, {"v": 1, "len": 8, "id": "exec-1"})
        assert r.getheader("x-ignite-execution-id") == "exec-1"
        conn.request("HEAD", "/_/health")
        r = conn.getresponse()
        r.read()
        assert r.status == 200
        conn.request("GET", "/_/ready")
        r = conn.getresponse()
        assert r.status == 200, r.read()
        r.read()

        front.switch(backends[1])  # the same keep-alive connection now reaches the new launcher
        conn.request("POST", "/", body=b"{}")
        r = conn.getresponse()
        assert json.loads(r.read())["v"] == 2
        deadline = time.monotonic() + 30
        while backends[0].proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert backends[0].proc.returncode == 0  # the old one was drained and stopped (SIGTERM: exit 0)

        front.fail(error_body(HandlerError("boom", where="handler.py:3", hint="fix it")))
        conn.request("POST", "/", body=b"{}")
        r = conn.getresponse()
        assert r.status == 503 and r.getheader("retry-after") == "1"
        assert json.loads(r.read())["line"] == 3
        conn.close()
    finally:
        front.close()
        for b in backends:
            b.stop()
        for log in logs:
            log.close()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", front.port), timeout=5).close()
