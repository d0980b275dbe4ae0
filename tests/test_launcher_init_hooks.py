"""End-to-end: nuclio's ``init_context`` and digitalhub's init function (issue 20), under a real CPython 3.12.

The init hook is part of start-up: ``/_/ready`` is 503 until it returns, requests
that arrive meanwhile are held, and a failing hook is served like an import error.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Dict, Tuple

import pytest

from tests.launcher_harness import Launcher, RawClient, make_root, running_launcher

pytestmark = pytest.mark.launcher_only  # the launcher under the target's CPython, whatever runs pytest

NUCLIO = {"entry": {"module": "handler", "function": "handler"}, "convention": "nuclio"}

# The example, plus a counter kept in the handler module.
NUCLIO_INIT = """
INIT_CALLS = 0

def init_context(context):
    global INIT_CALLS
    INIT_CALLS += 1
    setattr(context.user_data, "model", "loaded-once")

def handler(context, event):
    return {"model": context.user_data.model, "init_calls": INIT_CALLS}
"""


def ready(srv: Launcher) -> Tuple[int, Dict[str, Any]]:
    status, _, data = srv.get("/_/ready")
    obj: Dict[str, Any] = json.loads(data)
    return status, obj


def wait_not_starting(srv: Launcher) -> Tuple[int, Dict[str, Any]]:
    deadline = time.monotonic() + 20
    while True:
        status, obj = ready(srv)
        if obj["status"] != "starting":
            return status, obj
        assert time.monotonic() < deadline, "still starting"
        time.sleep(0.02)


def test_nuclio_init_context_runs_once_with_the_handlers_context(python312: str, tmp_path: Path) -> None:
    root = make_root(tmp_path, NUCLIO_INIT, manifest=NUCLIO)
    with running_launcher(python312, root) as srv:
        answers = [srv.post("/", b"x") for _ in range(3)]
        assert [a[0] for a in answers] == [200, 200, 200]
        assert [json.loads(a[2]) for a in answers] == [{"model": "loaded-once", "init_calls": 1}] * 3
        assert "init_context ran in" in srv.stderr_text()


def test_nuclio_async_init_context_with_async_handler(python312: str, tmp_path: Path) -> None:
    src = """
    import asyncio
    INIT_CALLS = 0

    async def init_context(context):
        global INIT_CALLS
        INIT_CALLS += 1
        await asyncio.sleep(0)
        context.user_data.loop = asyncio.get_running_loop()
        context.user_data.model = "async-loaded"

    async def handler(context, event):
        same_loop = context.user_data.loop is asyncio.get_running_loop()
        return {"model": context.user_data.model, "init_calls": INIT_CALLS, "same_loop": same_loop}
    """
    root = make_root(tmp_path, src, manifest=NUCLIO)
    with running_launcher(python312, root) as srv:
        for _ in range(2):
            status, _, body = srv.post("/", b"")
            assert status == 200, body
            assert json.loads(body) == {"model": "async-loaded", "init_calls": 1, "same_loop": True}


def test_nuclio_async_init_context_with_sync_handler(python312: str, tmp_path: Path) -> None:
    src = """
    import asyncio

    async def init_context(context):
        await asyncio.sleep(0)
        context.user_data.model = "async-init-sync-handler"

    def handler(context, event):
        return context.user_data.model
    """
    root = make_root(tmp_path, src, manifest=NUCLIO)
    with running_launcher(python312, root) as srv:
        assert srv.post("/", b"")[2] == b"async-init-sync-handler"


def test_nuclio_raising_init_context_is_served_like_an_import_error(python312: str, tmp_path: Path) -> None:
    src = """
    def init_context(context):
        raise RuntimeError("cannot load the model")

    def handler(context, event):
        return "never"
    """
    root = make_root(tmp_path, src, manifest=NUCLIO)
    with running_launcher(python312, root) as srv:
        status, obj = wait_not_starting(srv)
        assert (status, obj["status"], obj["type"], obj["error"]) == (503, "failed", "RuntimeError", "cannot load the model")
        status, _, body = srv.post("/", b"")
        assert status == 500
        err = json.loads(body)
        assert (err["type"], err["error"]) == ("RuntimeError", "cannot load the model")
        assert "init_context" in err["traceback"]
        srv.post("/", b"")
        text = srv.stderr_text()
        assert text.count("cannot run the init hook handler.init_context: RuntimeError") == 1


def test_nuclio_init_context_sys_exit_is_served_like_an_import_error(python312: str, tmp_path: Path) -> None:
    src = """
    import sys
    def init_context(context):
        sys.exit(3)

    def handler(context, event):
        return "never"
    """
    root = make_root(tmp_path, src, manifest=NUCLIO)
    with running_launcher(python312, root) as srv:
        status, obj = wait_not_starting(srv)
        assert (status, obj["type"]) == (503, "SystemExit")
        assert srv.post("/", b"")[0] == 500
        assert srv.proc.poll() is None  # still serving the error


def test_requests_are_held_while_init_context_runs(python312: str, tmp_path: Path) -> None:
    src = """
    import os, time
    HERE = os.path.dirname(os.path.abspath(__file__))

    def init_context(context):
        open(os.path.join(HERE, "init-started"), "w").close()
        deadline = time.monotonic() + 60
        while not os.path.exists(os.path.join(HERE, "release")) and time.monotonic() < deadline:
            time.sleep(0.005)
        context.user_data.model = "after-init"

    def handler(context, event):
        return context.user_data.model
    """
    root = make_root(tmp_path, src, manifest=NUCLIO)
    with running_launcher(python312, root, wait_ready=False) as srv:
        deadline = time.monotonic() + 20
        while not (root / "init-started").exists():
            assert time.monotonic() < deadline
            time.sleep(0.01)
        client = RawClient(srv, timeout=30)
        client.send(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n")
        assert srv.get("/_/health")[0] == 200
        status, obj = ready(srv)
        assert (status, obj["status"]) == (503, "starting")
        (root / "release").write_text("")
        status, _, body = client.response()
        client.close()
        assert (status, body) == (200, b"after-init")


def test_init_hook_that_never_returns_is_bounded_by_the_startup_limit(python312: str, tmp_path: Path) -> None:
    src = """
    import time
    def init_context(context):
        time.sleep(60)

    def handler(context, event):
        return "never"
    """
    root = make_root(tmp_path, src, manifest=NUCLIO)
    with running_launcher(python312, root, env={"IGNITE_STARTUP_TIMEOUT_S": "0.5"}, wait_ready=False) as srv:
        status, headers, body = srv.post("/", b"")
        assert status == 503
        assert json.loads(body)["type"] == "StartupTimeout"
        assert headers["retry-after"] == "1"
        status, obj = ready(srv)
        assert (status, obj["status"]) == (503, "starting")
        assert "IGNITE_STARTUP_TIMEOUT_S" in obj["error"]


def test_no_init_context_no_hook(python312: str, tmp_path: Path) -> None:
    root = make_root(tmp_path, "def handler(context, event):\n    return 'plain'\n", manifest=NUCLIO)
    with running_launcher(python312, root) as srv:
        assert srv.post("/", b"")[2] == b"plain"
        assert "ran in" not in srv.stderr_text()


# --- digitalhub init function ------------------------------------------------------------------

DIGITALHUB_INIT = """
CALLS = []

