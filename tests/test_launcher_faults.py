"""The launcher at its limits (issue 31, launcher items 5, 7, 8, 9, 10, 13), under a real CPython 3.12.

Each test runs its own launcher subprocess (descriptor limits set in the child with
``setrlimit``), talks to it over loopback, and is bounded in time.
"""

from __future__ import annotations

import json
import os
import resource
import select
import signal
import socket
import time
from pathlib import Path
from typing import Callable, List, Optional, Tuple

import pytest

from tests.launcher_harness import Launcher, RawClient, make_root, running_launcher

pytestmark = pytest.mark.launcher_only  # the launcher under the target's CPython, whatever runs pytest

HANDLER = """
import ctypes, os, time

HERE = os.path.dirname(os.path.abspath(__file__))
HELD = []

def handler(payload, ctx):
    op = payload[:16].decode("ascii", "replace")
    if op == "segv":
        ctypes.string_at(0)
    if op == "exit":
        os._exit(3)
    if op == "fork":  # a child process that ends with os._exit, as multiprocessing's do
        pid = os.fork()
        if pid == 0:
            os._exit(0)
        return str(os.waitpid(pid, 0)[1])
    if op == "hang":
        time.sleep(60)
        return "woke"
    if op.startswith("hog:"):  # keep this many descriptors open
        for _ in range(int(op[4:])):
            try:
                HELD.append(os.open(os.devnull, os.O_RDONLY))
            except OSError:
                break
        return str(len(HELD))
    if op == "free":
        while HELD:
            os.close(HELD.pop())
        return "freed"
    if op.startswith("gate:"):
        name = op[5:]
        open(os.path.join(HERE, "started-" + name), "w").close()
        deadline = time.monotonic() + 30
        while not os.path.exists(os.path.join(HERE, "release-" + name)):
            if time.monotonic() > deadline:
                return "gate never released"
            time.sleep(0.005)
        return "released " + name
    return str(len(payload))
"""


def nofile(soft: int, hard: int) -> Callable[[], None]:
    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))

    return limit


def post_req(body: bytes, extra: str = "") -> bytes:
    return f"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: {len(body)}\r\n{extra}\r\n".encode() + body


def health_on_new_connection(srv: Launcher, timeout: float = 10.0) -> int:
    status, _, _ = srv.get("/_/health", timeout=timeout)
    return status


