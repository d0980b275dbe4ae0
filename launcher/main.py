"""Start-up: settings, listen, import the entry, serve.  ``python -m __ignite__`` calls :func:`main`."""

from __future__ import annotations

import faulthandler
import gc
import importlib
import os
import sys
import threading
import traceback
from time import perf_counter
from types import ModuleType

from . import __version__, admission, config, protocol
from .conventions import load as load_convention
from .entry import (
    EntryError,
    import_entry,
    install_paths,
    read_manifest,
    resolve_entry,
    stdlib_only,
)
from .log import Log, real_exit
from .server import App, Server

TYPE_CHECKING = False
if TYPE_CHECKING:  # ``typing`` costs ~6 ms of start-up; annotations are strings
    import signal
    from typing import Any, List, Optional

    from .protocol import InitHook
else:
    # ``signal`` wraps these same functions and turns every constant into an IntEnum at
    # import: 3.5M instructions (valgrind), ~4 % of what the launcher adds to a bare start.
    import _signal as signal


def _unbuffer_stdio() -> None:
    """User ``print()`` reaches stdout line by line even on a pipe (no reliance on -u)."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.reconfigure(line_buffering=True, write_through=True)  # type: ignore[union-attr]
        except Exception:
            pass


def _noop(signum: int, frame: object) -> None:
    """Signals are handled on the I/O thread via ``signal.set_wakeup_fd``."""


class _Escaped(Exception):
    """Carries a SystemExit/KeyboardInterrupt out of the event loop's thread."""

    def __init__(self, exc: BaseException) -> None:
        super().__init__(exc)
        self.exc = exc


async def _contained(coro: Any) -> Any:
    """Await *coro*; a ``sys.exit()`` in it must not stop the handler's event loop."""
    try:
        return await coro
    except (SystemExit, KeyboardInterrupt) as exc:
        raise _Escaped(exc) from None


def run_init_hook(hook: InitHook, runner: Any, base_path: List[str]) -> None:
    """Run an adapter's init hook once, on the main thread, before any request is served.

    An ``async def`` hook runs on the handler's own event loop when the handler is
    async (what it sets up, e.g. a client session, belongs to that loop), else in a
    throw-away loop. Exceptions (``SystemExit`` too) propagate: start-up failed.
    """
    result = hook.call()
    if not hasattr(result, "__await__"):
        return
    try:
        _await_init(result, runner, base_path)
    except _Escaped as escaped:
        raise escaped.exc from None


def _await_init(result: Any, runner: Any, base_path: List[str]) -> None:
    if runner is not None:
        runner.asyncio.run_coroutine_threadsafe(_contained(result), runner.loop).result()
        return
    with stdlib_only(base_path):
        asyncio = importlib.import_module("asyncio")
    asyncio.run(result)



def _hook_os_exit(server: Server, log: Log) -> None:
    """Log a handler's ``os._exit(n)``: who called it and how many requests it takes with it.

    Only in this process: a child forked by the handler (``multiprocessing``) exits quietly."""
    pid = os.getpid()

    def _exit(code: int) -> None:
        if os.getpid() != pid:
            real_exit(code)
        try:
            where = "".join(traceback.format_stack(sys._getframe(1), limit=8)).rstrip()
            server.flush_access()
            log.error(
                f"os._exit({code}) called (not by the launcher): exiting with {code}, "
                f"{len(server.inflight)} request(s) in flight get no answer; called from:\n{where}"
            )
        except BaseException:
            pass
        real_exit(code)

    os._exit = _exit  # type: ignore[assignment]


def main(root: str, t_start: float) -> int:
    try:  # a segfault or abort (a C extension) writes every thread's Python stack to stderr
        faulthandler.enable(file=2, all_threads=True)
    except (OSError, ValueError, RuntimeError):  # pragma: no cover - no usable fd 2
        pass
    settings = config.load()
    log = Log(settings.log_level)
    for warning in settings.warnings:
        log.warning(warning)
    protocol.error_sink = log.error
    _unbuffer_stdio()
    admission.fd_limit(settings, log)

    app = App()
    server = Server(settings, app, log)
    _hook_os_exit(server, log)
    try:
        port = server.bind()
    except OSError as exc:
        log.error(f"cannot listen on {settings.host}:{settings.port}: {exc}")
        return 1
    try:
        signal.set_wakeup_fd(server.wakeup_fd(), warn_on_full_buffer=False)
        signal.signal(signal.SIGTERM, _noop)
        signal.signal(signal.SIGINT, _noop)
    except (ValueError, OSError) as exc:  # not the main thread / unsupported
        log.warning(f"signal handling unavailable: {exc}")

    def serve() -> None:
        try:
            server.run()
        except BaseException as exc:
            server.flush_access()
            log.error("I/O loop crashed:\n" + protocol.format_exception(exc).rstrip())
            real_exit(70)

    io = threading.Thread(target=serve, name="ignite-io", daemon=True)
    io.start()
    log.notice(
        f"listening on http://{settings.host}:{port} (launcher {__version__}, "
        f"python {sys.version.split()[0]}, pid {os.getpid()})"
    )

    entry_name = "?"
    stage = "load entry ?"
    t_import = perf_counter()
    init_ms = ""
    try:
        manifest = read_manifest(root)
        module, fn, convention = resolve_entry(manifest, settings.entry_module, settings.entry_fn)
        entry_name = f"{module}:{fn}"
        stage = f"load entry {entry_name}"
        adapter = load_convention(convention)
        configure = getattr(adapter, "configure", None)
        if configure is not None:  # before the import: e.g. the environment the platform sets
            configure(root, manifest, module, fn)
        app.methods = tuple(getattr(adapter, "METHODS", ("POST",)))
        base_path = install_paths(root)
        t_import = perf_counter()
        func = import_entry(module, fn)
        invoker = adapter.make_invoker(func)
        is_async = protocol.is_coroutine_function(invoker)
        asyncio: Optional[ModuleType] = None
        if is_async:
            with stdlib_only(base_path):  # only for async handlers: ~45 ms of start-up otherwise
                asyncio = importlib.import_module("asyncio")
        t_done = perf_counter()
        init_hook = getattr(adapter, "init_hook", None)
        hook = init_hook(invoker, sys.modules[module], manifest.get("entry") or {}) if init_hook else None
        runner = server.make_runner(invoker, is_async, asyncio)
        if hook is not None:
            stage = f"run the init hook {module}.{hook.name}"
            t_init = perf_counter()
            run_init_hook(hook, runner if is_async else None, base_path)
            init_ms = f"; {hook.name} ran in {(perf_counter() - t_init) * 1000:.1f} ms"
    except BaseException as exc:
        error = protocol.error_info(exc)
        if isinstance(exc, EntryError):
            error["traceback"] = ""
        # Log before publishing the state: whoever sees /_/ready fail can read why on stderr.
        log.error(
            f"cannot {stage}: {error['type']}: {error['error']} "
            f"(serving the error: /_/ready 503, POST 500)\n{error['traceback'].rstrip()}"
        )
        server.publish(None, error)
    else:
        app.entry = entry_name
        gc.freeze()  # import-time objects will not be scanned by every later collection
        server.publish(runner, None)
        log.notice(
            f"ready: imported {entry_name} ({convention}{', async' if is_async else ''}) "
            f"in {(t_done - t_import) * 1000:.1f} ms{init_ms}; start to ready {(perf_counter() - t_start) * 1000:.1f} ms"
        )
    while io.is_alive():
        io.join(3600)
    return 0
