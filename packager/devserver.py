"""``serve SOURCE --watch``: rebuild on every save and swap the running function without refusing a request.

Three parts, each usable alone (the CLI wires them and prints; nothing here prints):

- :class:`Backend`: one launcher, unpacked into its own temp dir, on a free loopback port.
- :class:`FrontProxy`: the user's port. Each *request* (not each connection: keep-alive clients move
  too) goes to the current backend; while the first build runs requests wait; after a broken save they
  get a 503 JSON body naming the file, line and hint. A swap starts the new launcher, waits for
  ``/_/ready``, points new requests at it, and stops the old one (SIGTERM) once the requests it was
  given have their answers. So no connection is ever refused and no request fails over a swap.
- :func:`watch_changes`: debounced batches of changed files (``watchfiles`` when installed, else
  polling the tree), without editors' temp files, ``__pycache__`` and VCS folders.

The proxy is written on :mod:`http.server` (a development server: bodies are read whole).
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import queue
import re
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Optional, Union

from packager.errors import IgniteError, InvokeError
from packager.invoke import free_port, launcher_argv, launcher_env, request
from packager.records import record, replace

if TYPE_CHECKING:
    from packager.options import BuildOptions

#: How long a request waits for the first build (then it gets a 503).
FIRST_BUILD_WAIT_S = 120.0
#: How long a new launcher may take to import the handler before the swap gives up.
READY_TIMEOUT_S = 60.0
#: How long the old launcher keeps its in-flight requests before it is stopped anyway.
DRAIN_TIMEOUT_S = 300.0

# Hop-by-hop headers (RFC 9110 7.6.1) and what the proxy sets itself.
_HOP = {"connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade",
        "expect", "content-length"}


class Backend:
    """One launcher of one build: started on a free loopback port, in its own process group (the
    terminal's Ctrl-C reaches the CLI, which stops it; the launcher itself never sees it)."""

    def __init__(self, artifact: Path, python: str, env: Optional[dict[str, str]] = None,
                 output: Optional[IO[bytes]] = None, stderr_lines: Optional[Callable[[bytes], None]] = None) -> None:
        """*output*: where the launcher's stdout and stderr go (default: ours); *stderr_lines*: instead,
        each line of its stderr is given to this function (its stdout, the handler's prints, stays ours)."""
        from packager.artifact.tarball import unpack

        self.dir = Path(tempfile.mkdtemp(prefix="ignite-watch-"))
        try:
            self.manifest = unpack(Path(artifact), self.dir)
            self.port = free_port()
            self.proc: subprocess.Popen[bytes] = subprocess.Popen(
                launcher_argv(python), cwd=self.dir, env=launcher_env(self.port, extra=env),
                stdin=subprocess.DEVNULL, stdout=output,
                stderr=subprocess.STDOUT if output else subprocess.PIPE if stderr_lines else None,
                start_new_session=True,
            )
            if stderr_lines is not None and self.proc.stderr is not None:
                threading.Thread(target=_pump, args=(self.proc.stderr, stderr_lines), daemon=True,
                                 name="ignite-launcher-log").start()
        except BaseException:
            shutil.rmtree(self.dir, ignore_errors=True)
            raise
        self.inflight = 0

    def wait_ready(self, timeout: float = READY_TIMEOUT_S) -> Optional[str]:
        """Until ``/_/ready`` answers 200 (None), or 503 with an import error (returned as "Type:
        message"; the launcher serves that error as a 500, which is what the user should see).
        Raises InvokeError if it exits or hangs."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise InvokeError(f"the launcher exited with status {self.proc.returncode} before it was ready",
                                  where="launcher", hint="its output is above")
            try:
                r = request(self.port, "GET", "/_/ready", timeout=2)
            except OSError:
                time.sleep(0.02)
                continue
            if r.status == 200:
                return None
            with contextlib.suppress(ValueError, AttributeError):
                body = json.loads(r.body or b"{}")
                if "traceback" in body:
                    return f"{body.get('type')}: {body.get('error')}"
            time.sleep(0.02)
        raise InvokeError(f"the launcher was not ready after {timeout:.0f}s", where="launcher",
                          hint="its output is above")

    def stop(self, grace: float = 10.0) -> None:
        from packager.invoke import stop

        try:
            stop(self.proc, grace)
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)


def _pump(stream: IO[bytes], sink: Callable[[bytes], None]) -> None:
    with stream:
        for line in iter(stream.readline, b""):
            sink(line)


def error_body(exc: IgniteError) -> dict[str, Any]:
    """The 503 body of a broken save: what ``build`` said, with the file and line split out."""
    where = exc.where or ""
    m = re.match(r"^(?P<file>.*?):(?P<line>\d+)(?::\d+)?$", where)
    return {
        "error": exc.message, "type": exc.code, "where": exc.where, "hint": exc.hint,
        "file": m.group("file") if m else (where or None), "line": int(m.group("line")) if m else None,
        "status": "the last save does not build; fix it and save again",
    }


Target = Union[Backend, dict[str, Any]]


class FrontProxy:
    """The user's port. Thread-safe; :meth:`switch` and :meth:`fail` change where requests go."""

    def __init__(self, host: str, port: int) -> None:
        self._cond = threading.Condition()
        self._backend: Optional[Backend] = None
        self._failure: Optional[dict[str, Any]] = None
        self._retired: list[tuple[Backend, threading.Thread]] = []
        self._server = _Server((host, port), _Handler)
        self._server.front = self
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(target=self._server.serve_forever, name="ignite-front", daemon=True)

    def start(self) -> None:
        self._thread.start()

    # -- routing ---------------------------------------------------------------------------------
    def acquire(self, wait: float = FIRST_BUILD_WAIT_S) -> Target:
        """Where the next request goes: a backend (its in-flight count taken) or a 503 body."""
        deadline = time.monotonic() + wait
        with self._cond:
            while self._backend is None and self._failure is None:
                left = deadline - time.monotonic()
                if left <= 0:
                    return {"error": "the function is still being built", "type": "starting", "file": None,
                            "line": None, "hint": "retry in a moment", "where": None}
                self._cond.wait(left)
            if self._backend is not None:
                self._backend.inflight += 1
                return self._backend
            assert self._failure is not None
            return self._failure

    def release(self, backend: Backend) -> None:
        with self._cond:
            backend.inflight -= 1
            self._cond.notify_all()

    def switch(self, backend: Backend) -> None:
        """Send new requests to *backend* (ready); the previous one drains and stops in the background."""
        with self._cond:
            old, self._backend, self._failure = self._backend, backend, None
            self._cond.notify_all()
        if old is not None:
            self._retire(old)

    def fail(self, body: dict[str, Any]) -> None:
        """Answer every request with 503 *body* until the next :meth:`switch`."""
        with self._cond:
            old, self._backend, self._failure = self._backend, None, body
            self._cond.notify_all()
        if old is not None:
            self._retire(old)

    def _retire(self, old: Backend) -> None:
        def drain() -> None:
            deadline = time.monotonic() + DRAIN_TIMEOUT_S
            with self._cond:
                while old.inflight > 0 and time.monotonic() < deadline:
                    self._cond.wait(0.5)
            old.stop()

        t = threading.Thread(target=drain, name="ignite-drain", daemon=True)
        t.start()
        with self._cond:
            self._retired = [(b, th) for b, th in self._retired if th.is_alive()] + [(old, t)]

    def close(self) -> None:
        """Stop listening, then stop every launcher (each finishes its in-flight requests)."""
        self._server.shutdown()
        self._server.server_close()
        with self._cond:
            current, self._backend = self._backend, None
            self._failure = {"error": "shutting down", "type": "stopping", "file": None, "line": None,
                             "hint": None, "where": None}
            self._cond.notify_all()
            retired = list(self._retired)
        if current is not None:
            current.stop()
        for _b, th in retired:
            th.join(15)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    front: FrontProxy

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that went away; nothing to report


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 120  # an idle keep-alive connection is closed after this
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the launchers log each request

    def _body(self) -> Optional[bytes]:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            out = bytearray()
            while True:
                size = int(self.rfile.readline(1024).split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(8192).strip():
                        pass  # trailers
                    return bytes(out)
                out += self.rfile.read(size)
                self.rfile.readline(8)
        length = self.headers.get("Content-Length")
        return self.rfile.read(int(length)) if length else None

    def _json(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body, indent=1).encode() + b"\n"
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        if status == 503:
            self.send_header("Retry-After", "1")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _proxy(self) -> None:
        try:
            body = self._body()
        except ValueError:
            self.close_connection = True
            self._json(400, {"error": "malformed chunked body", "type": "bad-request"})
            return
        target = self.server.front.acquire()
        if isinstance(target, dict):
            self._json(503, target)
            return
        conn = http.client.HTTPConnection("127.0.0.1", target.port, timeout=DRAIN_TIMEOUT_S)
        try:
            conn.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
            for name, value in self.headers.items():
                if name.lower() not in _HOP:
                    conn.putheader(name, value)
            if body is not None:
                conn.putheader("Content-Length", str(len(body)))
            conn.endheaders(body)
            r = conn.getresponse()
            data = r.read()
            status, reason, headers = r.status, r.reason, r.getheaders()
        except OSError as exc:
            self._json(502, {"error": f"the function's launcher did not answer: {exc}", "type": "bad-gateway",
                             "hint": "its output is in the terminal of `serve --watch`"})
            return
        finally:
            conn.close()
            self.server.front.release(target)
        self.send_response_only(status, reason)
        length = str(len(data))
        for name, value in headers:
            low = name.lower()
            if low == "content-length" and self.command == "HEAD":
                length = value
            elif low not in _HOP:
                self.send_header(name, value)
        self.send_header("Content-Length", length)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _proxy


# -- watching ------------------------------------------------------------------------------------

#: Never a reason to rebuild: VCS and tool folders, bytecode, editors' swap/backup/lock files.
IGNORED_DIRS = frozenset({"__pycache__", ".git", ".hg", ".svn", ".bzr", ".tox", ".nox", ".venv", "venv",
                          ".idea", ".vscode", "node_modules", ".mypy_cache", ".pytest_cache", ".ruff_cache",
                          ".hypothesis"})
_IGNORED_NAMES = re.compile(r"(\.py[cod]$|\.sw.$|~$|^\.#|^#.*#$|^\.DS_Store$|^flycheck_|\.___jb_...___$|"
                            r"\.tmp$|^4913$|\.crdownload$)")


def ignored(rel: str) -> bool:
    """True for a path (relative to the watched root) whose changes never trigger a rebuild."""
    parts = Path(rel).parts
    return any(p in IGNORED_DIRS for p in parts[:-1]) or bool(parts and (
        parts[-1] in IGNORED_DIRS or _IGNORED_NAMES.search(parts[-1])))


def _watch_root(source: Path) -> tuple[Path, Optional[str]]:
    """The directory to watch and, for a single-file source, the one name that matters in it."""
    source = source.resolve()
    return (source, None) if source.is_dir() else (source.parent, source.name)


def watch_changes(source: Path, stop: threading.Event, *, debounce: float = 0.15, poll: Optional[bool] = None,
                  ready: Optional[threading.Event] = None) -> Iterator[tuple[str, ...]]:
    """Yield the sorted relative paths changed in each burst of saves, until *stop* is set.

    ``watchfiles`` (inotify/FSEvents) when installed and *poll* is not True (and polling if the OS
    refuses a watch, e.g. its inotify limit is reached); else the tree is polled (mtime, size, inode)
    every *debounce* seconds, and a burst ends when a poll sees no change. *ready* is set once the
    watch is in place: a save from then on is seen.
    """
    ready = ready or threading.Event()
    root, only = _watch_root(source)

    def wanted(path: str) -> bool:
        try:
            rel = os.path.relpath(path, root)
        except ValueError:
            return False
        if only is not None:
            return rel == only
        return not rel.startswith("..") and not ignored(rel)

    if not poll:
        try:
            import watchfiles
        except ImportError:
            pass
        else:
            try:
                # yield_on_timeout: an empty batch after 200 ms without changes says the watch is in place
                for batch in watchfiles.watch(root, watch_filter=lambda _c, p: wanted(p),
                                              debounce=int(debounce * 1000), step=50, stop_event=stop,
                                              raise_interrupt=False, rust_timeout=200, yield_on_timeout=True,
                                              recursive=only is None):
                    ready.set()
                    rels = sorted({os.path.relpath(p, root) for _c, p in batch})
                    if rels:
                        yield tuple(rels)
                return
            except OSError:
                pass  # e.g. the inotify watch limit: polling still works
    yield from _poll(root, wanted, stop, debounce, only, ready)


def _snapshot(root: Path, wanted: Any, only: Optional[str] = None) -> dict[str, tuple[int, int, int]]:
    out: dict[str, tuple[int, int, int]] = {}
    walk = [(str(root), [], [only])] if only is not None else os.walk(root)
    for dirpath, dirnames, filenames in walk:
        dirnames[:] = [d for d in dirnames if d not in IGNORED_DIRS]
        for name in filenames:
            path = os.path.join(dirpath, name)
            if not wanted(path):
                continue
            try:
                st = os.stat(path)
            except OSError:
                continue
            out[os.path.relpath(path, root)] = (st.st_mtime_ns, st.st_size, st.st_ino)
    return out


def _poll(root: Path, wanted: Any, stop: threading.Event, interval: float, only: Optional[str],
          ready: threading.Event) -> Iterator[tuple[str, ...]]:
    before = _snapshot(root, wanted, only)
    ready.set()
    while not stop.wait(interval):
        now = _snapshot(root, wanted, only)
        if now == before:
            continue
        changed = {p for p in before.keys() | now.keys() if before.get(p) != now.get(p)}
        while not stop.wait(interval):  # debounce: until one poll sees nothing new
            later = _snapshot(root, wanted, only)
            if later == now:
                break
            changed |= {p for p in now.keys() | later.keys() if now.get(p) != later.get(p)}
            now = later
        before = now
        yield tuple(sorted(changed))


class Watcher:
    """:func:`watch_changes` in a thread. :meth:`start` returns once the watch is in place, so a
    build started after it misses no save; saves made during a build come out of :meth:`next` as
    one batch."""

    def __init__(self, source: Path, *, poll: Optional[bool] = None, debounce: float = 0.15) -> None:
        self._stop, self._ready = threading.Event(), threading.Event()
        self._queue: queue.Queue[tuple[str, ...]] = queue.Queue()
        self._args = (source, poll, debounce)
        self._thread = threading.Thread(target=self._run, name="ignite-watch", daemon=True)

    def _run(self) -> None:
        source, poll, debounce = self._args
        try:
            for batch in watch_changes(source, self._stop, debounce=debounce, poll=poll, ready=self._ready):
                self._queue.put(batch)
        finally:
            self._ready.set()

    def start(self, timeout: float = 10.0) -> None:
        self._thread.start()
        self._ready.wait(timeout)

    def next(self, timeout: float) -> tuple[str, ...]:
        """The files changed since the last call (sorted; empty if nothing changed within *timeout*)."""
        try:
            changed = set(self._queue.get(timeout=timeout))
        except queue.Empty:
            return ()
        while True:
            try:
                changed.update(self._queue.get_nowait())
            except queue.Empty:
                return tuple(sorted(changed))

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)


@record
class Rebuild:
    """The outcome of one rebuild: what changed, how long the build (and the swap) took."""

    changed: tuple[str, ...]
    ok: bool
    build_seconds: float
    swap_seconds: float = 0.0
    error: Optional[IgniteError] = None
    vendored: int = 0
    #: the launcher now serving
    pid: Optional[int] = None
    #: the handler built but failed to import ("Type: message"): the launcher answers its 500
    import_error: Optional[str] = None


def _unexpected(exc: Exception) -> IgniteError:
    """A build that failed outside the error hierarchy (a bug, an I/O error): the loop goes on."""
    return IgniteError(f"the build failed unexpectedly: {exc!r}", where=None,
                       hint="save again to retry; if it persists, run `ignite-pack build` on the source "
                            "and report the traceback")


class WatchSession:
    """Builds SOURCE (warm cache) into a private work dir and swaps the proxy to each good build."""

    def __init__(self, front: FrontProxy, options: BuildOptions, python_for: Callable[[Path], str],
                 env: Optional[dict[str, str]] = None,
                 stderr_lines: Optional[Callable[[bytes], None]] = None) -> None:
        self.front, self.options, self.python_for, self.env = front, options, python_for, env
        self.stderr_lines = stderr_lines
        self.workdir = Path(tempfile.mkdtemp(prefix="ignite-watch-builds-"))
        self._count = 0
        self._pythons: dict[str, str] = {}

    def rebuild(self, changed: tuple[str, ...]) -> Rebuild:
        """Build; on success start the new launcher and switch to it once ready; on failure answer 503."""
        from packager.build import build

        self._count += 1
        out = self.workdir / f"build-{self._count}.tar.gz"
        t0 = time.perf_counter()
        try:
            result = build(replace(self.options, output=out))
        except Exception as exc:
            err = exc if isinstance(exc, IgniteError) else _unexpected(exc)
            self.front.fail(error_body(err))
            return Rebuild(changed, False, time.perf_counter() - t0, error=err)
        t1 = time.perf_counter()
        backend: Optional[Backend] = None
        try:
            backend = Backend(out, self._python(out), self.env, stderr_lines=self.stderr_lines)
            import_error = backend.wait_ready()
        except BaseException as exc:  # Ctrl-C too: a launcher not yet switched to is stopped here
            if backend is not None:
                backend.stop()
            if not isinstance(exc, Exception):
                raise
            err = exc if isinstance(exc, IgniteError) else _unexpected(exc)
            self.front.fail(error_body(err))
            return Rebuild(changed, False, t1 - t0, time.perf_counter() - t1, error=err)
        finally:
            out.unlink(missing_ok=True)
        self.front.switch(backend)
        return Rebuild(changed, True, t1 - t0, time.perf_counter() - t1,
                       vendored=len(result.manifest.vendored), pid=backend.proc.pid, import_error=import_error)

    def _python(self, artifact: Path) -> str:
        """*python_for* once per target (finding and probing an interpreter is slower than a build)."""
        from packager.artifact.tarball import read_manifest

        m = read_manifest(artifact)
        key = json.dumps([m.target, bool(m.skipped)], sort_keys=True, default=str)
        if key not in self._pythons:
            self._pythons[key] = self.python_for(artifact)
        return self._pythons[key]

    def close(self) -> None:
        shutil.rmtree(self.workdir, ignore_errors=True)
