"""A sync handler alone in flight runs on the I/O thread; a standby thread takes the loop over
when it blocks, so probes, other requests, limits and time-outs go on (launcher/server.py)."""

from __future__ import annotations

import json
import signal
import threading
from pathlib import Path

import pytest

from tests.launcher_harness import Launcher, make_root, running_launcher

pytestmark = pytest.mark.launcher_only  # the launcher under the target's CPython, whatever runs pytest

HANDLER = '''
import json, os, threading, time

HERE = os.path.dirname(os.path.abspath(__file__))
_lock = threading.Lock()
_running = [0, 0]  # now, most at once


def handler(payload, ctx):
    op = payload.decode()
    with _lock:
        _running[0] += 1
        _running[1] = max(_running)
    try:
        if op == "thread":
            return threading.current_thread().name
        if op.startswith("block:"):  # block:NAME:SECONDS, with a file saying when it ended
            _, name, secs = op.split(":")
            open(os.path.join(HERE, "started-" + name), "w").close()
            time.sleep(float(secs))
            open(os.path.join(HERE, "ended-" + name), "w").close()
            return "slept"
        if op == "most":
            return str(_running[1])
        return op
    finally:
        with _lock:
            _running[0] -= 1
'''


def _wait_for(path: Path, srv: Launcher, seconds: float = 20.0) -> None:
    import time

    deadline = time.monotonic() + seconds
    while not path.exists():
        assert srv.proc.poll() is None, srv.stderr_text()
        assert time.monotonic() < deadline, f"{path.name} not written"
        time.sleep(0.01)


def _in_background(srv: Launcher, body: bytes, out: list[tuple[int, bytes]]) -> threading.Thread:
    def call() -> None:
        status, _, data = srv.post("/", body, timeout=60)
        out.append((status, data))

    t = threading.Thread(target=call)
    t.start()
    return t


def test_a_request_alone_runs_on_the_io_thread_and_can_be_turned_off(python312: str, tmp_path: Path) -> None:
    root = make_root(tmp_path, HANDLER)
    with running_launcher(python312, root) as srv:
        names = {srv.post("/", b"thread")[2] for _ in range(20)}
    assert names == {b"ignite-io"}, names  # no hand-off to a worker thread
    with running_launcher(python312, root, env={"IGNITE_INLINE": "0"}) as srv:
        names = {srv.post("/", b"thread")[2] for _ in range(5)}
    assert all(n.startswith(b"ignite-worker-") for n in names), names


def test_a_blocking_handler_loses_the_loop_and_everything_else_goes_on(python312: str, tmp_path: Path) -> None:
    """While the handler on the I/O thread sleeps, the standby serves probes and another request
    (on the pool); afterwards the roles have swapped and both threads keep serving."""
    root = make_root(tmp_path, HANDLER)
    with running_launcher(python312, root, env={"IGNITE_CONCURRENCY": "2", "IGNITE_LOG_LEVEL": "debug"}) as srv:
        first: list[tuple[int, bytes]] = []
        t = _in_background(srv, b"block:a:3", first)
        _wait_for(root / "started-a", srv)
        assert srv.get("/_/health")[0] == 200
        assert srv.get("/_/ready")[0] == 200
        status, _, body = srv.post("/", b"echo")
        assert (status, body) == (200, b"echo")
        assert not (root / "ended-a").exists()  # all of that while the first handler still ran
        t.join(30)
        assert first == [(200, b"slept")]
        # the handler that blocked made the loop send requests to the pool for a while; then
        # requests alone run on whichever thread leads the loop now
        import time

        deadline = time.monotonic() + 10
        while srv.post("/", b"thread")[2].startswith(b"ignite-worker-"):
            assert time.monotonic() < deadline, "requests never ran on the loop's thread again"
            time.sleep(0.2)
        assert srv.post("/", b"thread")[2] in (b"ignite-io", b"ignite-io-standby")
    assert "blocks the I/O thread; the standby takes the loop over" in srv.stderr_text()


