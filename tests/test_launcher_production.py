"""End-to-end: the launcher's production behaviour (issue 6) under a real CPython 3.12."""

from __future__ import annotations

import json
import signal
import socket
import threading
import time
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Tuple

import pytest

from tests.launcher_harness import Launcher, RawClient, make_root, running_launcher

pytestmark = pytest.mark.launcher_only  # the launcher under the target's CPython, whatever runs pytest

# The handler blocks on "gate" files so tests control exactly when it returns.
GATED = """
import json, os, time

HERE = os.path.dirname(os.path.abspath(__file__))

def stuck_here(seconds):
    time.sleep(seconds)

def handler(payload, ctx):
    op = payload.decode("utf-8", "replace")
    if op.startswith("gate:"):
        name = op[5:]
        open(os.path.join(HERE, "started-" + name), "w").close()
        deadline = time.monotonic() + 30
        while not os.path.exists(os.path.join(HERE, "release-" + name)):
            if time.monotonic() > deadline:
                return "gate never released"
            time.sleep(0.005)
        return "released " + name
    if op == "stuck":
        stuck_here(30)
        return "unstuck"
    if op == "len":
        return str(len(payload))
    return payload
"""


def post_req(body: bytes, path: str = "/", extra: str = "") -> bytes:
    return (f"POST {path} HTTP/1.1\r\nHost: t\r\nContent-Length: {len(body)}\r\n{extra}\r\n").encode() + body


def wait_file(path: Path, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} did not appear"
        time.sleep(0.005)


class Bg:
    """Run one blocking POST in a thread; .result is (status, headers, body) or the exception."""

    def __init__(self, srv: Launcher, body: bytes, headers: Optional[Dict[str, str]] = None) -> None:
        self.result: object = None
        self.thread = threading.Thread(target=self._run, args=(srv, body, headers or {}), daemon=True)
        self.thread.start()

    def _run(self, srv: Launcher, body: bytes, headers: Dict[str, str]) -> None:
        try:
            self.result = srv.post("/", body, headers=headers, timeout=30)
        except Exception as exc:
            self.result = exc

    def join(self, timeout: float = 30.0) -> Tuple[int, Dict[str, str], bytes]:
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "request did not finish"
        assert isinstance(self.result, tuple), self.result
        return self.result


@pytest.fixture(scope="module")
def gated(python312: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Launcher]:
    root = make_root(tmp_path_factory.mktemp("gated"), GATED)
    env = {
        "IGNITE_MAX_BODY_BYTES": "1000",
        "IGNITE_MAX_HEADERS": "20",
        "IGNITE_MAX_HEADER_BYTES": "4096",
        "IGNITE_HEADER_TIMEOUT_S": "1",
        "IGNITE_BODY_TIMEOUT_S": "1",
    }
    with running_launcher(python312, root, env=env) as srv:
        yield srv


def test_blocking_handler_does_not_block_probes(gated: Launcher) -> None:
    root = gated.root
    bg = Bg(gated, b"gate:probe")
    wait_file(root / "started-probe")
    assert gated.get("/_/health", timeout=5)[0] == 200
    assert gated.get("/_/ready", timeout=5)[0] == 200
    assert gated.post("/", b"len", timeout=5)[2] == b"3"  # another worker serves meanwhile
    assert bg.thread.is_alive()  # still blocked: the probes were answered while it ran
    (root / "release-probe").write_text("")
    assert bg.join()[2] == b"released probe"


def test_keep_alive_and_pipelining(gated: Launcher) -> None:
    raw = RawClient(gated)
    try:
        raw.send(post_req(b"one"))
        assert raw.response()[2] == b"one"
        raw.send(post_req(b"two"))  # same connection
        assert raw.response()[2] == b"two"
        # three requests in one write, answered in order
        raw.send(post_req(b"first") + b"GET /_/health HTTP/1.1\r\nHost: t\r\n\r\n" + post_req(b"third"))
        r1, r2, r3 = raw.response(), raw.response(), raw.response()
        assert (r1[0], r1[2]) == (200, b"first")
        assert r2[0] == 200
        assert json.loads(r2[2]) == {"status": "ok"}
        assert (r3[0], r3[2]) == (200, b"third")
        assert len({r1[1]["x-ignite-execution-id"], r3[1]["x-ignite-execution-id"]}) == 2
    finally:
        raw.close()


