"""A hand-written, event-driven HTTP/1.1 server on ``select.epoll`` (``select.poll`` elsewhere).

Stdlib only is a hard requirement of the artifact (DESIGN.md §3), and nothing in
the stdlib is an event-driven HTTP/1.1 server: ``http.server`` is a
thread-per-connection server built on the slow ``email`` header parser,
and ``asyncio`` alone costs ~45 ms of cold start.  So this module parses
HTTP/1.1 itself (keep-alive, pipelining, Content-Length and chunked bodies,
``Expect: 100-continue``) on top of the ``select`` module (``selectors`` is a
Python wrapper around the same calls that costs import time and per-call
overhead; ``_socket`` likewise skips ``socket``'s enum-heavy import).

Threads:
  * the I/O thread runs :meth:`Server.run`: accepts, reads, parses, answers
    probes inline and admits POSTs;
  * handlers run on a :class:`~.pool.ThreadPool` (sync) or an
    :class:`~.pool.AsyncRunner` (``async def``); whichever finishes a request
    writes the response to the socket itself (:meth:`Server.finish`), under the
    connection's lock, and only wakes the I/O thread when it must (partial
    write, connection to close, pipelined bytes waiting);
  * except a sync request alone in flight: the I/O thread runs its handler
    itself, watched by a standby thread that takes the loop over if the handler
    blocks (:meth:`Server._dispatch`); the two threads then swap roles.
"""

from __future__ import annotations

import _socket
import os
import select
import threading
from collections import deque
from threading import get_ident
from time import gmtime, monotonic, sleep, time
from types import ModuleType

from . import admission, stop
from .config import DEFAULT_ASYNC_CONCURRENCY, DEFAULT_SYNC_CONCURRENCY, Settings
from .http11 import END, NEED_DATA, Data, Head, Limits, Parser, escape, split_target
from .log import INFO, Log, real_exit
from .pool import Job, ThreadPool
from .pool import seat as pool_seat
from .protocol import Request, Response, error_info, json_response

TYPE_CHECKING = False
if TYPE_CHECKING:  # ``typing`` costs ~6 ms of start-up; annotations are strings
    from typing import Any, Callable, Deque, Dict, List, Optional, Tuple

    from .protocol import Header

    Runner = Any  # ThreadPool | AsyncRunner


TICK = admission.TICK_S  # seconds between timeout sweeps while anything is open
#: How long a handler may run on the I/O thread before the standby thread takes the loop over
#: (checked twice: a handler is taken over after 1-2 of these, more if it holds the GIL).
INLINE_GRACE_S = 0.005
#: After a handler ran longer than INLINE_GRACE_S, requests go to the worker pool for this long.
INLINE_BACKOFF_S = 1.0
#: Queued request-log lines are written once this many are waiting, or this long after the last write.
LOG_BATCH = 32
LOG_FLUSH_S = 0.01

if hasattr(select, "epoll"):
    _IN = select.EPOLLIN
    _OUT = select.EPOLLOUT
    _ERRMASK = select.EPOLLERR | select.EPOLLHUP
else:  # pragma: no cover - non-Linux
    _IN = select.POLLIN
    _OUT = select.POLLOUT
    _ERRMASK = select.POLLERR | select.POLLHUP
_READ_EVENTS = _IN | _ERRMASK

# Connection states (the framing itself is the parser's: launcher/http11.py)
S_HEAD = 0  # waiting for a request head
S_BODY = 1  # a head was parsed; its body is still arriving
S_LINGER = 6  # error sent; discarding input until the peer closes or a deadline

REASONS = {
    100: "Continue",
    200: "OK",
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    408: "Request Timeout",
    411: "Length Required",
    413: "Content Too Large",
    417: "Expectation Failed",
    429: "Too Many Requests",
    431: "Request Header Fields Too Large",
    500: "Internal Server Error",
    501: "Not Implemented",
    503: "Service Unavailable",
    504: "Gateway Timeout",
    505: "HTTP Version Not Supported",
}
_STATUS_LINES: Dict[int, bytes] = {
    code: b"HTTP/1.1 %d %s\r\n" % (code, reason.encode()) for code, reason in REASONS.items()
}
_HEADER_CACHE: Dict[Header, bytes] = {}
#: (status, the only adapter header) -> status line + header line, prebuilt.
_BLOCKS: Dict[Tuple[int, Header], bytes] = {}
#: Request headers the server reads itself (the parser reports them: no second scan).
_IDS = frozenset(("x-ignite-execution-id", "x-ignite-function-id", "x-ignite-organization-id"))
_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_date_cache: List[Any] = [0, b""]


def _date_line() -> bytes:
    now = int(time())
    if now != _date_cache[0]:
        t = gmtime(now)
        _date_cache[1] = (
            f"Date: {_DAYS[t.tm_wday]}, {t.tm_mday:02d} {_MONTHS[t.tm_mon - 1]} {t.tm_year:04d} "
            f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} GMT\r\n"
        ).encode()
        _date_cache[0] = now
    line: bytes = _date_cache[1]
    return line


