"""A platform may send as many requests at once as its own concurrency setting allows (issue 36:
at 256 connections the old default queue, 128 behind 8 workers, answered ~30% of a burst with
503). With the defaults, a burst of 300 requests against a handler that is still busy waits for
a worker instead of being refused."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest

from tests.launcher_harness import make_root, running_launcher

pytestmark = pytest.mark.launcher_only  # the launcher under the target's CPython, whatever runs pytest

GATE = """
import os, time

HERE = os.path.dirname(os.path.abspath(__file__))

def handler(payload, ctx):
    deadline = time.monotonic() + 60
    while not os.path.exists(os.path.join(HERE, "release")) and time.monotonic() < deadline:
        time.sleep(0.005)
    return "ok"
"""

BURST = 300


def test_a_burst_beyond_the_old_queue_is_served_not_refused(python312: str, tmp_path: Path) -> None:
    root = make_root(tmp_path, GATE)
    with running_launcher(python312, root, env={"IGNITE_LOG_LEVEL": "warning"}) as srv:
        request = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}"
        socks = []
        try:
            for _ in range(BURST):
                s = socket.create_connection((srv.host, srv.port), timeout=60)
                s.sendall(request)
                socks.append(s)
            time.sleep(1.0)  # every request read and admitted (or refused) while all 8 workers wait
            (root / "release").write_text("")
            statuses: dict[int, int] = {}
            for s in socks:
                data = b""
                while b"\r\n" not in data:
                    chunk = s.recv(4096)
                    if not chunk:
                        break
                    data += chunk
                code = int(data.split(b" ", 2)[1]) if data.startswith(b"HTTP/1.1 ") else 0
                statuses[code] = statuses.get(code, 0) + 1
        finally:
            for s in socks:
                s.close()
        assert statuses == {200: BURST}
