"""End-to-end: requests that arrive while the entry imports are held, not refused (issue 14).

Run under a real CPython 3.12, the way a platform starts a function: spawn
``python -m __ignite__``, connect as soon as the port accepts (retrying only a
refused connection), send ONE request and read its answer.
"""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Dict, Iterator, List, Mapping, Optional, Tuple

import pytest

from launcher import config
from tests.launcher_harness import Launcher, RawClient, launcher_env, make_root, running_launcher

pytestmark = pytest.mark.launcher_only  # the launcher under the target's CPython, whatever runs pytest

# The import blocks until the test writes the "release" file, so the test decides when it ends.
GATED_IMPORT = """
import os, time
HERE = os.path.dirname(os.path.abspath(__file__))
_deadline = time.monotonic() + 60
while not os.path.exists(os.path.join(HERE, "release")):
    if time.monotonic() > _deadline:
        raise RuntimeError("the test never released the import")
    time.sleep(0.005)
{tail}
"""

COUNTING_HANDLER = """
import itertools
_n = itertools.count(1)
def handler(payload, ctx):
    return {"n": next(_n), "payload": payload.decode()}
"""


def gated(tail: str) -> str:
    return GATED_IMPORT.format(tail=tail)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def post_bytes(body: bytes, path: str = "/") -> bytes:
    return f"POST {path} HTTP/1.1\r\nHost: t\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body


def read_response(sock: socket.socket) -> Tuple[int, Dict[str, str], bytes]:
    """One Content-Length response from *sock*."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"closed before a response head; got {buf!r}")
        buf += chunk
    head, _, rest = buf.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    n = int(headers.get("content-length", "0"))
    while len(rest) < n:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed inside a body")
        rest += chunk
    return int(lines[0].split()[1]), headers, rest[:n]


@contextmanager
def spawned(python: str, root: Path, env: Optional[Mapping[str, str]] = None) -> Iterator[Tuple[subprocess.Popen[bytes], int]]:
    """Start the launcher on a port chosen here (not learned from its log); always killed."""
    port = free_port()
    err = root.parent / f"{root.name}.stderr.log"
    with open(err, "wb") as fe:
        proc = subprocess.Popen(
            [python, "-m", "__ignite__"],
            cwd=str(root),
            env=launcher_env({**(env or {}), "PORT": str(port)}),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=fe,
            start_new_session=True,
        )
    try:
        yield proc, port
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)


def connect_when_accepting(proc: subprocess.Popen[bytes], port: int, timeout: float = 20.0) -> socket.socket:
    """Connect as soon as the port accepts: a refused connection is the only thing retried."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return socket.create_connection(("127.0.0.1", port), timeout=20)
        except ConnectionRefusedError:
            assert proc.poll() is None, "launcher exited before listening"
            assert time.monotonic() < deadline, "port never accepted"
            time.sleep(0.001)


def barrier(srv: Launcher) -> None:
    """A round trip through the I/O thread: everything sent before it has been read and routed."""
    assert srv.get("/_/health")[0] == 200


def send_held(srv: Launcher, bodies: List[bytes]) -> List[RawClient]:
    """One connection per body, each POST sent (and routed) in this order."""
    clients = []
    for body in bodies:
        c = RawClient(srv, timeout=30)
        c.send(post_bytes(body))
        barrier(srv)
        clients.append(c)
    return clients


def ready_status(srv: Launcher) -> Tuple[int, Dict[str, Any]]:
    status, _, data = srv.get("/_/ready")
    obj: Dict[str, Any] = json.loads(data)
    return status, obj


# --- the platform's view: one request as soon as the port opens -------------------------------


