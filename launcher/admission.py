"""The launcher at its limits: descriptors, connections, buffered bodies, stuck workers (issue 31).

Nothing here runs per request on the fast path except :func:`release` (only for a request
whose body was buffered across reads) and the ``conn.held_bytes`` check that guards it.
Everything else runs at start-up, when the connection cap is reached, on a failed
``accept``, or once per sweep tick (:data:`server.TICK`).

This module imports nothing from ``server.py`` (no import cycle): the server passes
itself as *srv* and answers the few questions about a connection's parse state
(``srv._idle``) itself.
"""

from __future__ import annotations

import errno
from _socket import MSG_PEEK
from time import monotonic

from .log import Log

TYPE_CHECKING = False
if TYPE_CHECKING:  # ``typing`` costs ~6 ms of start-up; annotations are strings
    from typing import Any, Dict, Optional

    from .config import Settings

#: Descriptors kept back from the connection cap for everything else: the listener, the wake-up
#: pipe, epoll, stdio, the handler's own files and sockets. At least this many...
FD_RESERVE_MIN = 32
#: ...or this fraction of RLIMIT_NOFILE (1/8: 128 of 1024).
FD_RESERVE_DIV = 8
#: Without a hard limit (macOS: RLIM_INFINITY), the soft limit is raised to at most this.
FD_RAISE_CAP = 65536
#: accept() errors that mean "no descriptor / no memory now": stop accepting until one frees.
_STARVED = frozenset(
    e for e in (errno.EMFILE, errno.ENFILE, getattr(errno, "ENOBUFS", -1), getattr(errno, "ENOMEM", -1)) if e > 0
)
#: Async handlers: a loop that ran no callback for this long while a handler is stuck is blocked.
LOOP_STALL_S = 1.0
#: A repeated condition (EMFILE, eviction, a full body budget) is logged at most once per this.
LOG_EVERY_S = 10.0
#: Seconds between the server's sweeps (timeouts, a paused listener's retry): ``server.TICK``.
TICK_S = 0.25