def _header_line(h: Header) -> bytes:
    line = _HEADER_CACHE.get(h)
    if line is None:
        name, value = h
        text = f"{name}: {value}\r\n"
        if "\r" in text[:-2] or "\n" in text[:-2] or not name or ":" in name:
            raise ValueError(f"invalid response header {name!r}")
        line = text.encode("latin-1")
        if len(_HEADER_CACHE) < 256:
            _HEADER_CACHE[h] = line
    return line


#: Execution ids are made 128 at a time (one ``getrandom`` call, which releases the GIL: a
#: thread switch under load), with C-level slice copies instead of a format per id: 0.24
#: instead of 0.72 µs per request.  Any thread may draw; ``list.pop`` is atomic.
_IDS_PER_BATCH = 128
_ids: List[str] = []
#: where hex digit *p* of the 32 goes in "8-4-4-4-12\n" (37 characters per id)
_ID_OFFSETS = [p + (p >= 8) + (p >= 12) + (p >= 16) + (p >= 20) for p in range(32)]
_ID_VERSION = bytes.maketrans(bytes(range(256)), bytes((b & 0x0F) | 0x40 for b in range(256)))
_ID_VARIANT = bytes.maketrans(bytes(range(256)), bytes((b & 0x3F) | 0x80 for b in range(256)))


def _id_batch() -> List[str]:
    raw = bytearray(os.urandom(16 * _IDS_PER_BATCH))
    raw[6::16] = raw[6::16].translate(_ID_VERSION)  # version 4
    raw[8::16] = raw[8::16].translate(_ID_VARIANT)  # RFC 4122 variant
    digits = raw.hex().encode()
    out = bytearray(b"-" * 36 + b"\n") * _IDS_PER_BATCH
    for p, o in enumerate(_ID_OFFSETS):
        out[o::37] = digits[p::32]
    ids = out.decode("ascii").split("\n")
    ids.pop()  # after the last newline
    return ids


def new_execution_id() -> str:
    """A random (version 4) UUID string, without importing ``uuid``."""
    try:
        return _ids.pop()
    except IndexError:
        batch = _id_batch()
        eid = batch.pop()
        _ids.extend(batch)
        return eid


