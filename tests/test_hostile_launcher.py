"""Hostile requests and faulty handlers against the launcher, under a real CPython 3.12.

The promise (DESIGN.md §3, SECURITY.md): no request, client or handler takes
the launcher down. Bad requests get a 4xx and a closed connection; handlers
that raise, exit, hang, return junk or run out of memory get a 5xx; slow,
pipelining or vanishing clients do not stop others from being served; and a
soak of 2000 requests leaves threads, file descriptors and RSS where they were.

Every server binds 127.0.0.1 on a free port (``PORT=0``), every client socket
has a timeout, every wait is bounded, and the harness kills the process group
at the end. There are no timing assertions: only outcomes.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.launcher_harness import Launcher, RawClient, make_root, running_launcher

pytestmark = pytest.mark.launcher_only  # the launcher under the target's CPython, whatever runs pytest

HANDLER = r'''
import os, sys, time, datetime

HERE = os.path.dirname(os.path.abspath(__file__))
_hoard = []

class Boom(BaseException):
    pass

class BadStr(Exception):
    def __str__(self):
        raise RuntimeError("str() of this exception fails too")

def handler(payload, ctx):
    op = payload.decode("utf-8", "replace")
    if op == "raise":
        raise ValueError("handler failed on purpose")
    if op == "raise-badstr":
        raise BadStr()
    if op == "raise-base":
        raise Boom("a BaseException subclass")
    if op == "exit":
        sys.exit(3)
    if op == "keyboard":
        raise KeyboardInterrupt
    if op == "datetime":
        return {"rows": [1, 2, {"ts": datetime.datetime(2024, 1, 1)}]}
    if op == "set":
        return {1, 2, 3}
    if op == "object":
        return object()
    if op == "circular":
        x = []
        x.append(x)
        return x
    if op == "deep":
        x = []
        for _ in range(100000):
            x = [x]
        return x
    if op == "bad-key":
        return {(1, 2): "tuple key"}
    if op == "hang":
        time.sleep(6)
        return "woke up"
    if op == "oom":
        return bytes(1 << 40)  # 1 TiB: MemoryError
    if op == "leak":
        _hoard.append(bytearray(4 << 20))  # 4 MiB per call, kept
        return str(len(_hoard))
    if op.startswith("big:"):
        return b"x" * int(op[4:])
    if op.startswith("mark:"):
        _, name, secs = op.split(":")
        open(os.path.join(HERE, "started-" + name), "w").close()
        time.sleep(float(secs))
        return "slept"
    if op.startswith("sleep:"):
        time.sleep(float(op[6:]))
        return "slept"
    return payload
'''

ENV = {
    "IGNITE_MAX_BODY_BYTES": "65536",
    "IGNITE_MAX_HEADER_BYTES": "4096",
    "IGNITE_MAX_HEADERS": "30",
    "IGNITE_HEADER_TIMEOUT_S": "2",
    "IGNITE_BODY_TIMEOUT_S": "2",
    "IGNITE_TIMEOUT_S": "2",
    "IGNITE_CONCURRENCY": "4",
}


@pytest.fixture(scope="module")
def srv(python312: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Launcher]:
    root = make_root(tmp_path_factory.mktemp("hostile"), HANDLER)
    with running_launcher(python312, root, env=ENV) as s:
        yield s


def post(body: bytes, extra: str = "", path: str = "/") -> bytes:
    return f"POST {path} HTTP/1.1\r\nHost: t\r\nContent-Length: {len(body)}\r\n{extra}\r\n".encode() + body


def assert_alive(srv: Launcher) -> None:
    """The process runs and answers a probe and a real invocation."""
    assert srv.proc.poll() is None, srv.stderr_text()
    assert srv.get("/_/health")[0] == 200
    status, _, body = srv.post("/", b"ping")
    assert (status, body) == (200, b"ping")


def call(srv: Launcher, op: str) -> tuple[int, dict[str, str], bytes]:
    return srv.post("/", op.encode(), timeout=30)


# ------------------------------------------------------------------ malformed requests

MALFORMED = {
    "garbage": b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n",  # a TLS hello
    "no-version": b"POST /\r\n\r\n",
    "extra-space": b"POST  / HTTP/1.1\r\nHost: t\r\n\r\n",
    "bad-version": b"POST / HTTX/1.1\r\nHost: t\r\n\r\n",
    "no-colon": b"POST / HTTP/1.1\r\nHost t\r\n\r\n",
    "space-before-colon": b"POST / HTTP/1.1\r\nHost : t\r\n\r\n",
    "obs-fold": b"POST / HTTP/1.1\r\nHost: t\r\n folded\r\n\r\n",
    "empty-name": b"POST / HTTP/1.1\r\n: x\r\n\r\n",
    "negative-length": b"POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
    "plus-length": b"POST / HTTP/1.1\r\nContent-Length: +5\r\n\r\nhello",
    "hex-length": b"POST / HTTP/1.1\r\nContent-Length: 0x10\r\n\r\n",
    "unicode-digits": "POST / HTTP/1.1\r\nContent-Length: \u0663\r\n\r\n".encode("utf-8"),
    "conflicting-lengths": b"POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 5\r\n\r\nhello",
    "smuggle-cl-te": b"POST / HTTP/1.1\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "bad-target": b"POST x HTTP/1.1\r\nHost: t\r\n\r\n",
    "bad-chunk-size": b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
    "chunk-no-crlf": b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloXX0\r\n\r\n",
    "chunk-size-overflow": b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n" + b"f" * 17 + b"\r\n",
}


@pytest.mark.parametrize("raw", MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed_request_is_400_and_closed(srv: Launcher, raw: bytes) -> None:
    c = RawClient(srv)
    try:
        c.send(raw)
        status, headers, body = c.response()
        assert status == 400, (status, body)
        assert "error" in json.loads(body)
        assert headers.get("connection") == "close"
        assert c.closed_by_peer()
    finally:
        c.close()
    assert_alive(srv)


OTHER_4XX_5XX = {
    "te-gzip": (b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501),
    "http2-version": (b"POST / HTTP/2.0\r\nHost: t\r\n\r\n", 505),
    "expect-other": (b"POST / HTTP/1.1\r\nExpect: 200-ok\r\nContent-Length: 1\r\n\r\nx", 417),
}


@pytest.mark.parametrize("raw,status", OTHER_4XX_5XX.values(), ids=OTHER_4XX_5XX.keys())
def test_unsupported_framing_is_refused(srv: Launcher, raw: bytes, status: int) -> None:
    c = RawClient(srv)
    try:
        c.send(raw)
        assert c.response()[0] == status
    finally:
        c.close()
    assert_alive(srv)


def test_oversize_head_is_431(srv: Launcher) -> None:
    c = RawClient(srv)
    try:
        c.send(b"POST / HTTP/1.1\r\nX-Big: " + b"a" * 10_000)  # no end of head in sight
        assert c.response()[0] == 431
        assert c.closed_by_peer()
    finally:
        c.close()
    c = RawClient(srv)
    try:
        c.send(b"POST / HTTP/1.1\r\n" + b"".join(b"X-%d: v\r\n" % i for i in range(40)) + b"\r\n")
        assert c.response()[0] == 431
    finally:
        c.close()
    assert_alive(srv)


def test_chunked_body_reaches_the_handler_de_chunked(srv: Launcher) -> None:
    c = RawClient(srv)
    try:
        c.send(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n4;ext=1\r\nhell\r\n1\r\no\r\n0\r\nX-Trailer: t\r\n\r\n")
        assert c.response()[0::2] == (200, b"hello")
        c.send(post(b"again"))  # the connection is still usable
        assert c.response()[0::2] == (200, b"again")
    finally:
        c.close()


def test_body_over_limit_is_413_before_it_is_sent(srv: Launcher) -> None:
    """A 1 GiB Content-Length is refused from the head: the client never sends the body."""
    c = RawClient(srv)
    try:
        c.send(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 1073741824\r\n\r\n" + b"x" * 1024)
        status, _, body = c.response()
        assert status == 413
        assert b"IGNITE_MAX_BODY_BYTES" in body
        assert c.closed_by_peer()
    finally:
        c.close()
    assert_alive(srv)


def test_chunked_body_over_limit_is_413_from_the_chunk_size(srv: Launcher) -> None:
    c = RawClient(srv)
    try:
        c.send(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n40000000\r\n" + b"x" * 1024)
        assert c.response()[0] == 413
    finally:
        c.close()
    c = RawClient(srv)
    try:  # many small chunks adding up past the limit
        c.send(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n")
        status = None
        for _ in range(200):
            try:
                c.send(b"400\r\n" + b"y" * 1024 + b"\r\n")
            except (BrokenPipeError, ConnectionResetError):
                break
            if b"\r\n\r\n" in c.buf:
                break
            c.sock.settimeout(0.001)
            try:
                c._fill()
            except (socket.timeout, BlockingIOError):
                pass
            except ConnectionResetError:
                break
            c.sock.settimeout(10)
        c.sock.settimeout(10)
        try:
            status = c.response()[0]
        except (ConnectionError, OSError):
            status = None
        assert status in (413, None)
    finally:
        c.close()
    assert_alive(srv)


def test_slow_header_client_does_not_starve_others(srv: Launcher) -> None:
    """A client dribbling its head one byte at a time, while others are served; it ends in 408 or a close."""
    slow = RawClient(srv)
    stop = threading.Event()
    served: list[int] = []

    def dribble() -> None:
        for b in b"POST / HTTP/1.1\r\nHost: slow\r\nX-Pad: " + b"z" * 200:
            if stop.is_set():
                return
            try:
                slow.send(bytes([b]))
            except OSError:
                return
            time.sleep(0.05)

    t = threading.Thread(target=dribble, daemon=True)
    t.start()
    try:
        while t.is_alive() and len(served) < 20:
            served.append(srv.post("/", b"fast", timeout=10)[0])
        assert served and all(s == 200 for s in served)
        stop.set()
        t.join(15)
        slow.sock.settimeout(15)
        try:
            status = slow.response()[0]
            assert status == 408
        except (ConnectionError, OSError):
            pass  # closed without an answer is fine too
    finally:
        stop.set()
        slow.close()
    assert_alive(srv)


def test_many_idle_connections_do_not_block_service(srv: Launcher) -> None:
    idle = [srv.connect(10) for _ in range(200)]
    try:
        for _ in range(5):
            assert srv.post("/", b"x")[0] == 200
    finally:
        for s in idle:
            s.close()
    assert_alive(srv)


def test_pipelined_requests_answered_in_order(srv: Launcher) -> None:
    c = RawClient(srv)
    try:
        ids = [f"pipe-{i}" for i in range(10)]
        c.send(b"".join(post(f"body-{i}".encode(), f"X-Ignite-Execution-Id: {eid}\r\n") for i, eid in enumerate(ids))
               + b"GET /_/health HTTP/1.1\r\nHost: t\r\n\r\n")
        for i, eid in enumerate(ids):
            status, headers, body = c.response()
            assert (status, body) == (200, f"body-{i}".encode())
            assert headers["x-ignite-execution-id"] == eid
        assert c.response()[0] == 200
    finally:
        c.close()


def test_pipelined_flood_without_reading(srv: Launcher) -> None:
    """A client that pipelines thousands of requests and never reads: the server pauses it, others go on."""
    c = RawClient(srv)
    try:
        c.sock.settimeout(2)
        sent = 0
        try:
            for _ in range(5000):
                c.sock.sendall(post(b"big:" + b"20000"))
                sent += 1
        except (socket.timeout, OSError):
            pass
        assert sent > 0
        assert_alive(srv)
    finally:
        c.reset()
    assert_alive(srv)


def test_client_disconnects_mid_response(srv: Launcher) -> None:
    for _ in range(5):
        c = RawClient(srv)
        c.send(post(b"big:8000000"))
        c.sock.recv(1024)  # some of the head, then vanish
        c.reset()
    for _ in range(3):  # and while the handler is still running
        c = RawClient(srv)
        c.send(post(b"sleep:0.3"))
        c.reset()
    assert_alive(srv)


def test_client_sends_half_a_body_and_vanishes(srv: Launcher) -> None:
    c = RawClient(srv)
    c.send(b"POST / HTTP/1.1\r\nContent-Length: 5000\r\n\r\n" + b"x" * 100)
    c.reset()
    assert_alive(srv)


# ------------------------------------------------------------------ faulty handlers


@pytest.mark.parametrize("op,etype", [("raise", "ValueError"), ("raise-badstr", "BadStr"), ("raise-base", "Boom"),
                                      ("exit", "SystemExit"), ("keyboard", "KeyboardInterrupt")])
def test_handler_exceptions_are_500_and_server_lives(srv: Launcher, op: str, etype: str) -> None:
    status, headers, body = call(srv, op)
    assert status == 500
    assert headers["content-type"].startswith("application/json")
    err = json.loads(body)
    assert set(err) == {"error", "type", "traceback"}
    assert err["type"] == etype
    assert_alive(srv)


@pytest.mark.parametrize("op,where", [("datetime", "$.rows[2].ts: datetime"), ("set", "$: set"),
                                      ("object", "$: object"), ("circular", "circular"),
                                      ("bad-key", "key of type tuple")])
def test_unserializable_return_is_500_naming_where(srv: Launcher, op: str, where: str) -> None:
    status, _, body = call(srv, op)
    assert status == 500
    err = json.loads(body)
    assert where in err["error"], err
    assert_alive(srv)


def test_deeply_nested_return_is_500_not_504(python312: str, tmp_path: Path) -> None:
    root = make_root(tmp_path, HANDLER)
    with running_launcher(python312, root, env=ENV) as s:  # its own process: the bug burns a CPU
        status, _, body = call(s, "deep")
        assert status == 500, body


def test_handler_past_timeout_is_504_and_server_lives(python312: str, tmp_path: Path) -> None:
    root = make_root(tmp_path, HANDLER)
    with running_launcher(python312, root, env=ENV) as s:  # its own process: stuck workers are not shared
        status, _, body = call(s, "hang")
        assert status == 504
        assert json.loads(body)["type"] == "Timeout"
        s.wait_stderr(r"timed out after .*handler stack", timeout=10)
        assert_alive(s)
        # Twice as many stuck handlers as workers: each caller gets an answer (504, or 503 with
        # Retry-After once even the replacement workers are stuck), and probes keep answering.
        results: list[int] = []
        threads = [threading.Thread(target=lambda: results.append(call(s, "hang")[0])) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert len(results) == 8 and set(results) <= {504, 503}, results
        assert s.get("/_/health")[0] == 200
        assert s.proc.poll() is None
        # Once the stuck handlers return, full service is back.
        deadline = time.monotonic() + 30
        while s.post("/", b"ping", timeout=30)[0] != 200:
            assert time.monotonic() < deadline, "service did not recover"
            time.sleep(0.2)
        assert_alive(s)


def test_handler_out_of_memory_is_500(srv: Launcher) -> None:
    status, _, body = call(srv, "oom")
    assert status == 500
    assert json.loads(body)["type"] == "MemoryError"
    assert_alive(srv)


# ------------------------------------------------------------------ process-level measurements


def _proc_stats(pid: int) -> tuple[int, int, int]:
    """(threads, open fds, RSS in KiB) of *pid*, from /proc."""
    status = Path(f"/proc/{pid}/status").read_text()
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    threads = int(fields["Threads"].strip())
    rss = int(fields["VmRSS"].strip().split()[0])
    fds = len(os.listdir(f"/proc/{pid}/fd"))
    return threads, fds, rss


needs_proc = pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs /proc")

#: The soak's stated bounds.
SOAK_REQUESTS = 2000
MAX_THREAD_GROWTH = 0  # beyond the pool size reached during warm-up
MAX_FD_GROWTH = 2
MAX_RSS_GROWTH_KIB = 8 * 1024


@needs_proc
def test_soak_no_growth_in_threads_fds_rss(python312: str, tmp_path: Path) -> None:
    root = make_root(tmp_path, HANDLER)
    with running_launcher(python312, root, env={**ENV, "IGNITE_LOG_LEVEL": "warning"}) as s:
        pid = s.proc.pid

        def burst(n: int) -> None:
            keep = RawClient(s)
            try:
                for i in range(n // 2):
                    keep.send(post(b"k%d" % i))
                    assert keep.response()[0] == 200
            finally:
                keep.close()
            for i in range(n // 4):  # new connection per request
                assert s.post("/", b"n%d" % i)[0] == 200
            errors: list[object] = []

            def worker() -> None:
                try:
                    for i in range(n // 16):
                        assert s.post("/", b"c%d" % i)[0] == 200
                except Exception as exc:  # pragma: no cover - reported below
                    errors.append(exc)

            ts = [threading.Thread(target=worker) for _ in range(4)]
            for t in ts:
                t.start()
            for t in ts:
                t.join(60)
            assert not errors, errors
            # a few of the hostile ones in the mix
            for op in ("raise", "datetime", "exit"):
                assert s.post("/", op.encode())[0] == 500
            c = RawClient(s)
            c.send(b"BAD\r\n\r\n")
            c.close()

        def settle() -> tuple[int, int, int]:
            # Wait (bounded) until the server closed everything the clients left behind.
            deadline = time.monotonic() + 10
            stats = _proc_stats(pid)
            while time.monotonic() < deadline:
                time.sleep(0.2)
                now = _proc_stats(pid)
                if now[1] == stats[1]:
                    return now
                stats = now
            return stats

        burst(400)  # warm-up: pool threads started, allocator arenas grown
        base = settle()
        burst(SOAK_REQUESTS)
        after = settle()
        assert after[0] <= base[0] + MAX_THREAD_GROWTH, f"threads {base[0]} -> {after[0]}"
        assert after[1] <= base[1] + MAX_FD_GROWTH, f"fds {base[1]} -> {after[1]}"
        assert after[2] <= base[2] + MAX_RSS_GROWTH_KIB, f"RSS {base[2]} -> {after[2]} KiB"
        assert s.proc.poll() is None


@needs_proc
def test_leaking_handler_grows_only_its_own_memory(python312: str, tmp_path: Path) -> None:
    """A handler that keeps 4 MiB per call: the launcher keeps serving; the growth is the handler's.

    The launcher cannot stop user code from leaking (the platform's memory limit
    does); it promises not to add to it and to stay up while it happens.
    """
    root = make_root(tmp_path, HANDLER)
    with running_launcher(python312, root, env=ENV) as s:
        before = _proc_stats(s.proc.pid)[2]
        for i in range(1, 21):
            status, _, body = s.post("/", b"leak")
            assert (status, body) == (200, str(i).encode())
        after = _proc_stats(s.proc.pid)[2]
        assert after - before >= 20 * 4 * 1024 * 0.9  # the hoard is really there...
        assert_alive(s)  # ...and the server is fine


def test_sigterm_with_several_in_flight_loses_none(python312: str, tmp_path: Path) -> None:
    root = make_root(tmp_path, HANDLER)
    with running_launcher(python312, root, env={**ENV, "IGNITE_DRAIN_S": "20"}) as s:
        results: list[object] = []

        def one(i: int) -> None:
            try:
                results.append(s.post("/", b"mark:%d:1.0" % i, timeout=30)[0::2])
            except Exception as exc:
                results.append(exc)

        threads = [threading.Thread(target=one, args=(i,)) for i in range(3)]
        for t in threads:
            t.start()
        deadline = time.monotonic() + 15
        while not all((root / f"started-{i}").exists() for i in range(3)):
            assert time.monotonic() < deadline, "handlers did not start"
            time.sleep(0.01)
        s.send_signal(signal.SIGTERM)
        for t in threads:
            t.join(30)
        assert results == [(200, b"slept")] * 3, results
        assert s.wait(30) == 0
