"""Run an artifact locally the way the platform does: unpack, start the launcher, talk HTTP."""

from __future__ import annotations

import ast
import contextlib
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Optional

from packager.artifact.manifest import LAUNCHER_DIR, RUN, VENDOR_DIR, Manifest
from packager.artifact.tarball import iter_members, unpack
from packager.errors import InvokeError
from packager.records import record

READY_TIMEOUT_S = 60.0

#: What each ``--runtime`` runs the artifact with (said in messages).
RUNTIME_WORDS = {
    "image": "the target's CPython with the image's preinstalled packages",
    "bare": "the target's CPython alone, without the image's preinstalled packages",
}


def _imported(tree: ast.AST) -> set[str]:
    """Top-level names of absolute imports, and of ``importlib.import_module("x")`` / ``__import__("x")``."""
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name.split(".", 1)[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            out.add(node.module.split(".", 1)[0])
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant) \
                and isinstance(node.args[0].value, str):
            f = node.func
            name = f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else ""
            if name in ("import_module", "__import__"):
                out.add(node.args[0].value.split(".", 1)[0])
    return out


def _top_name(path: str) -> str:
    first = path.split("/", 1)[0]
    return first.split(".", 1)[0] if "/" not in path else first


def _stdlib_names() -> set[str]:
    """The standard library's top-level module names: ``sys.stdlib_module_names`` (3.10+), else (3.9)
    the built-in modules and what the interpreter's stdlib and lib-dynload directories hold."""
    names = getattr(sys, "stdlib_module_names", None)
    if names is not None:
        return set(names)
    import sysconfig

    found = set(sys.builtin_module_names)
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    for d in (stdlib, stdlib / "lib-dynload"):
        try:
            entries = list(d.iterdir())
        except OSError:
            continue
        for p in entries:
            if p.name != "site-packages":
                found.add(p.name.split(".", 1)[0])
    return found


def unprovided_imports(artifact: Path) -> list[str]:
    """Modules the function's own code imports that neither the artifact nor the standard library has.

    Those can only come from the image (numpy, requests... preinstalled on it): run with the
    image runtime, as the platform would, whatever the cache holds. A static scan of the
    source's files (not of vendor/, whose own needs the manifest's ``skipped`` records).
    """
    stdlib = _stdlib_names() | {"__future__"}
    provided: set[str] = set()
    wanted: set[str] = set()
    for m in iter_members(artifact):
        if m.path.startswith(LAUNCHER_DIR + "/"):
            continue
        if m.path.startswith(VENDOR_DIR + "/"):
            provided.add(_top_name(m.path[len(VENDOR_DIR) + 1:]))
            continue
        provided.add(_top_name(m.path))
        if m.path.endswith(".py"):
            try:
                wanted |= _imported(ast.parse(m.data))
            except (SyntaxError, ValueError):
                continue  # newer syntax than this host reads: the launcher says what it lacks
    return sorted(n for n in wanted - provided - stdlib if n.isidentifier())


_NO_MODULE = re.compile(r"No module named '([^']+)'")


def image_needed_for(artifact: Path, manifest: Manifest) -> Optional[list[str]]:
    """``--runtime auto``'s one rule, decided from the artifact alone (never from the cache): the
    image runtime when the build skipped preinstalled distributions (``[]``), or when the source
    imports modules that are in neither the artifact nor the stdlib (their names); None: bare."""
    if manifest.skipped:
        return []
    return unprovided_imports(artifact) or None


def missing_module(*texts: str) -> Optional[str]:
    """The module a handler's ``ModuleNotFoundError`` names, if any of *texts* carries one."""
    for text in texts:
        found = _NO_MODULE.search(text)
        if found:
            return found.group(1)
    return None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Unpacked:
    root: Path
    manifest: Manifest