def test_concurrency_one_still_means_one_handler_at_a_time(python312: str, tmp_path: Path) -> None:
    """The handler that kept running after the take-over holds the pool's only seat: the next
    request waits for it instead of running beside it."""
    root = make_root(tmp_path, HANDLER)
    with running_launcher(python312, root, env={"IGNITE_CONCURRENCY": "1"}) as srv:
        first: list[tuple[int, bytes]] = []
        second: list[tuple[int, bytes]] = []
        t1 = _in_background(srv, b"block:a:2", first)
        _wait_for(root / "started-a", srv)
        assert srv.get("/_/health")[0] == 200  # the loop is served meanwhile
        t2 = _in_background(srv, b"block:b:0.2", second)
        t1.join(30)
        t2.join(30)
        assert first == [(200, b"slept")] and second == [(200, b"slept")]
        assert (root / "ended-a").stat().st_mtime_ns <= (root / "started-b").stat().st_mtime_ns
        assert srv.post("/", b"most")[2] == b"1"


def test_a_handler_on_the_io_thread_times_out_and_the_server_lives(python312: str, tmp_path: Path) -> None:
    root = make_root(tmp_path, HANDLER)
    env = {"IGNITE_TIMEOUT_S": "1", "IGNITE_CONCURRENCY": "1"}
    with running_launcher(python312, root, env=env) as srv:
        status, _, body = srv.post("/", b"block:a:3", timeout=30)
        assert status == 504 and json.loads(body)["type"] == "Timeout"
        text = srv.wait_stderr(r"timed out after 1s; handler stack", timeout=10)
        assert "time.sleep" in text
        assert srv.get("/_/health")[0] == 200
        _wait_for(root / "ended-a", srv)
        # once it returned (its answer discarded), the one seat is free again
        status, _, body = srv.post("/", b"echo", timeout=30)
        assert (status, body) == (200, b"echo")
        srv.wait_stderr(r"finished after it timed out", timeout=10)


def test_sigterm_while_a_handler_blocks_the_io_thread_drains_it(python312: str, tmp_path: Path) -> None:
    root = make_root(tmp_path, HANDLER)
    with running_launcher(python312, root) as srv:
        first: list[tuple[int, bytes]] = []
        t = _in_background(srv, b"block:a:1.5", first)
        _wait_for(root / "started-a", srv)
        srv.send_signal(signal.SIGTERM)
        t.join(30)
        assert first == [(200, b"slept")]
        assert srv.wait(15) == 0
        assert "stopped" in srv.stderr_text()


@pytest.mark.parametrize("value, inline", [("off", False), ("1", True), ("maybe", True)])
def test_ignite_inline_setting(value: str, inline: bool) -> None:
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from launcher.config import load

    s = load({"IGNITE_INLINE": value})
    assert s.inline is inline
    assert bool(s.warnings) is (value == "maybe")


def test_request_lines_are_written_while_a_keep_alive_connection_stays_open(python312: str, tmp_path: Path) -> None:
    """Request lines go out in batches, but not only when the server goes idle: with a
    keep-alive connection still open (the loop never sleeps for good) they appear too,
    every one of them, in order."""
    import http.client

    root = make_root(tmp_path, HANDLER)
    with running_launcher(python312, root, env={"IGNITE_LOG_LEVEL": "info"}) as srv:
        conn = http.client.HTTPConnection(srv.host, srv.port, timeout=10)
        try:
            for i in range(40):
                conn.request("POST", f"/n{i}", body=b"echo")
                assert conn.getresponse().read() == b"echo"
            text = srv.wait_stderr(r"POST /n39 200", timeout=10)  # the connection is still open
            paths = [line.split()[3] for line in text.splitlines() if line.startswith("[ignite] INFO POST /n")]
            assert paths == [f"/n{i}" for i in range(40)]
        finally:
            conn.close()