def test_chunked_request_body(gated: Launcher) -> None:
    raw = RawClient(gated)
    try:
        raw.send(b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n")
        raw.send(b"5;ext=1\r\nhello\r\n")
        time.sleep(0.05)
        raw.send(b"6\r\n worl")
        raw.send(b"d\r\n0\r\nX-Trailer: yes\r\n\r\n")
        status, _, body = raw.response()
        assert (status, body) == (200, b"hello world")
        # and the connection is still usable afterwards
        raw.send(post_req(b"after"))
        assert raw.response()[2] == b"after"
    finally:
        raw.close()


def test_expect_100_continue(gated: Launcher) -> None:
    raw = RawClient(gated)
    try:
        raw.send(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n")
        status, _, _ = raw.response()
        assert status == 100
        raw.send(b"body")
        assert raw.response()[2] == b"body"
    finally:
        raw.close()


def test_http10_closes_after_response(gated: Launcher) -> None:
    raw = RawClient(gated)
    try:
        raw.send(b"POST / HTTP/1.0\r\nContent-Length: 2\r\n\r\nhi")
        status, headers, body = raw.response()
        assert (status, body) == (200, b"hi")
        assert headers["connection"] == "close"
        assert raw.closed_by_peer()
    finally:
        raw.close()


def test_body_too_large_is_413_without_reading_it(gated: Launcher) -> None:
    raw = RawClient(gated)
    try:
        raw.send(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 50000000\r\n\r\n" + b"x" * 100)
        status, headers, body = raw.response()
        assert status == 413
        assert headers["connection"] == "close"
        assert "IGNITE_MAX_BODY_BYTES" in json.loads(body)["error"]
        assert raw.closed_by_peer()
    finally:
        raw.close()
    raw = RawClient(gated)
    try:  # chunked bodies are counted as they arrive
        raw.send(b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n")
        raw.send(b"200\r\n" + b"y" * 512 + b"\r\n" + b"200\r\n" + b"y" * 512 + b"\r\n")
        assert raw.response()[0] == 413
        assert raw.closed_by_peer()
    finally:
        raw.close()
    assert gated.post("/", b"x" * 1000)[0] == 200  # exactly the limit is fine


def test_header_limits_are_431(gated: Launcher) -> None:
    raw = RawClient(gated)
    try:
        raw.send(b"POST / HTTP/1.1\r\nHost: t\r\nX-Big: " + b"a" * 5000 + b"\r\nContent-Length: 0\r\n\r\n")
        assert raw.response()[0] == 431
        assert raw.closed_by_peer()
    finally:
        raw.close()
    raw = RawClient(gated)
    try:
        many = "".join(f"X-H{i}: v\r\n" for i in range(30))
        raw.send(f"POST / HTTP/1.1\r\nHost: t\r\n{many}Content-Length: 0\r\n\r\n".encode())
        status, _, body = raw.response()
        assert status == 431
        assert "IGNITE_MAX_HEADERS" in json.loads(body)["error"]
    finally:
        raw.close()


@pytest.mark.parametrize(
    "bad",
    [
        b"NONSENSE\r\n\r\n",
        b"POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
        b"POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
        b"POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
        b"POST / HTTP/1.1\r\nBad Header : x\r\n\r\n",
        b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    ],
)
def test_malformed_requests_are_400(gated: Launcher, bad: bytes) -> None:
    raw = RawClient(gated)
    try:
        raw.send(bad)
        assert raw.response()[0] == 400
    finally:
        raw.close()
    assert gated.get("/_/health")[0] == 200


def test_slow_client_cannot_hold_the_server(gated: Launcher) -> None:
    slow = RawClient(gated)
    stop = threading.Event()
    head = post_req(b"slowbody")

    def trickle() -> None:
        try:
            for i in range(len(head)):
                if stop.is_set():
                    return
                slow.send(head[i : i + 1])
                time.sleep(0.2)
        except OSError:
            return

    t = threading.Thread(target=trickle, daemon=True)
    t.start()
    try:
        for i in range(5):  # others are served while the slow client trickles
            assert gated.post("/", f"fast{i}".encode(), timeout=5)[2] == f"fast{i}".encode()
        status, _, body = slow.response()  # the header timeout (1 s) cuts it off
        assert b"IGNITE_HEADER_TIMEOUT_S" in body
        assert status == 408
        assert slow.closed_by_peer()
    finally:
        stop.set()
        slow.close()
        t.join(10)


def test_idle_connection_without_request_is_closed(gated: Launcher) -> None:
    raw = RawClient(gated)
    try:
        assert raw.closed_by_peer(timeout=10)
    finally:
        raw.close()


def test_client_disconnects_mid_request(gated: Launcher) -> None:
    root = gated.root
    raw = RawClient(gated)  # half a body, then gone
    raw.send(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\nabc")
    raw.close()
    raw = RawClient(gated)  # handler running when the client goes away
    raw.send(post_req(b"gate:gone"))
    wait_file(root / "started-gone")
    raw.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    raw.close()  # RST
    (root / "release-gone").write_text("")
    gated.wait_stderr(r"POST / 200 .*\n")
    for _ in range(3):
        assert gated.post("/", b"still")[2] == b"still"
    assert "crashed" not in gated.stderr_text()


# --- timeouts, queueing -------------------------------------------------------------------


def test_handler_timeout_is_504_with_stack(python312: str, tmp_path: Path) -> None:
    root = make_root(tmp_path, GATED)
    env = {"IGNITE_TIMEOUT_S": "1", "IGNITE_CONCURRENCY": "1"}
    with running_launcher(python312, root, env=env) as srv:
        status, headers, body = srv.post("/", b"stuck", headers={"X-Ignite-Execution-Id": "slow-1"})
        assert status == 504
        assert headers["x-ignite-execution-id"] == "slow-1"
        assert "IGNITE_TIMEOUT_S" in json.loads(body)["error"]
        text = srv.wait_stderr(r"stuck_here")
        assert "execution slow-1 timed out" in text
        assert "time.sleep(seconds)" in text  # the live frame of the stuck worker
        # the stuck worker was replaced: the single slot serves again
        assert srv.post("/", b"len", timeout=5)[2] == b"3"


def test_queue_full_is_503_with_retry_after(python312: str, tmp_path: Path) -> None:
    root = make_root(tmp_path, GATED)
    with running_launcher(python312, root, env={"IGNITE_CONCURRENCY": "1", "IGNITE_QUEUE": "1"}) as srv:
        a = Bg(srv, b"gate:a")
        wait_file(root / "started-a")
        b = Bg(srv, b"gate:b")
        c = Bg(srv, b"gate:c")
        # one of b/c is queued behind a; the other is refused at once
        deadline = time.monotonic() + 15
        while b.thread.is_alive() and c.thread.is_alive():
            assert time.monotonic() < deadline
            time.sleep(0.01)
        refused, queued = (b, c) if not b.thread.is_alive() else (c, b)
        status, headers, body = refused.join()
        assert status == 503
        assert headers["retry-after"] == "1"
        assert "IGNITE_QUEUE" in json.loads(body)["error"]
        name = "b" if queued is b else "c"
        (root / "release-a").write_text("")
        (root / f"release-{name}").write_text("")
        assert a.join()[2] == b"released a"
        assert queued.join()[2] == f"released {name}".encode()


# --- async --------------------------------------------------------------------------------

ASYNC = """
import asyncio, os, time

HERE = os.path.dirname(os.path.abspath(__file__))

async def deep_wait():
    await asyncio.sleep(30)

async def handler(payload, ctx):
    if payload == b"sleep":
        await deep_wait()
    if payload == b"gate":
        open(os.path.join(HERE, "started"), "w").close()
        while not os.path.exists(os.path.join(HERE, "release")):
            await asyncio.sleep(0.005)
        return "released"
    if payload == b"raise":
        raise LookupError("async boom")
    await asyncio.sleep(0)
    return {"async": True, "ctx": sorted(ctx), "loop": asyncio.get_running_loop().is_running()}
"""


def test_async_handler(python312: str, tmp_path: Path) -> None:
    root = make_root(tmp_path, ASYNC)
    with running_launcher(python312, root, env={"IGNITE_TIMEOUT_S": "1"}) as srv:
        status, headers, body = srv.post("/", b"")
        assert status == 200
        assert headers["content-type"] == "application/json"
        assert json.loads(body) == {
            "async": True,
            "ctx": ["execution_id", "function_id", "organization_id"],
            "loop": True,
        }
        status, _, body = srv.post("/", b"raise")
        assert status == 500
        assert json.loads(body)["type"] == "LookupError"
        bg = Bg(srv, b"gate")
        wait_file(root / "started")
        assert srv.get("/_/health", timeout=5)[0] == 200
        assert srv.post("/", b"", timeout=5)[0] == 200  # concurrent with the gated coroutine
        assert bg.thread.is_alive()
        (root / "release").write_text("")
        assert bg.join()[2] == b"released"
        status, _, _ = srv.post("/", b"sleep", headers={"X-Ignite-Execution-Id": "co-1"})
        assert status == 504
        text = srv.wait_stderr("deep_wait")
        assert "execution co-1 timed out" in text
        assert srv.post("/", b"")[0] == 200


def test_sync_handler_does_not_import_asyncio(python312: str, tmp_path: Path) -> None:
    src = "import sys\ndef handler(payload, ctx):\n    return {'asyncio': 'asyncio' in sys.modules, 'mods': sorted(sys.modules)}\n"
    root = make_root(tmp_path, src)
    with running_launcher(python312, root) as srv:
        data = json.loads(srv.post("/", b"")[2])
        assert data["asyncio"] is False
        for heavy in ("asyncio", "http.server", "email", "logging", "selectors", "uuid", "typing", "socket"):
            assert heavy not in data["mods"], heavy


# --- shutdown -----------------------------------------------------------------------------


def test_sigterm_drains_in_flight_request_then_exits_0(python312: str, tmp_path: Path) -> None:
    root = make_root(tmp_path, GATED)
    with running_launcher(python312, root, env={"IGNITE_DRAIN_S": "20"}) as srv:
        idle = RawClient(srv)  # an idle keep-alive connection is closed at once
        idle.send(post_req(b"x"))
        assert idle.response()[0] == 200
        bg = Bg(srv, b"gate:drain")
        wait_file(root / "started-drain")
        srv.send_signal(signal.SIGTERM)
        srv.wait_stderr("draining 1 in-flight")
        assert idle.closed_by_peer()
        idle.close()
        deadline = time.monotonic() + 10
        while True:  # no longer accepting
            try:
                socket.create_connection(("127.0.0.1", srv.port), timeout=2).close()
            except OSError:
                break
            assert time.monotonic() < deadline, "still accepting after SIGTERM"
            time.sleep(0.02)
        assert srv.proc.poll() is None
        (root / "release-drain").write_text("")
        status, headers, body = bg.join()
        assert (status, body) == (200, b"released drain")
        assert headers["connection"] == "close"
        assert srv.wait(15) == 0
        assert "hard stop" not in srv.stderr_text()


def test_sigterm_hard_stop_logs_unfinished_execution(python312: str, tmp_path: Path) -> None:
    root = make_root(tmp_path, GATED)
    with running_launcher(python312, root, env={"IGNITE_DRAIN_S": "0.5"}) as srv:
        bg = Bg(srv, b"gate:never", headers={"X-Ignite-Execution-Id": "unfinished-7"})
        wait_file(root / "started-never")
        srv.send_signal(signal.SIGTERM)
        assert srv.wait(15) == 75  # a stop that dropped a request is not a clean one (issue 31)
        assert "hard stop: execution unfinished-7" in srv.stderr_text()
        bg.thread.join(15)
        assert not isinstance(bg.result, tuple) or bg.result[0] != 200


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_signal_when_idle_exits_0(python312: str, tmp_path: Path, sig: int) -> None:
    root = make_root(tmp_path, GATED)
    with running_launcher(python312, root) as srv:
        srv.send_signal(sig)
        assert srv.wait(15) == 0
        assert "stopped" in srv.stderr_text()


def test_sigterm_during_slow_import_exits_0(python312: str, tmp_path: Path) -> None:
    root = make_root(tmp_path, "import time\ntime.sleep(60)\ndef handler(p, c):\n    return 1\n")
    with running_launcher(python312, root, wait_ready=False) as srv:
        assert srv.get("/_/ready")[0] == 503
        srv.send_signal(signal.SIGTERM)
        assert srv.wait(15) == 0


# --- logging ----------------------------------------------------------------------------


def test_log_level_warning_hides_request_lines(python312: str, tmp_path: Path) -> None:
    root = make_root(tmp_path, GATED)
    with running_launcher(python312, root, env={"IGNITE_LOG_LEVEL": "warning", "IGNITE_QUEUE": "oops"}) as srv:
        assert srv.post("/", b"abc")[0] == 200
        assert srv.post("/", b"def")[0] == 200
        text = srv.stderr_text()
        assert "POST /" not in text
        assert "IGNITE_QUEUE='oops' is not an integer" in text


def _concurrent_posts(srv: Launcher, n: int) -> List[bytes]:
    out: List[bytes] = [b""] * n

    def one(i: int) -> None:
        out[i] = srv.post("/", f"req{i}".encode(), timeout=20)[2]

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return out


def test_many_concurrent_connections(gated: Launcher) -> None:
    assert _concurrent_posts(gated, 40) == [f"req{i}".encode() for i in range(40)]


def test_half_closed_client_still_gets_its_response(gated: Launcher) -> None:
    root = gated.root
    raw = RawClient(gated)
    try:
        raw.send(post_req(b"gate:half"))
        wait_file(root / "started-half")
        raw.sock.shutdown(socket.SHUT_WR)  # EOF reaches the server while the handler runs
        time.sleep(0.05)
        (root / "release-half").write_text("")
        status, _, body = raw.response()
        assert (status, body) == (200, b"released half")
        assert raw.closed_by_peer()
    finally:
        raw.close()
    assert gated.get("/_/health")[0] == 200


# ------------------------------------------------------------------ slow readers (issue 31, item 4)

BIG_HANDLER = """
def handler(payload, ctx):
    return b"x" * (int(payload or b"0") * 1024 * 1024)
"""


def _read_slowly(sock: socket.socket, want: int, chunk: int = 256 * 1024, pause: float = 0.04) -> bytes:
    """Read *want* bytes of body after the head, in small pieces with pauses, as a slow client does."""
    data = bytearray()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        piece = sock.recv(chunk)
        if not piece:
            break
        data += piece
        head_end = data.find(b"\r\n\r\n")
        if head_end >= 0 and len(data) - head_end - 4 >= want:
            break
        time.sleep(pause)
    return bytes(data)


def test_a_large_response_reaches_a_client_that_keeps_reading(tmp_path: Path, python312: str) -> None:
    """The send timeout runs from the client's last progress: 20 MiB read over several send windows,
    on a keep-alive connection that was idle longer than the window before the request."""
    root = make_root(tmp_path, BIG_HANDLER)
    env = {"IGNITE_HEADER_TIMEOUT_S": "0.5", "IGNITE_BODY_TIMEOUT_S": "0.5", "IGNITE_KEEPALIVE_S": "30"}
    with running_launcher(python312, root, env=env) as srv:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
        sock.settimeout(10)
        sock.connect(("127.0.0.1", srv.port))
        try:
            sock.sendall(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\n\r\n0")
            first = _read_slowly(sock, 0, pause=0)
            assert first.startswith(b"HTTP/1.1 200"), first[:100]
            time.sleep(1.5)  # idle past the 1 s send window, within keep-alive
            size = 20 * 1024 * 1024
            sock.sendall(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\n20")
            data = _read_slowly(sock, size)
        finally:
            sock.close()
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), head[:100]
    assert len(body) == size, f"the response was cut off: {len(body)} of {size} bytes"
