"""Issue 29 through a real socket: what only the running launcher can show.

The parser's answers are tested as data in tests/test_http_corpus.py; here, each table row
whose harm is on the wire or in the log: how many responses a smuggling attempt gets, that
the connection is closed, that an LF-only head is answered without waiting for the header
time-out, and that no client byte can forge a line of the launcher's log.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import List

import pytest

from tests.launcher_harness import Launcher, RawClient, make_root, running_launcher

pytestmark = pytest.mark.launcher_only  # the launcher under the target's CPython, whatever runs pytest

HANDLER = """
def handler(payload, ctx):
    return {"n": len(payload or b""), "id": ctx.get("execution_id") if isinstance(ctx, dict) else None}
"""

#: The head time-out is far beyond the client's patience: an answer that waited for it fails.
ENV = {"IGNITE_HEADER_TIMEOUT_S": "60", "IGNITE_CONCURRENCY": "2"}


@pytest.fixture(scope="module")
def srv(python312: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Launcher]:
    root = make_root(tmp_path_factory.mktemp("http11"), HANDLER)
    with running_launcher(python312, root, env=ENV) as s:
        yield s


def statuses_until_closed(srv: Launcher, raw: bytes, patience: float = 5.0) -> List[int]:
    """Send *raw*, then read responses until the launcher closes: their statuses."""
    c = RawClient(srv, timeout=patience)
    try:
        c.send(raw)
        out = []
        while True:
            try:
                out.append(c.response()[0])
            except ConnectionError:
                return out
            except socket.timeout:
                raise AssertionError(f"no answer or close within {patience}s after {out}") from None
    finally:
        c.close()


ROWS = {
    "bare LF in a header line smuggles a GET": (
        b"POST / HTTP/1.1\r\nHost: a\r\nX-Foo: a\nContent-Length: 35\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n",
        [400],
    ),
    "empty Transfer-Encoding next to Content-Length": (
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\r\nContent-Length: 40\r\n\r\n"
        b"GET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n",
        [400],
    ),
    "bare LF in a chunk extension": (
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n2;\nxx\r\n4c\r\n0\r\n\r\n"
        b"GET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n",
        [400],
    ),
    "bare LF after the last chunk": (
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\nGET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n",
        [400],
    ),
    "HTTP/1.0 chunked with keep-alive": (
        b"POST / HTTP/1.0\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n"
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n",
        [200],
    ),
    "LF-only head": (b"GET /_/health HTTP/1.1\nHost: a\n\n", [400]),
    "Transfer-Encoding wrapped in NBSP": (
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: \xa0chunked\xa0\r\n\r\n0\r\n\r\n",
        [400],
    ),
    "valid pipelined requests still pass": (
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nhi"
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n0\r\nT: 1\r\n\r\n"
        b"GET /_/health HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
        [200, 200, 200],
    ),
}


@pytest.mark.parametrize("raw,statuses", ROWS.values(), ids=ROWS.keys())
def test_issue_29_rows_on_the_wire(srv: Launcher, raw: bytes, statuses: List[int]) -> None:
    assert statuses_until_closed(srv, raw) == statuses
    assert srv.get("/_/health")[0] == 200


def test_a_head_without_its_end_still_waits(srv: Launcher) -> None:
    """Only bytes that can never make a head are answered early; a slow valid head waits."""
    c = RawClient(srv, timeout=1.0)
    try:
        c.send(b"GET /_/health HTTP/1.1\r\nHost: a\r")
        with pytest.raises(socket.timeout):
            c.response()
        c.sock.settimeout(5.0)
        c.send(b"\n\r\n")
        assert c.response()[0] == 200
    finally:
        c.close()


def test_no_client_byte_forges_a_log_line(srv: Launcher) -> None:
    forged = "[ignite]\tERROR\tforged"
    assert statuses_until_closed(srv, f"GET /x\n{forged} HTTP/1.1\r\nHost: a\r\n\r\n".encode()) == [400]
    # An execution id is any field value: obs-text, HTAB. Logged escaped, one field.
    c = RawClient(srv)
    try:
        c.send(b"POST / HTTP/1.1\r\nHost: a\r\nX-Ignite-Execution-Id: e1\x85\tforged\r\nContent-Length: 0\r\n\r\n")
        status, headers, _ = c.response()
        assert status == 200
        assert headers["x-ignite-execution-id"] == "e1\\x85\\tforged"
    finally:
        c.close()
    text = srv.wait_stderr(r"e1\\x85\\tforged")
    assert forged not in text
    assert "\x85" not in text and "e1\tforged" not in text
    for line in text.splitlines():
        assert line.startswith(("[ignite]", " ", "Traceback")) or not line.strip(), line