def test_one_post_as_soon_as_port_accepts_gets_200(python312: str, tmp_path: Path) -> None:
    """A handler that sleeps 1 s at import: the single first POST waits for it and gets 200."""
    root = make_root(
        tmp_path,
        "import time\ntime.sleep(1)\nIMPORTED = True\ndef handler(payload, ctx):\n    return {'imported': IMPORTED}\n",
    )
    with spawned(python312, root) as (proc, port):
        sock = connect_when_accepting(proc, port)
        with sock:
            sock.sendall(post_bytes(b"first"))
            status, headers, body = read_response(sock)
        assert status == 200, body
        assert json.loads(body) == {"imported": True}
        assert headers["content-type"] == "application/json"


@pytest.mark.parametrize(
    ("convention", "entry", "source", "request_body", "expected"),
    [
        ("nuclio", "handler", "def handler(context, event):\n    return event.body.decode()\n", b"hi", b"hi"),
        ("yandex", "handler", "def handler(event, context):\n    return {'statusCode': 200, 'body': 'y'}\n", b"{}", b"y"),
        ("openfaas", "handle", "def handle(logger, request):\n    return {'got': request['x']}\n", b'{"x": 1}', b'{"got": 1}'),
        ("digitalhub", "handler", "def handler(event):\n    return {'got': event.body.decode()}\n", b'2', b'{"got": "2"}'),
        ("lambda", "handler", "def handler(event, context):\n    return {'statusCode': 200, 'body': 'l'}\n", b"{}", b"l"),
        ("openfaas-http", "handle", "def handle(event, context):\n    return {'statusCode': 200, 'body': event.body.decode()}\n",
         b"o", b"o"),
    ],
)
def test_every_convention_holds_requests_during_import(
    python312: str, tmp_path: Path, convention: str, entry: str, source: str, request_body: bytes, expected: bytes
) -> None:
    root = make_root(
        tmp_path,
        gated(source),
        manifest={"entry": {"module": "handler", "function": entry}, "convention": convention},
    )
    with running_launcher(python312, root, wait_ready=False) as srv:
        (client,) = send_held(srv, [request_body])
        assert ready_status(srv)[0] == 503
        (root / "release").write_text("")
        status, _, body = client.response()
        client.close()
        assert status == 200, body
        if expected.startswith(b"{"):
            assert json.loads(body) == json.loads(expected)
        else:
            assert body == expected


# --- held requests -------------------------------------------------------------------------------


def test_eight_concurrent_posts_during_import_all_200_in_arrival_order(python312: str, tmp_path: Path) -> None:
    root = make_root(tmp_path, gated(COUNTING_HANDLER))
    # One worker: the counter the handler returns shows the order requests were served in.
    with running_launcher(python312, root, env={"IGNITE_CONCURRENCY": "1"}, wait_ready=False) as srv:
        clients = send_held(srv, [f"r{i}".encode() for i in range(8)])
        status, obj = ready_status(srv)
        assert (status, obj["status"]) == (503, "starting")
        assert srv.get("/_/health")[0] == 200
        (root / "release").write_text("")
        answers = []
        for c in clients:
            status, _, body = c.response()
            c.close()
            assert status == 200, body
            answers.append(json.loads(body))
        assert [a["payload"] for a in answers] == [f"r{i}" for i in range(8)]
        assert [a["n"] for a in answers] == list(range(1, 9))
        assert ready_status(srv)[0] == 200


def test_failing_import_answers_held_requests_with_its_500(python312: str, tmp_path: Path) -> None:
    root = make_root(tmp_path, gated("raise ValueError('model file is corrupt')\ndef handler(p, c):\n    return 1\n"))
    with running_launcher(python312, root, wait_ready=False) as srv:
        clients = send_held(srv, [b"a", b"b"])
        (root / "release").write_text("")
        for c in clients:
            status, _, body = c.response()
            c.close()
            assert status == 500
            obj = json.loads(body)
            assert obj["type"] == "ValueError"
            assert obj["error"] == "model file is corrupt"
            assert "model file is corrupt" in obj["traceback"]
        status, ready = ready_status(srv)
        assert (status, ready["status"], ready["type"]) == (503, "failed", "ValueError")
        assert srv.post("/", b"later")[0] == 500  # later requests: the same error
        assert srv.stderr_text().count("cannot load entry") == 1


