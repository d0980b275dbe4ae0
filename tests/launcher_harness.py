"""Start and stop the embedded launcher for end-to-end tests.

Small, documented API (the packager's e2e tests reuse it)::

    root = make_root(tmp_path, "def handler(payload, ctx):\\n    return payload\\n")
    with running_launcher(python312, root, env={"IGNITE_TIMEOUT_S": "2"}) as srv:
        status, headers, body = srv.post("/", b"hi")
        assert srv.stderr_text().count("POST /") == 1

* :func:`make_root` lays out an artifact root: the repo's ``launcher/`` copied
  as ``__ignite__/`` (``*.py`` only, like the packager), ``handler.py`` and an
  optional ``manifest.json`` and extra files.
* :func:`running_launcher` starts ``python -m __ignite__`` in *root* (its own
  process group, ``PORT=0`` and ``IGNITE_HOST=127.0.0.1`` unless *env* says
  otherwise), learns the port from the launcher's "listening on" log line,
  optionally waits until ``/_/ready`` stops saying "starting", and always kills
  the process group on exit.  stdout/stderr go to files next to *root*.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import textwrap
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Mapping, Optional, Tuple, Union

LAUNCHER_SRC = Path(__file__).resolve().parent.parent / "launcher"
_LISTEN_RE = re.compile(r"listening on http://\S+?:(\d+)")

Headers = Dict[str, str]


def copy_launcher(dest: Path) -> Path:
    """Copy every ``*.py`` of the repo's ``launcher/`` (recursively) to *dest*."""
    for src in sorted(LAUNCHER_SRC.rglob("*.py")):
        if "__pycache__" in src.parts:
            continue
        target = dest / src.relative_to(LAUNCHER_SRC)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, target)
    return dest


def make_root(
    tmp_path: Path,
    handler_source: Optional[str] = None,
    manifest: Optional[Mapping[str, Any]] = None,
    files: Optional[Mapping[str, Union[str, bytes]]] = None,
    name: str = "artifact",
) -> Path:
    """Create ``tmp_path/name`` as an artifact root and return it.

    *handler_source* (dedented) becomes ``handler.py`` when given; *files* maps
    relative paths to contents for anything else (``json.py``, ``vendor/...``).
    """
    root = tmp_path / name
    root.mkdir(parents=True, exist_ok=True)
    copy_launcher(root / "__ignite__")
    if handler_source is not None:
        (root / "handler.py").write_text(textwrap.dedent(handler_source), encoding="utf-8")
    if manifest is not None:
        (root / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    for rel, content in (files or {}).items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(textwrap.dedent(content), encoding="utf-8")
    return root


class Launcher:
    """A running launcher process (see :func:`running_launcher`)."""

    def __init__(self, proc: subprocess.Popen[bytes], root: Path, out: Path, err: Path) -> None:
        self.proc = proc
        self.root = root
        self.stdout_path = out
        self.stderr_path = err
        self.port = 0
        self.host = "127.0.0.1"

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def stderr_text(self) -> str:
        return self.stderr_path.read_text(encoding="utf-8", errors="replace")

    def stdout_text(self) -> str:
        return self.stdout_path.read_text(encoding="utf-8", errors="replace")

    def request(
        self,
        method: str,
        path: str = "/",
        body: Optional[bytes] = None,
        headers: Optional[Mapping[str, str]] = None,
        timeout: float = 10.0,
    ) -> Tuple[int, Headers, bytes]:
        """One request on a fresh connection: (status, lower-cased headers, body)."""
        conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        try:
            conn.request(method, path, body=body, headers=dict(headers or {}))
            resp = conn.getresponse()
            data = resp.read()
            return resp.status, {k.lower(): v for k, v in resp.getheaders()}, data
        finally:
            conn.close()

    def post(
        self, path: str = "/", body: bytes = b"", headers: Optional[Mapping[str, str]] = None, timeout: float = 10.0
    ) -> Tuple[int, Headers, bytes]:
        return self.request("POST", path, body, headers, timeout)

    def get(self, path: str, timeout: float = 10.0) -> Tuple[int, Headers, bytes]:
        return self.request("GET", path, None, None, timeout)

    def connect(self, timeout: float = 10.0) -> socket.socket:
        """A raw TCP connection to the launcher (caller closes it)."""
        return socket.create_connection((self.host, self.port), timeout=timeout)

    def wait_stderr(self, pattern: str, timeout: float = 10.0) -> str:
        """Wait until *pattern* (regex) appears in stderr; return stderr.  AssertionError on timeout."""
        deadline = time.monotonic() + timeout
        while True:
            text = self.stderr_text()
            if re.search(pattern, text):
                return text
            if time.monotonic() > deadline:
                raise AssertionError(f"{pattern!r} not in launcher stderr within {timeout}s:\n{text}")
            time.sleep(0.02)

    def send_signal(self, sig: int) -> None:
        self.proc.send_signal(sig)

    def wait(self, timeout: float = 15.0) -> int:
        return self.proc.wait(timeout)


def launcher_env(env: Optional[Mapping[str, str]] = None) -> Dict[str, str]:
    """The parent environment minus launcher settings, plus test defaults and *env*."""
    base = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("IGNITE_") and k not in ("PORT", "PYTHONPATH", "PYTHONHOME")
    }
    base.update({"PORT": "0", "IGNITE_HOST": "127.0.0.1"})
    base.update(env or {})
    return base


