"""Running ``async def`` invokers: an asyncio loop in its own thread.

Loaded (and ``asyncio`` imported) only for coroutine handlers.
"""

from __future__ import annotations

import sys
import threading
from collections import deque
from time import monotonic
from types import FrameType, ModuleType

from .pool import Job, _flush_stdout, _format_frames
from .protocol import Response, error_response

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, Deque, List, Optional

    from .pool import Finish
    from .protocol import Request


class AsyncRunner:
    """Runs ``async def`` invokers on an asyncio loop in its own thread.

    At most ``size`` coroutines run at once; the rest wait in a FIFO here.
    """

    def __init__(
        self,
        asyncio: ModuleType,
        invoke: Callable[[Request], Any],
        finish: Finish,
        size: int,
    ) -> None:
        self.asyncio = asyncio
        self.invoke = invoke
        self.finish = finish
        self.size = size
        self.running = 0
        self.waiting: Deque[Job] = deque()
        self.loop = asyncio.new_event_loop()
        self.ident = 0
        started = threading.Event()

        def run() -> None:
            self.ident = threading.get_ident()
            asyncio.set_event_loop(self.loop)
            self.loop.call_soon(started.set)
            self.loop.run_forever()

        self.thread = threading.Thread(target=run, name="ignite-asyncio", daemon=True)
        self.thread.start()
        started.wait(10)

    def submit(self, job: Job) -> None:
        self.loop.call_soon_threadsafe(self._admit, job)

    def _admit(self, job: Job) -> None:
        if job.done:
            return
        if self.running >= self.size:
            self.waiting.append(job)
            return
        self._start(job)

    def _start(self, job: Job) -> None:
        self.running += 1
        job.thread = self.ident
        job.started = monotonic()
        job.task = self.loop.create_task(self._run(job))

    async def _run(self, job: Job) -> None:
        try:
            try:
                resp = await self.invoke(job.req)
                if not isinstance(resp, Response):
                    raise TypeError(f"adapter returned {type(resp).__name__}, not Response")
            except self.asyncio.CancelledError:
                return
            except BaseException as exc:
                resp = error_response(exc, job.req)
            _flush_stdout()
            self.finish(job, resp)
        finally:
            self.running -= 1
            while self.waiting and self.running < self.size:
                nxt = self.waiting.popleft()
                if not nxt.done:
                    self._start(nxt)

    def stack(self, job: Job) -> str:
        frames: List[FrameType] = []
        task = job.task
        coro: Any = task.get_coro() if task is not None else None
        for _ in range(256):
            if coro is None:
                break
            f = getattr(coro, "cr_frame", None) or getattr(coro, "gi_frame", None)
            if f is not None:
                frames.append(f)
            coro = getattr(coro, "cr_await", None) or getattr(coro, "gi_yieldfrom", None)
        text = _format_frames(frames) if frames else "  (no coroutine frames)\n"
        # A coroutine that blocks the loop (time.sleep in async def) shows up here.
        thread_frame = sys._current_frames().get(self.ident)
        if thread_frame is not None and any(
            fr is thread_frame or _is_caller(thread_frame, fr) for fr in frames
        ):
            text += "  (the handler is blocking the asyncio thread)\n"
        return text

    def abandon(self, job: Job) -> bool:
        task = job.task
        if task is not None:
            self.loop.call_soon_threadsafe(task.cancel)
        return True


def _is_caller(frame: FrameType, target: FrameType) -> bool:
    f: Optional[FrameType] = frame
    while f is not None:
        if f is target:
            return True
        f = f.f_back
    return False