@contextlib.contextmanager
def unpacked(artifact: Path) -> Iterator[Unpacked]:
    """Unpack into a private temp dir, removed afterwards whatever happens."""
    tmp = Path(tempfile.mkdtemp(prefix="ignite-run-"))
    try:
        manifest = unpack(Path(artifact), tmp)
        yield Unpacked(tmp, manifest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def launcher_argv(python: str) -> list[str]:
    return [python, *RUN[1:]]


def launcher_env(port: int, host: str = "127.0.0.1", extra: Optional[dict[str, str]] = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env.update({"PORT": str(port), "IGNITE_HOST": host, "PYTHONDONTWRITEBYTECODE": "1"})
    env.setdefault("IGNITE_FUNCTION_ID", "local/function")
    env.setdefault("IGNITE_ORGANIZATION_ID", "local")
    env.update(extra or {})
    return env


@record
class Response:
    status: int
    headers: dict[str, str]
    body: bytes


def request(port: int, method: str, path: str, body: Optional[bytes] = None,
            headers: Optional[dict[str, str]] = None, timeout: float = 30.0) -> Response:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        r = conn.getresponse()
        return Response(r.status, {k.lower(): v for k, v in r.getheaders()}, r.read())
    finally:
        conn.close()


def _tail(log: IO[bytes], limit: int = 4000) -> str:
    log.flush()
    log.seek(0)
    return log.read().decode("utf-8", "replace")[-limit:]


def wait_ready(proc: subprocess.Popen[bytes], port: int, log: IO[bytes], timeout: float = READY_TIMEOUT_S) -> None:
    """Wait until /_/ready is 200, or the import failed (then the POST shows why)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise InvokeError(
                f"the launcher exited with status {proc.returncode} before it was ready",
                where="launcher", hint="its stderr:\n" + _tail(log),
            )
        try:
            r = request(port, "GET", "/_/ready", timeout=2)
        except OSError:
            time.sleep(0.02)
            continue
        if r.status == 200:
            return
        with contextlib.suppress(ValueError):
            if "traceback" in json.loads(r.body or b"{}"):
                return  # import failed: the launcher serves the error on POST
        time.sleep(0.02)
    raise InvokeError(
        f"the launcher was not ready after {timeout:.0f}s", where="launcher",
        hint="its stderr:\n" + _tail(log),
    )


def stop(proc: subprocess.Popen[bytes], grace: float = 10.0) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@record
class InvokeResult:
    response: Response
    logs: str
    manifest: Manifest


def default_content_type(payload: bytes) -> str:
    """What ``curl`` users expect a body to be labelled: JSON when it parses as JSON, text
    when it is UTF-8, else bytes."""
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError:
        return "application/octet-stream"
    try:
        json.loads(text)
    except ValueError:
        return "text/plain; charset=utf-8"
    return "application/json"


def invoke(
    artifact: Path,
    payload: bytes,
    python: str,
    *,
    path: str = "/",
    method: str = "POST",
    headers: Optional[dict[str, str]] = None,
    env: Optional[dict[str, str]] = None,
    timeout: float = 300.0,
) -> InvokeResult:
    """Unpack, start the launcher under *python*, send one request, stop, clean up.

    Without a Content-Type in *headers*, one is chosen from the payload (see
    ``default_content_type``): handlers written for platforms that read
    ``headers["content-type"]`` (AWS's own Lambda examples do) would otherwise fail on a
    plain ``invoke -p '{...}'``.
    """
    headers = dict(headers or {})
    if payload and not any(k.lower() == "content-type" for k in headers):
        headers["Content-Type"] = default_content_type(payload)
    with unpacked(artifact) as u, tempfile.TemporaryFile() as log:
        port = free_port()
        proc = subprocess.Popen(
            launcher_argv(python), cwd=u.root, env=launcher_env(port, extra=env),
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
        )
        try:
            wait_ready(proc, port, log)
            try:
                resp = request(port, method, path, body=payload or None, headers=headers, timeout=timeout)
            except OSError as exc:
                raise InvokeError(
                    f"request failed: {exc}", where="launcher", hint="its output:\n" + _tail(log),
                ) from exc
        finally:
            stop(proc)
        return InvokeResult(resp, _tail(log, 1 << 20), u.manifest)