class HTTPError(Exception):
    """A request the server refuses before any handler sees it."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class App:
    """Import state shared by the main thread (writer) and the I/O thread."""

    STARTING = 0
    READY = 1
    FAILED = 2

    def __init__(self) -> None:
        self.state = App.STARTING
        self.error: Optional[Dict[str, str]] = None
        self.entry = ""
        #: Methods that reach the handler: the adapter's METHODS, POST by default.
        self.methods: Tuple[str, ...] = ("POST",)


class Conn:
    __slots__ = (
        "body",
        "buf",
        "busy",
        "close_after",
        "closed",
        "dead",
        "fd",
        "held_bytes",
        "keep_alive",
        "linger",
        "linger_until",
        "lock",
        "mask",
        "out",
        "parser",
        "paused",
        "peer_closed",
        "req",
        "requests",
        "sock",
        "state",
        "t_head",
        "t_idle",
        "v10",
    )

    @property
    def need(self) -> int:
        """The Content-Length of the request whose body is arriving (0: none, or chunked)."""
        return self.parser.length if self.parser.in_message() else 0

    def __init__(self, sock: Any, fd: int, now: float, limits: Limits) -> None:
        self.sock = sock
        self.fd = fd
        self.parser = Parser(limits)
        #: the parser's input buffer (the same object for the connection's life)
        self.buf = self.parser.buf
        self.state = S_HEAD
        self.busy = False  # a request is admitted and its response not yet sent
        self.out = bytearray()  # response bytes the socket did not take yet
        self.lock = threading.Lock()
        self.keep_alive = True
        self.v10 = False
        self.close_after = False  # close once ``out`` is flushed
        self.linger = False  # ...with a lingering close (unread input may follow)
        self.linger_until = 0.0
        self.closed = False
        self.dead = False  # a send failed
        self.peer_closed = False
        self.paused = False  # not reading (too much pipelined input)
        self.mask = _IN
        self.req: Optional[Request] = None  # its head is parsed, its body still arriving
        self.body: Optional[bytearray] = None  # body so far, when it came in several pieces
        self.held_bytes = 0  # of the body budget (admission.body_bytes)
        self.requests = 0
        self.t_head = now  # when the current request's first byte (or the connection) arrived
        self.t_idle = now


class Server:
    def __init__(self, settings: Settings, app: App, log: Log) -> None:
        self.s = settings
        self.app = app
        self.log = log
        self.conns: Dict[int, Conn] = {}
        self.inflight: Dict[Job, None] = {}
        self.calls: Deque[Tuple[Callable[[Any], None], Any]] = deque()
        #: POSTs admitted while the entry is still importing, in arrival order (issue 14).
        self.held: Deque[Job] = deque()
        #: When held requests stop waiting for the import (IGNITE_STARTUP_TIMEOUT_S).
        self.startup_deadline = float("inf")
        self.wake_pending = False
        self.wake_r, self.wake_w = os.pipe()
        os.set_blocking(self.wake_r, False)
        os.set_blocking(self.wake_w, False)
        if hasattr(select, "epoll"):
            self.poller: Any = select.epoll()
            self._poll_ms = False
        else:  # pragma: no cover
            self.poller = select.poll()
            self._poll_ms = True
        self.poller.register(self.wake_r, _IN)
        self.lsock: Any = None
        self.listening = False
        self.family = _socket.AF_INET
        self.port = 0
        self.runner: Runner = None
        self.capacity = 0
        self.concurrency = 0
        self.draining = False
        self.drain_deadline = 0.0
        self.now = monotonic()
        self.pause_limit = settings.max_header_bytes + 65536
        self.limits = Limits(settings.max_header_bytes, settings.max_headers, settings.max_body_bytes, _IDS)
        #: Access-log lines not yet written: any thread appends, the I/O thread writes them
        #: in batches (see :meth:`flush_access` and the loop).
        self.access_lines: Deque[str] = deque()
        # A sync handler that is alone in flight runs on the loop's own thread (no hand-off to a
        # worker: at one connection that was ~8 thread switches per request). A standby thread
        # watches it: a handler still running after INLINE_GRACE_S loses the loop to the standby,
        # which serves on (probes, limits, time-outs, drain) while the handler finishes; the two
        # threads then swap roles. See _dispatch, _run_inline and _stand_by.
        #: Jobs admitted during this loop turn, dispatched at its end.
        self.routed: List[Job] = []
        self.inline_job: Optional[Job] = None
        self.inline_seq = 0
        self.leader = 0  # ident of the thread running the loop
        #: ident of the thread watching it; 0: none (handlers go to the pool): not started (an
        #: async runner, IGNITE_INLINE=0, not ready yet), or it took the loop over from a
        #: handler that has not returned yet
        self.standby = 0
        self.lead_lock = threading.Lock()
        self.watching = threading.Event()
        #: set by a take-over: the pool seat kept for the handler that lost the loop
        self.seat: Optional[threading.Event] = None
        self.inline_until = 0.0  # no inline runs before this (a handler was slow)
        #: limits of issue 31: connection cap, body budget, stuck workers (admission.py)
        self.adm = admission.Limits(settings)
        self.read_events = _IN

    # --- set-up -----------------------------------------------------------------

    def bind(self) -> int:
        host = self.s.host
        family = _socket.AF_INET
        addr: Any = (host, self.s.port)
        if ":" in host:
            family = _socket.AF_INET6
            addr = (host.strip("[]"), self.s.port, 0, 0)
        else:
            try:
                _socket.inet_aton(host)
            except OSError:
                infos = _socket.getaddrinfo(host, self.s.port, 0, _socket.SOCK_STREAM)
                family, _, _, _, addr = infos[0]
        sock = _socket.socket(family, _socket.SOCK_STREAM, 0)
        try:
            sock.setsockopt(_socket.SOL_SOCKET, _socket.SO_REUSEADDR, 1)
            if family == _socket.AF_INET6:
                try:
                    sock.setsockopt(_socket.IPPROTO_IPV6, _socket.IPV6_V6ONLY, 0)
                except (OSError, AttributeError):
                    pass
            sock.bind(addr)
            sock.listen(1024)
            sock.setblocking(False)
        except BaseException:
            sock.close()
            raise
        self.lsock = sock
        self.family = family
        self.port = sock.getsockname()[1]
        self.poller.register(sock.fileno(), _IN)
        self.listening = True
        # Until the handler is known, hold at most as many requests as a sync handler
        # admits (async handlers admit more once ready, never fewer).
        self.concurrency = self.s.concurrency or DEFAULT_SYNC_CONCURRENCY
        self.capacity = self.concurrency + self.s.queue
        if self.s.startup_timeout_s > 0:
            self.startup_deadline = monotonic() + self.s.startup_timeout_s
        return self.port

    def make_runner(self, invoker: Callable[[Request], Any], is_async: bool, asyncio: Optional[ModuleType]) -> Runner:
        """Main thread, once the entry is imported: start the workers (not serving yet)."""
        conc = self.s.concurrency or (DEFAULT_ASYNC_CONCURRENCY if is_async else DEFAULT_SYNC_CONCURRENCY)
        if is_async:
            from .aio import AsyncRunner

            assert asyncio is not None
            return AsyncRunner(asyncio, invoker, self.finish, conc)
        return ThreadPool(invoker, self.finish, conc)

    def publish(self, runner: Runner, error: Optional[Dict[str, str]]) -> None:
        """Main thread: end start-up (ready with *runner*, or failed with *error*).

        The switch happens on the I/O thread, which alone routes requests, so held
        requests are released (or answered) in arrival order and none slips between;
        the main thread waits for it so ``/_/ready`` agrees with the log line after it.
        """
        done = threading.Event()

        def switch(_: Any) -> None:
            try:
                self._end_startup(runner, error)
            finally:
                done.set()

        self.call_soon(switch, None)
        done.wait(10)

    def _end_startup(self, runner: Runner, error: Optional[Dict[str, str]]) -> None:
        """I/O thread: release held requests in arrival order, or answer them with the error."""
        app = self.app
        if error is not None or runner is None:
            app.error = error
            app.state = App.FAILED
            if self.held:  # every held request gets the import error's 500
                self._answer_held(500, error, [])
            return
        self.runner = runner
        self.concurrency = runner.size
        self.capacity = runner.size + self.s.queue
        if isinstance(runner, ThreadPool) and self.s.inline:
            threading.Thread(target=self._standby_main, name="ignite-io-standby", daemon=True).start()
        app.state = App.READY
        held = self.held
        while held:
            job = held.popleft()
            if not job.done:
                runner.submit(job)

    def wakeup_fd(self) -> int:
        return self.wake_w

    # --- cross-thread calls -----------------------------------------------------------

    def call_soon(self, fn: Callable[[Any], None], conn: Any) -> None:
        """Run ``fn(conn)`` on the I/O thread (safe from any thread)."""
        self.calls.append((fn, conn))
        if not self.wake_pending:
            self.wake_pending = True
            try:
                os.write(self.wake_w, b"\0")
            except BlockingIOError:
                pass

    def _on_wake(self) -> None:
        self.wake_pending = False
        try:
            data = os.read(self.wake_r, 4096)
        except (BlockingIOError, InterruptedError):
            data = b""
        for b in data:
            if b:  # a signal number written by signal.set_wakeup_fd
                self._on_signal(b)
        calls = self.calls
        while calls:
            fn, conn = calls.popleft()
            fn(conn)

    # --- the loop ------------------------------------------------------------------

    def run(self) -> None:
        """The I/O thread: run the loop, stand by when another thread took it over, and so on."""
        self._roles(lead=True)

    def _standby_main(self) -> None:
        try:
            self._roles(lead=False)
        except BaseException as exc:
            from .protocol import format_exception

            self.flush_access()
            self.log.error("I/O loop crashed:\n" + format_exception(exc).rstrip())
            real_exit(70)

    def _roles(self, lead: bool) -> None:
        while True:
            if lead:
                self._lead()  # returns when the standby took the loop over
            self._stand_by()  # returns when this thread took the loop over
            lead = True

    def _lead(self) -> None:
        self.leader = get_ident()
        conns = self.conns
        poll = self.poller.poll
        lfd = self.lsock.fileno() if self.lsock is not None else -1
        wfd = self.wake_r
        next_sweep = monotonic() + TICK
        lines = self.access_lines
        flushed = 0.0
        while True:
            if conns or self.inflight or self.draining:
                timeout: float = TICK
            else:
                timeout = -1
            # Request lines go out in batches: before the loop may sleep for good, every
            # LOG_BATCH lines, or LOG_FLUSH_S after the last write (at most TICK late while
            # connections stay open). A write per loop turn was ~1 per request at c32 (~6 µs
            # each to a file).
            if lines and (timeout < 0 or len(lines) >= LOG_BATCH or self.now - flushed >= LOG_FLUSH_S):
                self.flush_access()
                flushed = self.now
            if self._poll_ms and timeout > 0:  # pragma: no cover
                timeout *= 1000
            events = poll(timeout)
            self.now = now = monotonic()
            for fd, ev in events:
                conn = conns.get(fd)
                if conn is not None:
                    if ev & _READ_EVENTS:
                        self._on_read(conn)
                    if ev & _OUT and not conn.closed:
                        self._on_write(conn)
                elif fd == wfd:
                    self._on_wake()
                elif fd == lfd:
                    self._accept()
            if now >= next_sweep:
                self._sweep(now)
                next_sweep = now + TICK
            if self.routed and not self._dispatch():
                return  # the standby took the loop over during a handler: stand by in its place
            if self.draining and (self._drained() or now >= self.drain_deadline):
                self._exit()

    def _accept(self) -> None:
        lsock = self.lsock
        conns = self.conns
        while True:
            try:
                fd, _addr = lsock._accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:  # EMFILE and friends: paused until a descriptor frees
                admission.accept_failed(self, exc)
                return
            sock = _socket.socket(self.family, _socket.SOCK_STREAM, 0, fd)
            sock.setblocking(False)
            try:
                sock.setsockopt(_socket.IPPROTO_TCP, _socket.TCP_NODELAY, 1)
            except OSError:
                pass
            conn = Conn(sock, fd, self.now, self.limits)
            conns[fd] = conn
            self.poller.register(fd, _IN)
            if len(conns) >= self.s.max_connections and not admission.make_room(self):
                return  # none idle: the listener is paused

    def _set_mask(self, conn: Conn, mask: int) -> None:
        if mask == conn.mask or conn.closed:
            return
        if conn.mask == -1:  # unregistered after EOF: only ever come back for writing
            if not mask & _OUT:
                return
            mask = _OUT
            self.poller.register(conn.fd, mask)
        else:
            self.poller.modify(conn.fd, mask)
        conn.mask = mask

    def _close(self, conn: Conn) -> None:
        """Close on the I/O thread. Caller holds conn.lock or owns conn."""
        if conn.closed:
            return
        conn.closed = True
        if conn.held_bytes:
            admission.release(self, conn)
        self.conns.pop(conn.fd, None)
        try:
            self.poller.unregister(conn.fd)
        except (OSError, KeyError, ValueError):
            pass
        try:
            conn.sock.close()
        except OSError:
            pass
        if not self.listening and len(self.conns) < self.s.max_connections:  # paused: a free seat resumes it
            admission.resume(self)

    def _idle(self, conn: Conn) -> bool:
        """Between requests (or before the first): closing it loses nothing (admission.make_room)."""
        return (
            conn.state == S_HEAD
            and not conn.buf
            and not conn.busy
            and not conn.out
            and not conn.close_after
            and not conn.closed
        )

    def _head_arriving(self, conn: Conn) -> bool:
        """Part of a request head, nothing admitted: the next to go at the cap (admission.make_room)."""
        return conn.state == S_HEAD and bool(conn.buf) and not conn.busy and not conn.out and not conn.close_after

    def _partial(self, conn: Conn) -> bool:
        """A request is arriving on *conn* (head or body) and not admitted yet (stop.drained)."""
        return not conn.busy and conn.state != S_LINGER and not conn.close_after and (bool(conn.buf) or conn.state != S_HEAD)

    def _on_read(self, conn: Conn) -> None:
        try:
            data = conn.sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        with conn.lock:
            if conn.closed:
                return
            if not data:
                conn.peer_closed = True
                if conn.busy:  # the worker answers (a half-closed client still reads) and closes
                    # Unregister: EPOLLHUP/ERR would otherwise fire on every poll until then.
                    if conn.mask != -1:
                        self.poller.unregister(conn.fd)
                        conn.mask = -1
                elif conn.out:
                    self._set_mask(conn, _OUT)
                else:
                    self._close(conn)
                return
            if conn.state == S_LINGER:
                return  # discard
            if conn.state and not conn.close_after:  # a body arrives over several reads: it counts against the budget
                refused = admission.body_bytes(self, conn, len(data), conn.need if conn.state == S_BODY else 0)
                if refused is not None:
                    self._reject(conn, HTTPError(503, refused))
                    return
            buf = conn.buf
            if not buf and conn.state == S_HEAD and not conn.busy:
                conn.t_head = self.now
            conn.parser.receive_data(data)
            if conn.busy or conn.out:
                if len(buf) > self.pause_limit:
                    conn.paused = True
                    self._set_mask(conn, conn.mask & ~_IN)
                return
            self._process(conn)

    def _on_write(self, conn: Conn) -> None:
        with conn.lock:
            if conn.closed:
                return
            if conn.out:
                try:
                    n = conn.sock.send(conn.out)
                except (BlockingIOError, InterruptedError):
                    return
                except OSError:
                    self._close(conn)
                    return
                del conn.out[:n]
                if n:
                    # The send timeout measures the client's progress, not the response's age:
                    # a client still reading a large body is never cut off.
                    conn.t_idle = self.now
                if conn.out:
                    return
            self._after_flush(conn)

    def _after_flush(self, conn: Conn) -> None:
        """All queued output is written (lock held, I/O thread)."""
        if conn.close_after or conn.dead:
            if conn.linger and not conn.dead and not conn.peer_closed:
                try:
                    conn.sock.shutdown(_socket.SHUT_WR)
                except OSError:
                    self._close(conn)
                    return
                conn.state = S_LINGER
                conn.linger_until = self.now + 2.0
                conn.buf.clear()
                self._set_mask(conn, _IN)
            else:
                self._close(conn)
            return
        if conn.busy:
            self._set_mask(conn, 0 if conn.paused or conn.peer_closed else _IN)
            return
        if conn.peer_closed:
            self._close(conn)
            return
        if self.draining and not conn.buf:
            self._close(conn)
            return
        conn.paused = False
        conn.t_idle = self.now
        self._set_mask(conn, _IN)
        if conn.buf:
            conn.t_head = self.now
            self._process(conn)

    def _resume(self, conn: Conn) -> None:
        """I/O-thread follow-up after a worker answered (see :meth:`finish`)."""
        with conn.lock:
            if conn.closed:
                return
            if conn.dead:
                self._close(conn)
            elif conn.out:
                self._set_mask(conn, _OUT)
            else:
                self._after_flush(conn)

    def _send(self, conn: Conn, data: bytes) -> None:
        """Write now, queue the rest (lock held; any thread)."""
        if conn.out:
            conn.out += data
            return
        try:
            n = conn.sock.send(data)
        except (BlockingIOError, InterruptedError):
            n = 0
        except OSError:
            conn.dead = True
            return
        if n < len(data):
            conn.out += memoryview(data)[n:]
            conn.t_idle = monotonic()  # the send timeout starts now, not at the connection's last idle moment

    # --- parsing ----------------------------------------------------------------------

    def _process(self, conn: Conn) -> None:
        """Route every complete request the parser finds in ``conn.buf`` (lock held, I/O thread)."""
        parser = conn.parser
        while not conn.busy and not conn.out and not conn.closed and not conn.close_after:
            ev = parser.next_event()
            cls = ev.__class__
            if cls is Data:
                data = ev.data  # type: ignore[union-attr]
                req = conn.req
                assert req is not None
                if not req.body:
                    req.body = data
                else:
                    body = conn.body
                    if body is None:
                        body = conn.body = bytearray(req.body)
                    body += data
                continue
            if ev is END:
                req = conn.req  # type: ignore[assignment]
                assert req is not None
                if conn.body is not None:
                    req.body = bytes(conn.body)
                    conn.body = None
                conn.req = None
                conn.state = S_HEAD
                conn.requests += 1
                conn.t_head = self.now
                self._route(conn, req)
            elif cls is Head:
                conn.req = self._request(conn, ev)  # type: ignore[arg-type]
                conn.state = S_BODY
                if ev.expect_continue and not parser.body_buffered():  # type: ignore[union-attr]
                    self._send(conn, b"HTTP/1.1 100 Continue\r\n\r\n")
            elif ev is NEED_DATA:
                return
            else:  # Reject
                self._reject(conn, HTTPError(ev.status, ev.message))  # type: ignore[union-attr]
                return

    def _request(self, conn: Conn, head: Head) -> Request:
        """The Request for a parsed head (its body follows); the ids resolved."""
        conn.v10 = head.version == "HTTP/1.0"
        conn.keep_alive = head.keep_alive
        target = head.target
        if target[0] == "/":  # origin-form: the usual case
            path, _, query = target.partition("?")
        else:
            path, query = split_target(target)
        eid = fid = oid = ""
        ids = head.watched
        if ids is not None:
            # Logged and echoed: escaped so that no client-sent byte can forge a log line.
            eid = escape(ids.get("x-ignite-execution-id", ""))
            fid = escape(ids.get("x-ignite-function-id", ""))
            oid = escape(ids.get("x-ignite-organization-id", ""))
        return Request(
            head.method,
            path,
            query,
            head.headers,
            b"",
            eid or new_execution_id(),
            fid or self.s.function_id,
            oid or self.s.organization_id,
            head.version,
        )

    # --- routing and responses ---------------------------------------------------------

    def _route(self, conn: Conn, req: Request) -> None:
        if conn.held_bytes:  # the body is complete: it leaves the budget
            admission.release(self, conn)
        path = req.path
        if path.startswith("/_/"):
            self._probe(conn, req)
            return
        app = self.app
        if req.method not in app.methods:
            allow = ", ".join(app.methods)
            self._inline(conn, req, 405, {"error": f"method {req.method} not allowed; use {allow}"}, [("Allow", allow)])
            return
        if app.state != App.READY:
            if app.state == App.FAILED:
                self._inline(conn, req, 500, app.error)
            else:
                self._hold(conn, req)
            return
        if len(self.inflight) >= self.capacity:
            self._inline(
                conn,
                req,
                503,
                {"error": f"too many requests: {self.concurrency} running and {self.s.queue} queued (IGNITE_CONCURRENCY, IGNITE_QUEUE)"},
                [("Retry-After", "1")],
            )
            return
        now = self.now
        timeout = self.s.timeout_s
        job = Job(conn, req, conn.keep_alive and not self.draining, now, now + timeout if timeout > 0 else float("inf"))
        conn.busy = True
        self.inflight[job] = None
        self.routed.append(job)  # run by _dispatch, once this loop turn's events are read

    # --- handlers on the loop's thread ---------------------------------------------------

    def _dispatch(self) -> bool:
        """Run this turn's jobs: one alone in flight on this thread, others on the pool.

        False when this thread lost the loop while a handler ran here.
        """
        routed = self.routed
        if (
            len(routed) == 1
            and self.standby
            and len(self.inflight) == 1  # nothing else running or queued: IGNITE_CONCURRENCY holds
            and not self.draining
            and self.now >= self.inline_until
        ):
            job = routed.pop()
            return self._run_inline(job)
        submit = self.runner.submit
        for job in routed:
            submit(job)
        routed.clear()
        return True

    def _run_inline(self, job: Job) -> bool:
        """Run *job*'s handler here, watched by the standby; True if this thread still leads."""
        me = get_ident()
        self.inline_seq += 1
        self.inline_job = job
        if not self.watching.is_set():
            self.watching.set()
        self.runner.run(job)
        if monotonic() - job.started > INLINE_GRACE_S:
            self.inline_until = monotonic() + INLINE_BACKOFF_S
        with self.lead_lock:
            self.inline_job = None
            leads = self.leader == me
            seat, self.seat = self.seat, None
        if seat is not None:
            seat.set()  # the pool seat kept for this handler is free again
        return leads

    def _stand_by(self) -> None:
        """Watch handlers running on the loop's thread; take the loop over from one that blocks."""
        me = get_ident()
        self.standby = me
        watching = self.watching
        seen = -1
        idle = 0
        while True:
            watching.wait()
            sleep(INLINE_GRACE_S)
            job = self.inline_job
            if job is None:
                seen = -1
                idle += 1
                if idle >= 200:  # ~1 s without handlers on the loop's thread: sleep until the next
                    idle = 0
                    watching.clear()
                    if self.inline_job is not None:
                        watching.set()
                continue
            idle = 0
            seq = self.inline_seq
            if seq != seen:
                seen = seq  # first sight: it gets one more grace period
                continue
            with self.lead_lock:
                if self.inline_job is not job or self.inline_seq != seq:
                    continue
                self.leader = me
                self.standby = 0
                self.inline_job = None
                seat = self.seat = threading.Event()
            # The handler that keeps running still counts against IGNITE_CONCURRENCY: one pool
            # worker waits for it (the queue was empty, it ran alone: the seat is taken first).
            self.runner.submit(pool_seat(seat))
            self.log.debug(f"execution {job.req.execution_id} blocks the I/O thread; the standby takes the loop over")
            return

    def _probe(self, conn: Conn, req: Request) -> None:
        if req.method not in ("GET", "HEAD"):
            self._inline(conn, req, 405, {"error": f"method {req.method} not allowed"}, [("Allow", "GET, HEAD")])
            return
        path = req.path
        app = self.app
        if path == "/_/health":
            stuck = admission.stuck_probe(self, True) if self.adm.wedged_since else None
            if stuck is not None:
                self._inline(conn, req, 503, stuck, quiet=True)
            else:
                self._inline(conn, req, 200, {"status": "ok"}, quiet=True)
        elif path == "/_/ready":
            stuck = admission.stuck_probe(self, False) if self.adm.wedged_since else None
            if stuck is not None:
                self._inline(conn, req, 503, stuck, quiet=True)
            elif self.draining:
                self._inline(conn, req, 503, {"status": "draining"}, quiet=True)
            elif app.state == App.READY:
                self._inline(conn, req, 200, {"status": "ready", "entry": app.entry}, quiet=True)
            elif app.state == App.FAILED:
                body: Dict[str, Any] = {"status": "failed"}
                body.update(app.error or {})
                self._inline(conn, req, 503, body, quiet=True)
            else:
                starting: Dict[str, Any] = {"status": "starting"}
                if self.now >= self.startup_deadline:
                    starting["error"] = self.startup_overdue()
                self._inline(conn, req, 503, starting, [("Retry-After", "1")], quiet=True)
        else:
            self._inline(conn, req, 404, {"error": f"no such endpoint {path}; try /_/health or /_/ready"})

    def _inline(
        self,
        conn: Conn,
        req: Request,
        status: int,
        obj: Any,
        extra: Optional[List[Header]] = None,
        quiet: bool = False,
    ) -> None:
        """Answer on the I/O thread (lock held)."""
        resp = json_response(status, obj, extra)
        keep = conn.keep_alive and not self.draining
        self._send(conn, self.encode(req, resp, keep))
        if not keep:
            conn.close_after = True
        if not quiet or self.log.level < INFO:
            self._access(req, status, 0.0)
        if conn.out or conn.dead or conn.close_after:
            if conn.out:
                self._set_mask(conn, _OUT)
            else:
                self._after_flush(conn)
        else:
            conn.t_idle = self.now

    def _hold(self, conn: Conn, req: Request) -> None:
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

    def _answer_held(self, status: int, obj: Any, extra: List[Header]) -> None:
        held = self.held
        while held:
            job = held.popleft()
            with job.conn.lock:
                if not job.done:
                    self._answer_unserved(job, status, obj, extra)

    def _answer_held_overdue(self) -> None:
        """IGNITE_STARTUP_TIMEOUT_S passed with the import still running: stop holding requests."""
        message = self.startup_overdue()
        self.log.warning(f"{message}; answering {len(self.held)} held request(s) with 503")
        self._answer_held(503, {"error": message, "type": "StartupTimeout"}, [("Retry-After", "1")])

    def _answer_unserved(self, job: Job, status: int, obj: Any, extra: List[Header]) -> None:
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

    def startup_overdue(self) -> str:
        return (
            f"the handler is still being imported after IGNITE_STARTUP_TIMEOUT_S={self.s.startup_timeout_s:g}s "
            "(import or init hook still running)"
        )

    def _reject(self, conn: Conn, err: HTTPError) -> None:
        """Refuse a request before it is complete: answer, then close with lingering."""
        body = json_response(err.status, {"error": err.message})
        data = self._encode_raw(err.status, body, "", False, conn.v10)
        conn.buf.clear()
        self._send(conn, data)
        conn.close_after = True
        conn.linger = True
        if self.log.enabled(INFO):
            # err.message escapes whatever the client sent (http11._show): one log line
            self.log.info(f"- - {err.status} 0.00ms - {err.message}")
        if conn.out:
            self._set_mask(conn, _OUT)
        else:
            self._after_flush(conn)

    def encode(self, req: Request, resp: Response, keep: bool) -> bytes:
        data = self._encode_raw(resp.status, resp, req.execution_id, keep, req.version == "HTTP/1.0")
        if req.method == "HEAD":
            return data[: len(data) - len(resp.body)]
        return data

    @staticmethod
    def _encode_raw(status: int, resp: Response, eid: str, keep: bool, v10: bool) -> bytes:
        """The whole response in one bytes object (one ``send``).

        The status line plus the adapter's headers come from a prebuilt block when the
        adapter sent the usual single Content-Type header; the rest is one ``%`` format.
        """
        body = resp.body
        hs = resp.headers
        block = _BLOCKS.get((status, hs[0])) if len(hs) == 1 else None
        if block is None:
            block = (_STATUS_LINES.get(status) or b"HTTP/1.1 %d Unknown\r\n" % status) + b"".join(
                [_header_line(h) for h in hs]
            )
            if len(hs) == 1 and len(_BLOCKS) < 256:
                _BLOCKS[(status, hs[0])] = block
        if not keep:
            conn = b"Connection: close\r\n"
        elif v10:
            conn = b"Connection: keep-alive\r\n"
        else:
            conn = b""
        if eid:
            return b"%sContent-Length: %d\r\nX-Ignite-Execution-Id: %s\r\n%s%s\r\n%s" % (
                block, len(body), eid.encode("latin-1"), conn, _date_line(), body)
        return b"%sContent-Length: %d\r\n%s%s\r\n%s" % (block, len(body), conn, _date_line(), body)

    def _access(self, req: Request, status: int, ms: float) -> None:
        """Queue the request's log line; the I/O thread writes it before it next waits.

        Writing from the worker cost a syscall (and a GIL hand-off) per request; queued,
        they go out in batches (LOG_BATCH lines or LOG_FLUSH_S, see the loop), at most one
        TICK late, and before the process exits (:func:`stop.exit`).
        """
        if self.log.level <= INFO:
            self.access_lines.append(f"[ignite] INFO {req.method} {req.path} {status} {ms:.2f}ms {req.execution_id}\n")

    def flush_access(self) -> None:
        """Write the queued access-log lines (I/O thread; also at exit)."""
        lines = self.access_lines
        out: List[str] = []
        size = 0
        write = self.log.write_raw
        try:
            while True:
                line = lines.popleft()
                if size + len(line) > 4000 and out:  # each write stays within PIPE_BUF: no interleaving
                    write("".join(out))
                    out.clear()
                    size = 0
                out.append(line)
                size += len(line)
        except IndexError:
            pass
        if out:
            write("".join(out))

    def finish(self, job: Job, resp: Response) -> None:
        """A handler produced *resp* (worker or asyncio thread): write it to the socket."""
        req = job.req
        conn = job.conn
        keep = job.keep_alive and not self.draining
        try:
            data = self.encode(req, resp, keep)
        except Exception as exc:  # e.g. an adapter's invalid header
            resp = json_response(500, error_info(exc))
            data = self.encode(req, resp, keep)
        with conn.lock:
            if job.done:
                self.log.warning(
                    f"execution {req.execution_id} finished after it timed out; its result ({resp.status}) was discarded"
                )
                admission.unstuck(self, job)
                return
            job.done = True
            if not conn.closed:
                self._send(conn, data)
                if not keep:
                    conn.close_after = True
            self._access(req, resp.status, (monotonic() - job.t0) * 1000.0)
            # Only now does the job stop counting: the drain check (I/O thread, no lock) exits the
            # process once nothing is in flight or queued, and the answer is written or in
            # conn.out by here. Cleared before the send, a SIGTERM drain could exit while the
            # last answer was still being sent (the client saw the connection close).
            conn.busy = False
            self.inflight.pop(job, None)
            if not conn.closed:
                if conn.out or conn.close_after or conn.dead or conn.peer_closed or conn.buf or conn.paused or self.draining:
                    self.call_soon(self._resume, conn)
                else:
                    conn.t_idle = monotonic()

    # --- time-outs ---------------------------------------------------------------------

    def _sweep(self, now: float) -> None:
        admission.tick(self, now)
        if self.held and now >= self.startup_deadline and self.app.state == App.STARTING:
            self._answer_held_overdue()
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
        if self.adm.stuck:
            admission.judge(self, now)

    def _timeout(self, job: Job) -> None:
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
                self._answer_unserved(job, 504, obj, [])
            elif self.app.state == App.STARTING:
                obj = {
                    "error": f"the handler was still being imported when IGNITE_TIMEOUT_S={self.s.timeout_s:g}s ran out",
                    "type": "QueueTimeout",
                }
                self._answer_unserved(job, 503, obj, [("Retry-After", "1")])
            else:
                obj = {"error": "timed out waiting for a free worker", "type": "QueueTimeout"}
                self._answer_unserved(job, 503, obj, [("Retry-After", "1")])

    # --- shutdown ----------------------------------------------------------------------

    def _on_signal(self, signum: int) -> None:
        if self.draining:
            self.log.warning(f"signal {signum} again: stopping now")
            self._exit()
        self.draining = True
        self.drain_deadline = self.now + self.s.drain_s
        self.log.notice(
            f"signal {signum}: draining {len(self.inflight)} in-flight request(s) for up to {self.s.drain_s:g}s"
        )
        if self.lsock is not None:
            admission.pause(self)
            self.lsock.close()
            self.lsock = None
        if self.held:  # a stop during the import: held requests will not be served
            self._answer_held(503, {"error": "shutting down before the handler was ready", "type": "Draining"}, [("Retry-After", "1")]
            )
        for conn in list(self.conns.values()):
            with conn.lock:
                if not conn.busy and not conn.out and not conn.buf and conn.state == S_HEAD:
                    self._close(conn)

    def _drained(self) -> bool:
        return stop.drained(self)

    def _exit(self) -> None:
        stop.exit(self)