def wait_for(check: Callable[[], bool], what: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"{what} did not happen within {timeout}s"
        time.sleep(0.05)


def soft_nofile(pid: int) -> int:
    for line in Path(f"/proc/{pid}/limits").read_text().splitlines():
        if line.startswith("Max open files"):
            return int(line.split()[3])
    raise AssertionError("no 'Max open files' in /proc/PID/limits")


# --- item 5: RLIMIT_NOFILE --------------------------------------------------------------------


def test_connection_cap_follows_the_fd_limit_and_the_launcher_survives_it(python312: str, tmp_path: Path) -> None:
    """96 descriptors, 150 idle connections: the old launcher accepted until EMFILE, then spun
    (or died importing a module it loads on first use); now the cap is below the limit and the
    oldest idle connections make room: new connections and probes are answered."""
    root = make_root(tmp_path, HANDLER)
    env = {"IGNITE_HEADER_TIMEOUT_S": "60"}
    with running_launcher(python312, root, env=env, preexec_fn=nofile(96, 96)) as srv:
        text = srv.stderr_text()
        assert "IGNITE_MAX_CONNECTIONS=4096 lowered to 64: RLIMIT_NOFILE is 96" in text
        socks: List[socket.socket] = []
        try:
            for _ in range(150):
                socks.append(srv.connect())
            for _ in range(3):
                assert health_on_new_connection(srv) == 200
            assert srv.post("/", b"12345", timeout=10)[2] == b"5"
            assert srv.proc.poll() is None
            text = srv.stderr_text()
            assert "I/O loop crashed" not in text
            assert text.count("accept failed") <= 1
            assert "closed" in text and "idle one(s) (oldest first" in text
            # the oldest connections were the ones closed
            socks[0].settimeout(10)
            assert socks[0].recv(1) == b""
        finally:
            for s in socks:
                s.close()


def test_emfile_pauses_accepting_without_spinning_then_resumes(python312: str, tmp_path: Path) -> None:
    """The handler takes every free descriptor: accept() fails with EMFILE. The launcher logs it
    once and stops accepting (no busy loop) until descriptors are free again."""
    root = make_root(tmp_path, HANDLER)
    with running_launcher(python312, root, preexec_fn=nofile(128, 128)) as srv:
        keep = RawClient(srv)  # opened before the descriptors run out
        keep.send(post_req(b"hog:1000"))
        status, _, body = keep.response()
        assert status == 200 and int(body) > 0
        waiting = [srv.connect() for _ in range(5)]  # stay in the backlog or fail accept()
        try:
            srv.wait_stderr(r"accept failed \d+ time\(s\): Too many open files", timeout=10)
            time.sleep(1.0)  # a spinning loop would log or retry thousands of times meanwhile
            text = srv.stderr_text()
            assert text.count("accept failed") == 1, text[-2000:]
            assert srv.proc.poll() is None
            keep.send(post_req(b"free"))
            assert keep.response()[2] == b"freed"
            assert health_on_new_connection(srv) == 200
            for s in waiting:  # the ones that waited are served too
                s.settimeout(10)
                s.sendall(b"GET /_/health HTTP/1.1\r\nHost: t\r\n\r\n")
                assert s.recv(65536).startswith(b"HTTP/1.1 200")
        finally:
            for s in waiting:
                s.close()
            keep.close()


def test_soft_fd_limit_is_raised_to_the_hard_limit(python312: str, tmp_path: Path) -> None:
    _, ours = resource.getrlimit(resource.RLIMIT_NOFILE)
    hard = 2048 if ours == resource.RLIM_INFINITY or ours >= 2048 else ours
    if hard <= 256:
        pytest.skip(f"the hard RLIMIT_NOFILE here is {ours}")
    root = make_root(tmp_path, HANDLER)
    with running_launcher(python312, root, preexec_fn=nofile(256, hard)) as srv:
        assert soft_nofile(srv.proc.pid) == hard
        assert f"RLIMIT_NOFILE raised from 256 to {hard}" in srv.stderr_text()
        # the cap follows the raised limit: 1/8 of the descriptors are kept back
        cap = hard - max(32, hard // 8)
        assert f"IGNITE_MAX_CONNECTIONS=4096 lowered to {cap}: RLIMIT_NOFILE is {hard}" in srv.stderr_text()


# --- item 7: idle keep-alive connections at the cap ----------------------------------------------


def test_idle_keep_alive_connections_make_room_for_new_ones_and_probes(python312: str, tmp_path: Path) -> None:
    root = make_root(tmp_path, HANDLER)
    env = {"IGNITE_MAX_CONNECTIONS": "20"}
    with running_launcher(python312, root, env=env) as srv:
        idle: List[RawClient] = []
        try:
            for _ in range(20):
                c = RawClient(srv)
                c.send(post_req(b"abc"))
                assert c.response()[2] == b"3"
                idle.append(c)
            for _ in range(5):  # the old launcher left these in the backlog for IGNITE_KEEPALIVE_S (75 s)
                assert health_on_new_connection(srv, timeout=5) == 200
            assert srv.post("/", b"abcd", timeout=5)[2] == b"4"
            assert idle[0].closed_by_peer(timeout=5)  # oldest first
            idle[-1].send(post_req(b"ab"))  # the newest idle one is still open
            assert idle[-1].response()[2] == b"2"
        finally:
            for c in idle:
                c.close()


def test_heads_trickling_in_at_the_cap_make_room_too(python312: str, tmp_path: Path) -> None:
    """Every connection holds half a request head (a slowloris): none is idle, the slowest go."""
    root = make_root(tmp_path, HANDLER)
    env = {"IGNITE_MAX_CONNECTIONS": "20", "IGNITE_HEADER_TIMEOUT_S": "60"}
    with running_launcher(python312, root, env=env) as srv:
        slow: List[socket.socket] = []
        try:
            for _ in range(20):
                s = srv.connect()
                s.sendall(b"POST / HTTP/1.1\r\nHost: t\r\n")
                slow.append(s)
            for _ in range(3):
                assert health_on_new_connection(srv, timeout=5) == 200
            slow[0].settimeout(5)
            assert slow[0].recv(1) == b""
        finally:
            for s in slow:
                s.close()


def test_at_the_cap_a_keep_alive_request_sent_but_not_read_yet_is_answered(python312: str, tmp_path: Path) -> None:
    """The oldest keep-alive connection sends its next request while a new connection arrives;
    the launcher sees the new connection first (the listener is first in epoll's ready list)
    and must make room: the old one only looks idle, its request waits in the kernel. Evicting
    it lost that request; the other, really idle, connection goes instead."""
    root = make_root(tmp_path, HANDLER)
    with running_launcher(python312, root, env={"IGNITE_MAX_CONNECTIONS": "3"}) as srv:
        oldest, other = RawClient(srv), RawClient(srv)
        newcomer: Optional[socket.socket] = None
        try:
            for c in (oldest, other):  # oldest goes idle first
                c.send(post_req(b"abc"))
                assert c.response()[2] == b"3"
            os.kill(srv.proc.pid, signal.SIGSTOP)
            try:
                # On loopback both complete inside the calls: the handshake (the listener is ready,
                # first in the ready list), then the request's bytes (the connection is ready).
                newcomer = srv.connect()
                oldest.send(post_req(b"abcd"))
            finally:
                os.kill(srv.proc.pid, signal.SIGCONT)
            assert oldest.response()[2] == b"4"
            assert other.closed_by_peer(timeout=5)
            newcomer.sendall(post_req(b"ab"))
            newcomer.settimeout(5)
            assert newcomer.recv(65536).startswith(b"HTTP/1.1 200")
        finally:
            for c in (oldest, other):
                c.close()
            if newcomer is not None:
                newcomer.close()


# --- item 8: the body budget -----------------------------------------------------------------


def _read_status(sock: socket.socket) -> Optional[int]:
    try:
        data = sock.recv(65536)
    except OSError:
        return None
    if not data.startswith(b"HTTP/1.1 "):
        return None
    return int(data.split()[1])


def test_stalled_uploads_are_bounded_by_the_body_budget(python312: str, tmp_path: Path) -> None:
    """Two uploads of 500 kB against a 1 MB budget... of which 600 kB may be one body: the second
    to be buffered across reads is refused with 503; the other completes."""
    root = make_root(tmp_path, HANDLER)
    env = {"IGNITE_MAX_BODY_BYTES": "600000", "IGNITE_BODY_BUDGET_BYTES": "900000"}
    with running_launcher(python312, root, env=env) as srv:
        a, b = srv.connect(), srv.connect()
        try:
            for s in (a, b):
                s.sendall(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 500000\r\n\r\n")
            sent = {a: 0, b: 0}
            refused: Optional[socket.socket] = None
            while refused is None and sent[a] < 300000:
                for s in (a, b):
                    s.sendall(b"x" * 1000)
                    sent[s] += 1000
                readable, _, _ = select.select([a, b], [], [], 0.02)
                for s in readable:
                    assert _read_status(s) == 503
                    refused = s
            assert refused is not None, "no upload was refused: bodies are buffered without a budget"
            survivor = b if refused is a else a
            survivor.sendall(b"x" * (500000 - sent[survivor]))
            survivor.settimeout(10)
            answer = survivor.recv(65536)
            assert answer.startswith(b"HTTP/1.1 200") and answer.endswith(b"500000"), answer
            assert "IGNITE_BODY_BUDGET_BYTES=900000" in srv.stderr_text()
            # the budget is free again: another upload of the same size is served
            assert srv.post("/", b"y" * 500000, timeout=10)[2] == b"500000"
        finally:
            a.close()
            b.close()


# --- item 9: every worker stuck -----------------------------------------------------------------


def test_probes_fail_when_every_worker_is_stuck(python312: str, tmp_path: Path) -> None:
    root = make_root(tmp_path, HANDLER)
    env = {"IGNITE_CONCURRENCY": "1", "IGNITE_TIMEOUT_S": "0.5", "IGNITE_STUCK_HEALTH_S": "1"}
    with running_launcher(python312, root, env=env) as srv:
        assert srv.post("/", b"hang", timeout=10)[0] == 504  # a replacement worker starts
        assert srv.get("/_/ready")[0] == 200
        assert srv.post("/", b"hang", timeout=10)[0] == 504  # no more replacements: none free

        def ready_is_503() -> bool:
            return srv.get("/_/ready")[0] == 503

        wait_for(ready_is_503, "/_/ready turning 503")
        status, _, body = srv.get("/_/ready")
        assert status == 503 and json.loads(body)["status"] == "stuck"

        def health_is_503() -> bool:
            return srv.get("/_/health")[0] == 503

        wait_for(health_is_503, "/_/health turning 503 after IGNITE_STUCK_HEALTH_S")
        assert "every worker (2) is running a handler past IGNITE_TIMEOUT_S" in srv.stderr_text()


def test_probes_fail_when_an_async_handler_blocks_the_loop(python312: str, tmp_path: Path) -> None:
    """``time.sleep`` in an ``async def`` past its time-out: the cancellation never runs, and
    neither does any other coroutine; the one asyncio thread is every worker."""
    root = make_root(tmp_path, "import time\n\nasync def handler(payload, ctx):\n    time.sleep(30)\n    return 'late'\n")
    env = {"IGNITE_TIMEOUT_S": "0.5", "IGNITE_STUCK_HEALTH_S": "0"}
    with running_launcher(python312, root, env=env) as srv:
        assert srv.post("/", b"x", timeout=10)[0] == 504

        def both_503() -> bool:
            return srv.get("/_/ready")[0] == 503 and srv.get("/_/health")[0] == 503

        wait_for(both_503, "/_/ready and /_/health turning 503")
        assert json.loads(srv.get("/_/ready")[2])["status"] == "stuck"


# --- item 10: crashes leave a trace --------------------------------------------------------------


def test_segfault_in_a_handler_dumps_the_stacks(python312: str, tmp_path: Path) -> None:
    root = make_root(tmp_path, HANDLER)
    with running_launcher(python312, root) as srv:
        try:
            srv.post("/", b"segv", timeout=10)
        except (OSError, http_client_errors()):
            pass
        assert srv.wait(15) == -signal.SIGSEGV
        text = srv.stderr_text()
        assert "Fatal Python error: Segmentation fault" in text
        assert "handler.py" in text


def test_os_exit_in_a_handler_is_logged(python312: str, tmp_path: Path) -> None:
    root = make_root(tmp_path, HANDLER)
    with running_launcher(python312, root) as srv:
        assert srv.post("/", b"fork", timeout=10)[2] == b"0"
        try:
            srv.post("/", b"exit", timeout=10)
        except (OSError, http_client_errors()):
            pass
        assert srv.wait(15) == 3
        text = srv.stderr_text()
        assert "os._exit(3) called (not by the launcher)" in text
        assert "os._exit(0)" not in text  # the forked child's
        assert 'handler.py", line' in text


def http_client_errors() -> type:
    import http.client

    return http.client.HTTPException


# --- item 13: a lossy stop is not a clean one ---------------------------------------------------


def _gate_in_background(srv: Launcher, name: str) -> Tuple[socket.socket, Path]:
    s = srv.connect()
    s.sendall(post_req(f"gate:{name}".encode()))
    started = srv.root / f"started-{name}"
    wait_for(started.exists, f"gate {name} starting")
    return s, started


def test_drain_that_runs_out_exits_non_zero_and_counts_the_dropped(python312: str, tmp_path: Path) -> None:
    root = make_root(tmp_path, HANDLER)
    with running_launcher(python312, root, env={"IGNITE_DRAIN_S": "0.5"}) as srv:
        s, _ = _gate_in_background(srv, "never")
        try:
            srv.send_signal(signal.SIGTERM)
            assert srv.wait(15) == 75
            text = srv.stderr_text()
            assert "1 request(s) dropped without a complete answer" in text
            assert "the drain ran out (IGNITE_DRAIN_S)" in text
        finally:
            s.close()


def test_second_signal_that_drops_requests_exits_non_zero(python312: str, tmp_path: Path) -> None:
    root = make_root(tmp_path, HANDLER)
    with running_launcher(python312, root, env={"IGNITE_DRAIN_S": "30"}) as srv:
        s, _ = _gate_in_background(srv, "never")
        try:
            srv.send_signal(signal.SIGTERM)
            srv.wait_stderr("draining 1 in-flight")
            srv.send_signal(signal.SIGTERM)
            assert srv.wait(15) == 75
            assert "(second signal): 1 request(s) dropped" in srv.stderr_text()
        finally:
            s.close()


def _upload_started(srv: Launcher) -> socket.socket:
    """A connection whose request head the launcher has parsed (it sent 100 Continue)."""
    s = srv.connect()
    s.sendall(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\nExpect: 100-continue\r\n\r\nabc")
    assert s.recv(65536).startswith(b"HTTP/1.1 100 Continue")
    return s


def test_upload_in_progress_at_sigterm_is_finished(python312: str, tmp_path: Path) -> None:
    root = make_root(tmp_path, HANDLER)
    with running_launcher(python312, root, env={"IGNITE_DRAIN_S": "20"}) as srv:
        s = _upload_started(srv)
        try:
            srv.send_signal(signal.SIGTERM)
            srv.wait_stderr("draining")
            time.sleep(0.3)  # the old launcher exited here, closing the connection unanswered
            s.sendall(b"defghij")
            s.settimeout(10)
            answer = s.recv(65536)
            assert answer.startswith(b"HTTP/1.1 200"), answer
            assert b"Connection: close" in answer and answer.endswith(b"\r\n\r\n10")
            assert srv.wait(15) == 0
        finally:
            s.close()


def test_upload_unfinished_when_the_drain_runs_out_gets_503(python312: str, tmp_path: Path) -> None:
    root = make_root(tmp_path, HANDLER)
    with running_launcher(python312, root, env={"IGNITE_DRAIN_S": "0.5"}) as srv:
        s = _upload_started(srv)
        try:
            srv.send_signal(signal.SIGTERM)
            s.settimeout(10)
            answer = s.recv(65536)
            assert answer.startswith(b"HTTP/1.1 503"), answer
            assert b"Connection: close" in answer and b'"Draining"' in answer
            assert srv.wait(15) == 0  # answered: nothing dropped
            assert "1 request(s) answered 503 Draining" in srv.stderr_text()
        finally:
            s.close()