def fd_limit(settings: Settings, log: Log) -> int:
    """Start-up: raise RLIMIT_NOFILE's soft limit to the hard one where allowed, then cap
    ``settings.max_connections`` below it. Returns the soft limit (0: unknown)."""
    try:
        import resource
    except ImportError:  # pragma: no cover - not POSIX
        return 0
    nofile = resource.RLIMIT_NOFILE
    inf = resource.RLIM_INFINITY
    try:
        soft, hard = resource.getrlimit(nofile)
    except (OSError, ValueError):  # pragma: no cover
        return 0
    if soft != inf and (hard == inf or soft < hard):
        target = hard if hard != inf else max(soft, FD_RAISE_CAP)
        try:
            resource.setrlimit(nofile, (target, hard))
        except (OSError, ValueError):
            pass
        else:
            log.info(f"RLIMIT_NOFILE raised from {soft} to {target} (the hard limit)")
            soft = target
    if soft == inf:
        return 0
    cap = soft - max(FD_RESERVE_MIN, soft // FD_RESERVE_DIV)
    if cap < 1:
        cap = 1
    if settings.max_connections > cap:
        log.warning(
            f"IGNITE_MAX_CONNECTIONS={settings.max_connections} lowered to {cap}: RLIMIT_NOFILE is {soft} "
            f"(hard {'unlimited' if hard == inf else hard}), {soft - cap} descriptors kept for the rest"
        )
        settings.max_connections = cap
    return int(soft)


class Limits:
    """Per-server state of this module (``Server.adm``)."""

    __slots__ = ("budget", "buffered", "evicted", "logged", "no_room_at", "ping", "pong", "starved", "stuck",
                 "wedged_since")

    def __init__(self, settings: Settings) -> None:
        self.budget = settings.body_budget_bytes
        self.buffered = 0  # bytes reserved by bodies being received, all connections
        self.starved = 0  # accept() failures for want of a descriptor since the last log line
        self.evicted = 0  # idle connections closed to make room since the last log line
        #: when make_room last found every connection in a request (-inf: not since it found room)
        self.no_room_at = float("-inf")
        self.logged: Dict[str, float] = {}  # kind -> when last logged
        #: handlers still running after their time-out (the client got its 504)
        self.stuck: Dict[Any, None] = {}
        #: since when no worker can take a request (0.0: some can)
        self.wedged_since = 0.0
        #: async handlers: when the asyncio loop was last asked to answer, and last answered
        self.ping = 0.0
        self.pong = 0.0


def _due(adm: Limits, kind: str, now: float) -> bool:
    if now - adm.logged.get(kind, -LOG_EVERY_S) >= LOG_EVERY_S:
        adm.logged[kind] = now
        return True
    return False


# --- descriptors and the connection cap ------------------------------------------------------


def accept_failed(srv: Any, exc: OSError) -> None:
    """``accept()`` failed (I/O thread). Out of descriptors (EMFILE...): stop accepting until
    one frees (a connection closes, or the next sweep tick) instead of retrying at once, which
    spun at 100 % CPU. Logged once per LOG_EVERY_S with the count."""
    if exc.errno not in _STARVED:
        return  # ECONNABORTED and friends: that connection is gone, the next one is fine
    adm: Limits = srv.adm
    adm.starved += 1
    pause(srv)
    if _due(adm, "starved", srv.now):
        srv.log.warning(
            f"accept failed {adm.starved} time(s): {exc.strerror or exc} with {len(srv.conns)} connection(s) open; "
            "not accepting until a descriptor is free (raise RLIMIT_NOFILE, e.g. `ulimit -n`, "
            "or lower IGNITE_MAX_CONNECTIONS)"
        )
        adm.starved = 0


def pause(srv: Any) -> None:
    """Stop accepting (out of descriptors, at the cap, draining): new connections wait in the backlog.
    With :func:`resume`, the one place the listener leaves and rejoins the poller."""
    if srv.listening and srv.lsock is not None:
        srv.poller.unregister(srv.lsock.fileno())
        srv.listening = False


def resume(srv: Any) -> None:
    """Accept again (a connection closed, or a sweep tick found room), unless draining."""
    if not srv.listening and not srv.draining and srv.lsock is not None:
        srv.poller.register(srv.lsock.fileno(), srv.read_events)
        srv.listening = True


def make_room(srv: Any, rescan: bool = False) -> bool:
    """The connection cap is reached (I/O thread): close the longest-idle keep-alive
    connections (and connections that never sent a byte), a batch at a time, so new
    connections and probes are answered. False (and the listener paused) when every
    connection is in the middle of a request.

    Each close then resumes the listener, accepts one connection and lands here again: a scan
    of every connection per close (4,096 at the default cap) would make a flood of busy
    connections cost O(n) per request. So after a scan that found nothing, the next one waits
    for the sweep tick (*rescan*, every TICK): a connection gone idle meanwhile is evicted
    then, at most TICK later.
    """
    conns = srv.conns
    cap = srv.s.max_connections
    want = len(conns) - cap + 1
    if want <= 0:
        return True
    adm: Limits = srv.adm
    if not rescan and srv.now - adm.no_room_at < TICK_S:
        pause(srv)
        return False
    batch = max(want, cap // 64)
    # Idle first (between requests, or connected and silent: the longest idle first), then
    # heads still arriving (the slowest first: a client sending a head a byte at a time).
    now = srv.now  # connections accepted during this loop turn are not read yet: never evicted
    for spare, since, peek in ((srv._idle, _idle_since, True), (srv._head_arriving, _head_since, False)):
        candidates = [c for c in conns.values() if spare(c) and since(c) < now]
        candidates.sort(key=since)
        closed = 0
        for conn in candidates:
            if closed >= batch:
                break
            if peek and _unread(conn):
                continue
            with conn.lock:
                if spare(conn) and not conn.closed:
                    srv._close(conn)
                    adm.evicted += 1
                    closed += 1
        if len(conns) < cap:
            break
        batch = len(conns) - cap + 1
    room: bool = len(conns) < cap
    adm.no_room_at = float("-inf") if room else srv.now
    if adm.evicted and _due(adm, "evicted", srv.now):
        srv.log.warning(
            f"{cap} connections open (IGNITE_MAX_CONNECTIONS): closed {adm.evicted} idle one(s) "
            "(oldest first; then the slowest request heads) to make room"
        )
        adm.evicted = 0
    if not room:
        pause(srv)
        if _due(adm, "full", srv.now):
            srv.log.warning(
                f"{len(conns)} connections open (IGNITE_MAX_CONNECTIONS), every one in a request; "
                "not accepting until one is idle"
            )
    return room


def _unread(conn: Any) -> bool:
    """Bytes from the client wait in the kernel, not read yet (this loop turn reads them): the
    connection only looks idle. Closing it would lose a request the client already sent, and
    closing a socket with unread data sends a RST (RFC 1122 4.2.2.13), which can destroy what
    the peer has not read yet. Peeking costs a syscall per candidate, and only at the cap."""
    try:
        return bool(conn.sock.recv(1, MSG_PEEK))  # the socket is non-blocking
    except OSError:  # EAGAIN: nothing waiting; anything else: the connection is gone anyway
        return False


def _idle_since(conn: Any) -> float:
    t: float = conn.t_idle
    return t


def _head_since(conn: Any) -> float:
    t: float = conn.t_head
    return t


# --- buffered request bodies -----------------------------------------------------------------


def body_bytes(srv: Any, conn: Any, n: int, length: int) -> Optional[str]:
    """*n* more bytes arrived for a body that is not complete yet (I/O thread, conn.lock held).

    A ``Content-Length`` body (*length* > 0) reserves its whole length the first time; a
    chunked one (*length* 0) reserves what arrives. None when it fits the budget, else why not.
    """
    adm: Limits = srv.adm
    if length:
        if conn.held_bytes:
            return None
        n = length
    if adm.buffered + n > adm.budget:
        if _due(adm, "budget", srv.now):
            srv.log.warning(
                f"request bodies being received hold {adm.buffered} bytes (IGNITE_BODY_BUDGET_BYTES={adm.budget}); "
                "refusing more with 503"
            )
        return (
            f"the server is receiving {adm.buffered} bytes of request bodies already "
            f"(IGNITE_BODY_BUDGET_BYTES={adm.budget}); retry later"
        )
    adm.buffered += n
    conn.held_bytes += n
    return None


def release(srv: Any, conn: Any) -> None:
    """The body is complete (handed to the handler) or its connection closed."""
    srv.adm.buffered -= conn.held_bytes
    conn.held_bytes = 0


# --- stuck workers ---------------------------------------------------------------------------


def note_timeouts(srv: Any, now: float) -> None:
    """Sweep tick (I/O thread), before the time-outs are answered: remember the handlers
    that are about to time out while running."""
    stuck = srv.adm.stuck
    for job in list(srv.inflight):  # workers remove theirs meanwhile
        if job.started and not job.done and job.deadline <= now:
            stuck[job] = None


def judge(srv: Any, now: float) -> None:
    """Sweep tick, after the time-outs were answered (and replacement workers started):
    is any worker free to take a request?"""
    adm: Limits = srv.adm
    stuck = adm.stuck
    for job in list(stuck):  # async handlers end by cancellation: finish() is never called
        task = job.task
        if task is not None and hasattr(task, "done") and task.done():
            del stuck[job]
    runner = srv.runner
    workers = runner.size + getattr(runner, "extra", 0) if runner is not None else 0
    if workers and (len(stuck) >= workers or (stuck and _loop_blocked(adm, runner, now))):
        if not adm.wedged_since:
            adm.wedged_since = now
            srv.log.error(
                f"every worker ({workers}) is running a handler past IGNITE_TIMEOUT_S={srv.s.timeout_s:g}s: "
                f"/_/ready answers 503, /_/health too after IGNITE_STUCK_HEALTH_S={srv.s.stuck_health_s:g}s "
                "(the platform should restart this instance)"
            )
    elif adm.wedged_since:
        adm.wedged_since = 0.0
        srv.log.notice("a worker is free again: /_/ready and /_/health answer 200")


def _loop_blocked(adm: Limits, runner: Any, now: float) -> bool:
    """Async handlers: a stuck coroutine that blocks the asyncio thread (``time.sleep`` in an
    ``async def``) stops every other one: the loop has not run a callback for LOOP_STALL_S."""
    loop = getattr(runner, "loop", None)
    if loop is None:
        return False
    blocked = adm.pong < adm.ping and now - adm.ping > LOOP_STALL_S
    if adm.pong >= adm.ping:
        adm.ping = now
        loop.call_soon_threadsafe(_pong, adm)
    return blocked


def _pong(adm: Limits) -> None:
    adm.pong = monotonic()


def unstuck(srv: Any, job: Any) -> None:
    """A handler returned after its time-out (any thread); judged again at the next tick."""
    srv.adm.stuck.pop(job, None)
    if not srv.adm.stuck:
        srv.call_soon(_judge_now, srv)


def _judge_now(srv: Any) -> None:
    judge(srv, srv.now)


def stuck_probe(srv: Any, health: bool) -> Optional[Dict[str, Any]]:
    """The 503 body for ``/_/ready`` (or ``/_/health``) while no worker can take a request."""
    adm: Limits = srv.adm
    since = adm.wedged_since
    if not since:
        return None
    if health and srv.now - since < srv.s.stuck_health_s:
        return None
    return {
        "status": "stuck",
        "error": (
            f"every worker is running a handler past IGNITE_TIMEOUT_S={srv.s.timeout_s:g}s "
            f"({len(adm.stuck)} stuck for up to {srv.now - since:.0f}s)"
        ),
    }


# --- every sweep tick ------------------------------------------------------------------------


def tick(srv: Any, now: float) -> None:
    """Sweep tick (I/O thread): stuck workers; a paused listener tries again (at most once a
    tick: a descriptor freed by the handler, or a connection gone idle, lets it resume)."""
    if srv.runner is not None:
        note_timeouts(srv, now)
    if (
        not srv.listening
        and not srv.draining
        and srv.lsock is not None
        and (len(srv.conns) < srv.s.max_connections or make_room(srv, rescan=True))
    ):
        resume(srv)