def test_sigterm_during_import_answers_held_503_and_exits_0(python312: str, tmp_path: Path) -> None:
    root = make_root(tmp_path, gated("def handler(p, c):\n    return 1\n"))
    with running_launcher(python312, root, env={"IGNITE_DRAIN_S": "5"}, wait_ready=False) as srv:
        (client,) = send_held(srv, [b"x"])
        srv.send_signal(signal.SIGTERM)
        status, headers, body = client.response()
        client.close()
        assert status == 503
        assert json.loads(body)["type"] == "Draining"
        assert headers["connection"] == "close"
        assert srv.wait(15) == 0
        assert "stopped" in srv.stderr_text()


def test_beyond_the_queue_bound_is_503_with_retry_after(python312: str, tmp_path: Path) -> None:
    root = make_root(tmp_path, gated(COUNTING_HANDLER))
    env = {"IGNITE_CONCURRENCY": "1", "IGNITE_QUEUE": "1"}
    with running_launcher(python312, root, env=env, wait_ready=False) as srv:
        held = send_held(srv, [b"a", b"b"])  # 1 running + 1 queued once ready
        status, headers, body = srv.post("/", b"c")
        assert status == 503
        assert headers["retry-after"] == "1"
        assert "too many requests" in json.loads(body)["error"]
        (root / "release").write_text("")
        assert [c.response()[0] for c in held] == [200, 200]
        for c in held:
            c.close()


def test_held_request_times_out_from_arrival(python312: str, tmp_path: Path) -> None:
    root = make_root(tmp_path, gated(COUNTING_HANDLER))
    with running_launcher(python312, root, env={"IGNITE_TIMEOUT_S": "0.5"}, wait_ready=False) as srv:
        (client,) = send_held(srv, [b"a"])
        status, headers, body = client.response()  # the import is still blocked
        client.close()
        assert status == 503
        assert headers["retry-after"] == "1"
        obj = json.loads(body)
        assert obj["type"] == "QueueTimeout"
        assert "still being imported" in obj["error"]


def test_startup_timeout_answers_held_requests_then_import_may_still_finish(python312: str, tmp_path: Path) -> None:
    root = make_root(tmp_path, gated(COUNTING_HANDLER))
    with running_launcher(python312, root, env={"IGNITE_STARTUP_TIMEOUT_S": "0.5"}, wait_ready=False) as srv:
        (client,) = send_held(srv, [b"a"])
        status, headers, body = client.response()
        client.close()
        assert status == 503
        obj = json.loads(body)
        assert obj["type"] == "StartupTimeout"
        assert "IGNITE_STARTUP_TIMEOUT_S" in obj["error"] and "still being imported" in obj["error"]
        assert headers["retry-after"] == "1"
        # Past the bound, new POSTs are answered at once, and readiness says why.
        assert json.loads(srv.post("/", b"b")[2])["type"] == "StartupTimeout"
        status, ready = ready_status(srv)
        assert (status, ready["status"]) == (503, "starting")
        assert "IGNITE_STARTUP_TIMEOUT_S" in ready["error"]
        assert "StartupTimeout" not in srv.stdout_text()
        (root / "release").write_text("")
        srv.wait_stderr("ready: imported")
        assert ready_status(srv)[0] == 200
        status, _, body = srv.post("/", b"c")
        assert (status, json.loads(body)["payload"]) == (200, "c")


def test_settings_reject_bad_startup_timeout() -> None:
    s = config.load({"IGNITE_STARTUP_TIMEOUT_S": "soon"})
    assert s.startup_timeout_s == 120.0
    assert any("IGNITE_STARTUP_TIMEOUT_S" in w for w in s.warnings)
    assert config.load({"IGNITE_STARTUP_TIMEOUT_S": "7"}).startup_timeout_s == 7.0