def init(context, greeting="hello"):
    CALLS.append(type(context).__name__)
    context.user_data.greeting = greeting

def handler(context, event):
    return {"text": f"{context.user_data.greeting} {event.body.decode()}", "init_calls": CALLS}
"""


def test_digitalhub_init_function_named_in_the_manifest(python312: str, tmp_path: Path) -> None:
    manifest = {"entry": {"module": "handler", "function": "handler", "init": "init"}, "convention": "digitalhub"}
    root = make_root(tmp_path, DIGITALHUB_INIT, manifest=manifest)
    with running_launcher(python312, root) as srv:
        for _ in range(2):
            status, _, body = srv.post("/", b"ada")
            assert status == 200, body
            assert json.loads(body) == {"text": "hello ada", "init_calls": ["Context"]}


def test_digitalhub_without_init_in_the_manifest_calls_nothing(python312: str, tmp_path: Path) -> None:
    manifest = {"entry": {"module": "handler", "function": "handler"}, "convention": "digitalhub"}
    root = make_root(tmp_path, DIGITALHUB_INIT, manifest=manifest)
    with running_launcher(python312, root) as srv:
        status, _, body = srv.post("/", b"ada")
        assert status == 500
        assert json.loads(body)["type"] == "AttributeError"  # user_data.greeting was never set


def test_digitalhub_missing_init_function_is_a_startup_error(python312: str, tmp_path: Path) -> None:
    manifest = {"entry": {"module": "handler", "function": "handler", "init": "setup"}, "convention": "digitalhub"}
    root = make_root(tmp_path, DIGITALHUB_INIT, manifest=manifest)
    with running_launcher(python312, root) as srv:
        status, obj = wait_not_starting(srv)
        assert (status, obj["type"]) == (503, "AttributeError")
        assert "setup" in obj["error"]
        assert srv.post("/", b"{}")[0] == 500


def test_async_init_context_sys_exit_with_async_handler_is_served_like_an_import_error(
    python312: str, tmp_path: Path
) -> None:
    """sys.exit() inside a coroutine would stop the handler's event loop; it is an error instead."""
    src = """
    import sys
    async def init_context(context):
        sys.exit("no model")

    async def handler(context, event):
        return "never"
    """
    root = make_root(tmp_path, src, manifest=NUCLIO)
    with running_launcher(python312, root) as srv:
        status, obj = wait_not_starting(srv)
        assert (status, obj["type"], obj["error"]) == (503, "SystemExit", "no model")
        status, _, body = srv.post("/", b"")
        assert status == 500
        assert "init_context" in json.loads(body)["traceback"]
