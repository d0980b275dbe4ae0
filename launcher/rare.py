"""The server's rare paths, compiled only when first needed.

The timeout sweep, held requests and shutdown live here rather than
in server.py because every line the launcher carries is compiled from source
at each cold start (artifacts ship no bytecode): keeping them out of the first
request's path keeps start-up short.  Relative imports (``from . import
rare``) resolve through the package, never ``sys.path``, so loading this later
is shadow-safe.
"""

from __future__ import annotations

import os
import sys

from .pool import Job
from .protocol import json_response
from .server import (
    _OUT,
    S_HEAD,
    S_LINGER,
    App,
    Conn,
    HTTPError,
    Server,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict, List, Optional

    from .protocol import Header, Request


def sweep(self: Server, now: float) -> None:
    if self.held and now >= self.startup_deadline and self.app.state == App.STARTING:
        answer_held_overdue(self)
    for job in list(self.inflight):
        if job.deadline <= now:
            self._timeout(job)
    s = self.s
    for conn in list(self.conns.values()):
        with conn.lock:
            if conn.closed or conn.busy:
                continue
            if conn.state == S_LINGER:
                if now >= conn.linger_until:
                    self._close(conn)
            elif conn.out:
                if now - conn.t_idle > s.body_timeout_s + s.header_timeout_s:
                    self._close(conn)  # the client stopped reading: no byte taken for that long
            elif conn.state == S_HEAD:
                if conn.buf:
                    if now - conn.t_head > s.header_timeout_s:
                        self._reject(conn, HTTPError(408, "request head not received within IGNITE_HEADER_TIMEOUT_S"))
                elif conn.requests == 0:
                    if now - conn.t_head > s.header_timeout_s:
                        self._close(conn)  # connected, sent nothing
                elif now - conn.t_idle > s.keepalive_s:
                    self._close(conn)
            elif now - conn.t_head > s.header_timeout_s + s.body_timeout_s:
                self._reject(conn, HTTPError(408, "request body not received within IGNITE_BODY_TIMEOUT_S"))


def timeout(self: Server, job: Job) -> None:
    req = job.req
    with job.conn.lock:
        if job.done:
            return
        if job.started:
            obj = {
                "error": f"handler did not finish within IGNITE_TIMEOUT_S={self.s.timeout_s:g}s",
                "type": "Timeout",
            }
            stack = self.runner.stack(job)
            replaced = self.runner.abandon(job)
            self.log.error(
                f"execution {req.execution_id} timed out after {self.s.timeout_s:g}s; handler stack:\n"
                + stack.rstrip()
                + ("" if replaced else "\n(no replacement worker started: too many stuck handlers)")
            )
            answer(self, job, 504, obj, [])
        elif self.app.state == App.STARTING:
            obj = {
                "error": f"the handler was still being imported when IGNITE_TIMEOUT_S={self.s.timeout_s:g}s ran out",
                "type": "QueueTimeout",
            }
            answer(self, job, 503, obj, [("Retry-After", "1")])
        else:
            obj = {"error": "timed out waiting for a free worker", "type": "QueueTimeout"}
            answer(self, job, 503, obj, [("Retry-After", "1")])


def answer(self: Server, job: Job, status: int, obj: Any, extra: List[Header]) -> None:
    """Answer an admitted job that no handler will answer (conn.lock held, I/O thread)."""
    conn = job.conn
    req = job.req
    job.done = True
    self.inflight.pop(job, None)
    conn.busy = False
    if not conn.closed:
        keep = job.keep_alive and not self.draining
        self._send(conn, self.encode(req, json_response(status, obj, extra), keep))
        if not keep:
            conn.close_after = True
        if conn.out:
            self._set_mask(conn, _OUT)
        else:
            self._after_flush(conn)
    self._access(req, status, (self.now - job.t0) * 1000.0)


# --- start-up: requests that arrive while the entry imports (issue 14) ------------------


def hold(self: Server, conn: Conn, req: Request) -> None:
    """Admit a POST that arrived before the handler is ready; it runs once the import ends."""
    now = self.now
    if self.draining:
        self._inline(conn, req, 503, {"error": "shutting down before the handler was ready", "type": "Draining"})
        return
    if now >= self.startup_deadline:
        self._inline(conn, req, 503, {"error": self.startup_overdue(), "type": "StartupTimeout"}, [("Retry-After", "1")])
        return
    if len(self.inflight) >= self.capacity:
        self._inline(
            conn,
            req,
            503,
            {"error": f"too many requests while starting: {self.capacity} held (IGNITE_CONCURRENCY + IGNITE_QUEUE)"},
            [("Retry-After", "1")],
        )
        return
    timeout = self.s.timeout_s
    job = Job(conn, req, conn.keep_alive, now, now + timeout if timeout > 0 else float("inf"))
    conn.busy = True
    self.inflight[job] = None
    self.held.append(job)


def _answer_held(self: Server, status: int, obj: Any, extra: List[Header]) -> None:
    held = self.held
    while held:
        job = held.popleft()
        with job.conn.lock:
            if not job.done:
                answer(self, job, status, obj, extra)


def answer_held_overdue(self: Server) -> None:
    """IGNITE_STARTUP_TIMEOUT_S passed with the import still running: stop holding requests."""
    message = self.startup_overdue()
    self.log.warning(f"{message}; answering {len(self.held)} held request(s) with 503")
    _answer_held(self, 503, {"error": message, "type": "StartupTimeout"}, [("Retry-After", "1")])


def fail_held(self: Server, error: Optional[Dict[str, str]]) -> None:
    """The import failed: every held request gets its 500."""
    _answer_held(self, 500, error, [])


def on_signal(self: Server, signum: int) -> None:
    if self.draining:
        self.log.warning(f"signal {signum} again: stopping now")
        self._exit()
    self.draining = True
    self.drain_deadline = self.now + self.s.drain_s
    self.log.notice(
        f"signal {signum}: draining {len(self.inflight)} in-flight request(s) for up to {self.s.drain_s:g}s"
    )
    if self.lsock is not None:
        if self.listening:
            self.poller.unregister(self.lsock.fileno())
            self.listening = False
        self.lsock.close()
        self.lsock = None
    if self.held:  # a stop during the import: held requests will not be served
        _answer_held(
            self, 503, {"error": "shutting down before the handler was ready", "type": "Draining"}, [("Retry-After", "1")]
        )
    for conn in list(self.conns.values()):
        with conn.lock:
            if not conn.busy and not conn.out and not conn.buf and conn.state == S_HEAD:
                self._close(conn)


def drained(self: Server) -> bool:
    if self.inflight:
        return False
    return not any(c.out or c.busy for c in self.conns.values())


def exit(self: Server) -> None:
    for job in list(self.inflight):
        self.log.error(
            f"hard stop: execution {job.req.execution_id} ({job.req.method} {job.req.path}) "
            f"still running after {self.now - job.t0:.1f}s"
        )
    self.flush_access()
    self.log.notice("stopped")
    try:
        sys.stdout.flush()
    except Exception:
        pass
    os._exit(0)
