"""Where handlers run: a fixed pool of worker threads, or one asyncio thread.

The I/O loop hands a ``Job`` over with one ``SimpleQueue.put`` (a C queue:
no Python-level lock, no ``concurrent.futures`` machinery, no per-request
thread).  The worker sends the response itself (see ``Server.finish``), so the
common keep-alive path costs one thread hand-off per request, not two (and a
request alone in flight none: the I/O thread runs it, see ``Server._dispatch``).
"""

from __future__ import annotations

import os
import sys
import threading
import traceback
from time import monotonic
from types import FrameType

try:  # the C queue; ``queue`` costs ~2 ms of import for a pure-Python wrapper
    from _queue import SimpleQueue
except ImportError:  # pragma: no cover - other implementations
    from queue import SimpleQueue

from .protocol import Request, Response, error_response

TYPE_CHECKING = False
if TYPE_CHECKING:  # ``typing`` costs ~6 ms of start-up; annotations are strings
    from typing import Any, Callable, List, Optional

    Finish = Callable[["Job", Response], None]


class Job:
    """One admitted invocation: the request, its connection and its timing."""

    __slots__ = (
        "conn",
        "deadline",
        "done",
        "keep_alive",
        "req",
        "started",
        "t0",
        "task",
        "thread",
    )

    def __init__(self, conn: Any, req: Request, keep_alive: bool, t0: float, deadline: float) -> None:
        self.conn = conn
        self.req = req
        self.keep_alive = keep_alive
        self.t0 = t0
        self.deadline = deadline
        self.started = 0.0  # set when a worker starts running it
        self.thread = 0  # ident of the worker thread running it
        self.done = False  # response sent (by the handler, a timeout or a shutdown)
        self.task: Any = None  # asyncio.Task for async handlers


def seat(until: threading.Event) -> Job:
    """A job without a request: the worker that takes it waits until *until* is set.

    Keeps one pool seat for a handler that runs on another thread (Server._stand_by)."""
    nothing: Any = None
    job = Job(nothing, nothing, False, 0.0, float("inf"))
    job.task = until
    return job


def _flush_stdout() -> None:
    try:
        sys.stdout.flush()
    except Exception:
        pass


def _format_frames(frames: List[FrameType]) -> str:
    summary = traceback.StackSummary.extract((f, f.f_lineno) for f in frames)
    return "".join(summary.format())


def _batch_thread() -> None:
    """Mark the calling thread SCHED_BATCH (Linux): its wake-ups no longer preempt.

    The I/O thread wakes a worker with the GIL still held; with wake-up preemption the
    worker runs at once, finds the GIL taken and sleeps again: two context switches per
    request for nothing.  A batch worker runs when the I/O thread waits for events
    (and at every scheduler tick as before); nothing else about scheduling changes.
    """
    try:
        os.sched_setscheduler(0, os.SCHED_BATCH, os.sched_param(0))
    except (AttributeError, OSError):
        pass


class ThreadPool:
    """``size`` daemon threads pulling jobs from one queue."""

    def __init__(self, invoke: Callable[[Request], Any], finish: Finish, size: int) -> None:
        self.invoke = invoke
        self.finish = finish
        self.size = size
        self.q: SimpleQueue[Optional[Job]] = SimpleQueue()
        self.lock = threading.Lock()
        self.extra = 0  # replacement threads started for stuck (timed-out) handlers
        self.count = 0
        for _ in range(size):
            self._spawn()

    def _spawn(self) -> None:
        self.count += 1
        t = threading.Thread(target=self._work, name=f"ignite-worker-{self.count}", daemon=True)
        t.start()

    def submit(self, job: Job) -> None:
        self.q.put(job)

    def run(self, job: Job) -> None:
        """Run *job*'s handler on the calling thread and answer it: a worker, or the I/O thread
        for a request alone in flight (``Server._run_inline``)."""
        job.thread = threading.get_ident()
        job.started = monotonic()
        try:
            resp = self.invoke(job.req)
            if not isinstance(resp, Response):
                raise TypeError(f"adapter returned {type(resp).__name__}, not Response")
        except BaseException as exc:
            resp = error_response(exc, job.req)
        _flush_stdout()
        self.finish(job, resp)

    def _work(self) -> None:
        get = self.q.get
        run = self.run
        _batch_thread()
        while True:
            job = get()
            if job is None:
                return
            if job.done:  # timed out while queued
                continue
            if job.req is None:  # a seat kept for a handler running on the I/O thread (see seat())
                job.task.wait()
                # As a worker whose handler ran this long: if it timed out, a replacement was
                # started (abandon), and the first thread back from a stuck handler retires.
                if self.extra and self._retire():
                    return
                continue
            run(job)
            job = None
            if self.extra and self._retire():
                return

    def _retire(self) -> bool:
        with self.lock:
            if self.extra > 0:
                self.extra -= 1
                return True
        return False

    def stack(self, job: Job) -> str:
        frame = sys._current_frames().get(job.thread)
        if frame is None:
            return "  (thread has finished)\n"
        frames: List[FrameType] = []
        f: Optional[FrameType] = frame
        while f is not None:
            frames.append(f)
            f = f.f_back
        frames.reverse()
        return _format_frames(frames)

    def abandon(self, job: Job) -> bool:
        """The job's thread is stuck: start a replacement (at most ``size`` extra)."""
        with self.lock:
            if self.extra >= self.size:
                return False
            self.extra += 1
        self._spawn()
        return True