@contextmanager
def running_launcher(
    python: str,
    root: Path,
    env: Optional[Mapping[str, str]] = None,
    wait_ready: bool = True,
    timeout: float = 20.0,
    args: Optional[List[str]] = None,
    preexec_fn: Optional[Callable[[], None]] = None,
) -> Iterator[Launcher]:
    """Run ``python -m __ignite__`` in *root*; yield a :class:`Launcher`; kill it afterwards.

    Waits (bounded by *timeout*) for the "listening on" line, and with
    *wait_ready* until ``/_/ready`` answers anything but "starting".
    """
    out = root.parent / f"{root.name}.stdout.log"
    err = root.parent / f"{root.name}.stderr.log"
    with open(out, "wb") as fo, open(err, "wb") as fe:
        proc = subprocess.Popen(
            [python, *(args or []), "-m", "__ignite__"],
            cwd=str(root),
            env=launcher_env(env),
            stdin=subprocess.DEVNULL,
            stdout=fo,
            stderr=fe,
            start_new_session=True,
            preexec_fn=preexec_fn,
        )
    srv = Launcher(proc, root, out, err)
    try:
        deadline = time.monotonic() + timeout
        while True:
            m = _LISTEN_RE.search(srv.stderr_text())
            if m:
                srv.port = int(m.group(1))
                break
            if proc.poll() is not None:
                raise AssertionError(f"launcher exited with {proc.returncode} before listening:\n{srv.stderr_text()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"launcher did not listen within {timeout}s:\n{srv.stderr_text()}")
            time.sleep(0.01)
        if wait_ready:
            while True:
                try:
                    status, _, body = srv.get("/_/ready", timeout=5)
                    if status == 200 or b'"starting"' not in body:
                        break
                except OSError:
                    pass
                if time.monotonic() > deadline:
                    raise AssertionError(f"launcher not ready within {timeout}s:\n{srv.stderr_text()}")
                time.sleep(0.02)
        yield srv
    finally:
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:  # pragma: no cover
            proc.kill()
            proc.wait(10)


class RawClient:
    """A raw HTTP/1.1 connection that parses responses itself (Content-Length only, as the launcher sends).

    For tests that must control every byte: pipelining, slow or vanishing clients.
    """

    def __init__(self, srv: Launcher, timeout: float = 10.0) -> None:
        self.sock = srv.connect(timeout)
        self.buf = b""

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _fill(self) -> bool:
        chunk = self.sock.recv(65536)
        self.buf += chunk
        return bool(chunk)

    def response(self) -> Tuple[int, Dict[str, str], bytes]:
        while b"\r\n\r\n" not in self.buf:
            if not self._fill():
                raise ConnectionError(f"closed before a response head; got {self.buf!r}")
        head, _, self.buf = self.buf.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {}
        for line in lines[1:]:
            k, _, v = line.partition(":")
            headers[k.strip().lower()] = v.strip()
        n = int(headers.get("content-length", "0"))
        while len(self.buf) < n:
            if not self._fill():
                raise ConnectionError("closed inside a body")
        body, self.buf = self.buf[:n], self.buf[n:]
        return status, headers, body

    def closed_by_peer(self, timeout: float = 10.0) -> bool:
        self.sock.settimeout(timeout)
        try:
            while self._fill():
                pass
        except ConnectionResetError:
            return True
        except socket.timeout:
            return False
        return True

    def reset(self) -> None:
        """Close with RST (SO_LINGER 0): the rudest disconnect a client can do."""
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.sock.close()

    def close(self) -> None:
        self.sock.close()
