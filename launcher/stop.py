"""How the process ends: the drain's last step and its exit status (issue 31).

* A stop that leaves requests without an answer (a second signal, or ``IGNITE_DRAIN_S``
  running out) exits :data:`EXIT_DROPPED`, not 0, and says how many.
* What can still be answered truthfully is answered first: a request still arriving (head
  or body) and an admitted one no handler has started get 503 ``Draining`` with
  ``Connection: close``; responses already written are flushed (bounded).

It imports nothing from ``server.py`` (which imports it at start-up, so nothing is loaded
later, under the descriptor limit): the server passes itself as *srv*. (Crashes: a
segfault dumps every thread's stack and a handler's ``os._exit`` is logged, see main.py.)
"""

from __future__ import annotations

import select
import sys
from time import monotonic

from .log import real_exit
from .protocol import json_response

TYPE_CHECKING = False
if TYPE_CHECKING:  # ``typing`` costs ~6 ms of start-up; annotations are strings
    from typing import Any, List

#: Exit status of a stop that dropped requests (EX_TEMPFAIL): the platform can tell it from 0.
EXIT_DROPPED = 75
#: The last answers (and the 503s) get this long to reach their clients at a hard stop.
FLUSH_S = 1.0
#: ...and clients whose upload was refused this long to see the end of the connection.
LINGER_S = 0.3

_DRAINING = {"error": "the server is shutting down; retry on another instance", "type": "Draining"}


def drained(srv: Any) -> bool:
    """Nothing admitted, nothing left to write, no request still arriving."""
    if srv.inflight:
        return False
    partial = srv._partial
    return not any(conn.out or conn.busy or partial(conn) for conn in srv.conns.values())


def exit(srv: Any) -> None:
    """End the process (I/O thread): answer what can be answered, log what is lost, exit."""
    clean = drained(srv)
    dropped = refused = 0
    log = srv.log
    for job in list(srv.inflight):
        conn = job.conn
        with conn.lock:
            if job.done:
                continue
            if job.started:
                dropped += 1
                log.error(
                    f"hard stop: execution {job.req.execution_id} ({job.req.method} {job.req.path}) "
                    f"still running after {srv.now - job.t0:.1f}s"
                )
                continue
            job.done = True  # a worker that picks it up now skips it
            srv.inflight.pop(job, None)
            conn.busy = False
            refused += 1
            if not conn.closed:
                srv._send(conn, srv.encode(job.req, json_response(503, _DRAINING, [("Retry-After", "1")]), False))
                srv._access(job.req, 503, (srv.now - job.t0) * 1000.0)
    answered: List[Any] = []
    for conn in list(srv.conns.values()):
        with conn.lock:
            if srv._partial(conn):
                refused += 1
                resp = json_response(503, _DRAINING, [("Retry-After", "1")])
                srv._send(conn, srv._encode_raw(503, resp, "", False, conn.v10))
                answered.append(conn)
    cut = _flush(srv, answered)
    dropped += cut
    srv.flush_access()
    why = "" if clean else ("the drain ran out (IGNITE_DRAIN_S)" if srv.now >= srv.drain_deadline else "second signal")
    if dropped:
        log.error(
            f"stopped ({why}): {dropped} request(s) dropped without a complete answer"
            + (f", {refused} answered 503 Draining" if refused else "")
            + f"; exit status {EXIT_DROPPED}"
        )
    else:
        log.notice("stopped" + (f" ({why}): {refused} request(s) answered 503 Draining" if refused else ""))
    try:
        sys.stdout.flush()
    except Exception:
        pass
    real_exit(EXIT_DROPPED if dropped else 0)


def _flush(srv: Any, answered: List[Any]) -> int:
    """Write every connection's pending output (bounded by FLUSH_S); then half-close the refused
    uploads and discard their input briefly, so closing does not reset the 503 away.
    Returns how many responses were cut off."""
    deadline = monotonic() + FLUSH_S
    cut = 0
    for conn in list(srv.conns.values()):
        if not conn.out or conn.closed:
            continue
        left = deadline - monotonic()
        try:
            if left <= 0:
                raise TimeoutError
            conn.sock.settimeout(left)
            conn.sock.sendall(bytes(conn.out))
            conn.out.clear()
        except (OSError, ValueError):
            cut += 1
    if not answered:
        return cut
    poller = select.poll()
    live = {}
    for conn in answered:
        if conn.closed or conn.out:
            continue
        try:
            conn.sock.shutdown(1)  # SHUT_WR: the client reads the 503, then end-of-stream
            conn.sock.setblocking(False)
        except OSError:
            continue
        poller.register(conn.fd, select.POLLIN)
        live[conn.fd] = conn
    until = monotonic() + LINGER_S
    while live:
        left = until - monotonic()
        if left <= 0:
            break
        for fd, _ev in poller.poll(left * 1000):
            try:
                data = live[fd].sock.recv(65536)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:
                data = b""
            if not data:
                poller.unregister(fd)
                del live[fd]
    return cut
