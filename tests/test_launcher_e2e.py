"""End-to-end: the launcher under a real CPython 3.12 — the runtime contract (DESIGN.md §3)."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any, Iterator

import pytest

from tests.launcher_harness import Launcher, make_root, running_launcher

pytestmark = pytest.mark.launcher_only  # the launcher under the target's CPython, whatever runs pytest

UUID4 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")

MULTI = """
import json, sys
from datetime import datetime, timezone

def handler(payload, ctx):
    op = payload.decode("utf-8", "replace")
    if op == "bytes":
        return b"\\x00\\x01raw"
    if op == "bytearray":
        return bytearray(b"ba")
    if op == "str":
        return "h\\u00e9llo"
    if op == "dict":
        return {"a": 1, "b": [1, 2]}
    if op == "list":
        return [1, "two"]
    if op == "none":
        return None
    if op == "int":
        return 42
    if op == "ctx":
        return ctx
    if op == "raise":
        raise ValueError("boom")
    if op == "exit":
        sys.exit(3)
    if op == "kbi":
        raise KeyboardInterrupt()
    if op == "badjson":
        return {"rows": [{}, {}, {}, {"ts": datetime(2024, 1, 1, tzinfo=timezone.utc)}]}
    if op == "badkey":
        return {"ok": {("a", 1): 2}}
    if op == "print":
        print("user-line-from-handler")
        print("partial-without-newline", end="")
        return "printed"
    return payload
"""


@pytest.fixture(scope="module")
def multi(python312: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Launcher]:
    root = make_root(tmp_path_factory.mktemp("multi"), MULTI)
    env = {"IGNITE_FUNCTION_ID": "org/fn", "IGNITE_ORGANIZATION_ID": "org-1"}
    with running_launcher(python312, root, env=env) as srv:
        yield srv


@pytest.mark.parametrize(
    ("op", "ctype", "body"),
    [
        ("bytes", "application/octet-stream", b"\x00\x01raw"),
        ("bytearray", "application/octet-stream", b"ba"),
        ("str", "text/plain; charset=utf-8", "h\u00e9llo".encode()),
        ("dict", "application/json", b'{"a": 1, "b": [1, 2]}'),
        ("list", "application/json", b'[1, "two"]'),
        ("none", "application/json", b"null"),
        ("int", "application/json", b"42"),
    ],
)
def test_return_types_and_content_types(multi: Launcher, op: str, ctype: str, body: bytes) -> None:
    status, headers, data = multi.post("/", op.encode())
    assert status == 200
    assert headers["content-type"] == ctype
    assert data == body
    assert headers["content-length"] == str(len(body))


def test_payload_is_raw_bytes_and_any_path_works(multi: Launcher) -> None:
    raw = b'\xff\xfe{"not": json'
    status, _, data = multi.post("/some/deep/path?x=1", raw)
    assert status == 200
    assert data == raw


def test_ctx_has_exactly_three_keys_and_ids_from_env(multi: Launcher) -> None:
    status, headers, data = multi.post("/", b"ctx")
    assert status == 200
    ctx = json.loads(data)
    assert set(ctx) == {"execution_id", "function_id", "organization_id"}
    assert ctx["function_id"] == "org/fn"
    assert ctx["organization_id"] == "org-1"
    assert UUID4.match(ctx["execution_id"]), ctx
    assert headers["x-ignite-execution-id"] == ctx["execution_id"]


def test_execution_id_and_ids_from_request_headers(multi: Launcher) -> None:
    hdrs = {
        "X-Ignite-Execution-Id": "exec-123",
        "X-Ignite-Function-Id": "acme/other",
        "X-Ignite-Organization-Id": "acme",
    }
    status, headers, data = multi.post("/", b"ctx", headers=hdrs)
    assert status == 200
    assert json.loads(data) == {
        "execution_id": "exec-123",
        "function_id": "acme/other",
        "organization_id": "acme",
    }
    assert headers["x-ignite-execution-id"] == "exec-123"


def test_fresh_execution_id_per_request(multi: Launcher) -> None:
    ids = {multi.post("/", b"ctx")[1]["x-ignite-execution-id"] for _ in range(3)}
    assert len(ids) == 3


def test_exception_is_500_json_with_traceback(multi: Launcher) -> None:
    status, headers, data = multi.post("/", b"raise", headers={"X-Ignite-Execution-Id": "exc-1"})
    assert status == 500
    assert headers["content-type"] == "application/json"
    err = json.loads(data)
    assert set(err) == {"error", "type", "traceback"}
    assert err["error"] == "boom"
    assert err["type"] == "ValueError"
    assert "handler.py" in err["traceback"]
    assert "ValueError: boom" in err["traceback"]
    assert "__ignite__" not in err["traceback"]  # launcher frames are trimmed
    text = multi.wait_stderr(r"ValueError: boom")
    assert "exc-1" in text


@pytest.mark.parametrize(("op", "etype"), [("exit", "SystemExit"), ("kbi", "KeyboardInterrupt")])
def test_systemexit_and_keyboardinterrupt_are_500_and_server_lives(multi: Launcher, op: str, etype: str) -> None:
    status, _, data = multi.post("/", op.encode())
    assert status == 500
    assert json.loads(data)["type"] == etype
    assert multi.proc.poll() is None
    assert multi.get("/_/health")[0] == 200
    assert multi.post("/", b"int")[2] == b"42"


def test_unencodable_value_names_the_json_path(multi: Launcher) -> None:
    status, _, data = multi.post("/", b"badjson")
    assert status == 500
    err = json.loads(data)
    assert err["type"] == "EncodeError"
    assert "$.rows[3].ts: datetime" in err["error"]
    status, _, data = multi.post("/", b"badkey")
    assert status == 500
    assert "$.ok: key of type tuple" in json.loads(data)["error"]


def test_probes_and_methods(multi: Launcher) -> None:
    status, _, data = multi.get("/_/health")
    assert status == 200
    assert json.loads(data)["status"] == "ok"
    status, _, data = multi.get("/_/ready")
    assert status == 200
    assert json.loads(data)["status"] == "ready"
    status, headers, _ = multi.get("/")
    assert status == 405
    assert headers["allow"] == "POST"
    status, headers, _ = multi.request("PUT", "/x", b"1")
    assert status == 405
    status, headers, _ = multi.request("POST", "/_/health", b"")
    assert status == 405
    assert "GET" in headers["allow"]
    assert multi.get("/_/nope")[0] == 404
    status, headers, data = multi.request("HEAD", "/_/health")
    assert status == 200
    assert data == b""


def test_user_print_goes_to_stdout_unbuffered(multi: Launcher) -> None:
    assert multi.post("/", b"print")[2] == b"printed"
    deadline = time.monotonic() + 10
    while "partial-without-newline" not in multi.stdout_text():
        assert time.monotonic() < deadline, multi.stdout_text()
        time.sleep(0.02)
    out = multi.stdout_text()
    assert "user-line-from-handler\n" in out
    assert "[ignite]" not in out  # the launcher's own lines go to stderr


def test_request_log_line_on_stderr(multi: Launcher) -> None:
    _, headers, _ = multi.post("/logged", b"int")
    eid = headers["x-ignite-execution-id"]
    text = multi.wait_stderr(re.escape(eid))
    line = next(ln for ln in text.splitlines() if eid in ln)
    assert re.search(r"POST /logged 200 \d+\.\d+ms " + re.escape(eid), line), line
    assert re.search(r"ready: imported handler:handler .* in \d+\.\d ms", text)


# --- entry selection ------------------------------------------------------------------


ALT = {
    "app/__init__.py": "",
    "app/main.py": "def run(payload, ctx):\n    return 'app.main:run'\n\ndef other(payload, ctx):\n    return 'app.main:other'\n",
    "second.py": "def go(payload, ctx):\n    return 'second:go'\n",
}


def test_entry_from_manifest(python312: str, tmp_path: Path) -> None:
    root = make_root(tmp_path, None, manifest={"entry": {"module": "app.main", "function": "run"}}, files=ALT)
    with running_launcher(python312, root) as srv:
        assert srv.post("/", b"")[2] == b"app.main:run"


def test_entry_env_overrides_manifest(python312: str, tmp_path: Path) -> None:
    root = make_root(tmp_path, None, manifest={"entry": {"module": "app.main", "function": "run"}}, files=ALT)
    with running_launcher(python312, root, env={"IGNITE_ENTRY_FN": "other"}) as srv:
        assert srv.post("/", b"")[2] == b"app.main:other"
    root2 = make_root(tmp_path, None, manifest={"entry": {"module": "app.main", "function": "run"}}, files=ALT, name="b")
    with running_launcher(python312, root2, env={"IGNITE_ENTRY_MODULE": "second", "IGNITE_ENTRY_FN": "go"}) as srv:
        assert srv.post("/", b"")[2] == b"second:go"


def test_defaults_without_manifest(python312: str, tmp_path: Path) -> None:
    root = make_root(tmp_path, "def handler(payload, ctx):\n    return 'default entry'\n")
    assert not (root / "manifest.json").exists()
    with running_launcher(python312, root) as srv:
        assert srv.post("/", b"")[2] == b"default entry"


def test_launcher_started_from_another_cwd_finds_its_root(python312: str, tmp_path: Path) -> None:
    import subprocess

    root = make_root(tmp_path, "def handler(payload, ctx):\n    return 'found root'\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "handler.py").write_text("def handler(payload, ctx):\n    return 'WRONG cwd module'\n")
    code = "import runpy, sys; sys.argv=['x']; runpy.run_module('__ignite__', run_name='__main__', alter_sys=True)"
    from tests.launcher_harness import launcher_env

    env = launcher_env({"PYTHONPATH": str(root)})
    proc = subprocess.Popen(
        [python312, "-c", code], cwd=str(elsewhere), env=env, stderr=subprocess.PIPE, start_new_session=True
    )
    try:
        assert proc.stderr is not None
        port = 0
        deadline = time.monotonic() + 20
        while not port:
            line = proc.stderr.readline().decode()
            m = re.search(r"listening on http://\S+?:(\d+)", line)
            if m:
                port = int(m.group(1))
            assert time.monotonic() < deadline and (line or proc.poll() is None), line
        import http.client

        for _ in range(500):
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            c.request("GET", "/_/ready")
            if c.getresponse().status == 200:
                break
            time.sleep(0.02)
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        c.request("POST", "/", body=b"")
        assert c.getresponse().read() == b"found root"
    finally:
        proc.kill()
        proc.wait(10)


# --- ready only after import; import errors are served -------------------------------------


def test_ready_only_after_import(python312: str, tmp_path: Path) -> None:
    src = """
    import os, time
    while not os.path.exists(os.path.join(os.path.dirname(__file__), "release")):
        time.sleep(0.01)
    def handler(payload, ctx):
        return "imported"
    """
    root = make_root(tmp_path, src)
    with running_launcher(python312, root, wait_ready=False) as srv:
        status, _, data = srv.get("/_/ready")
        assert status == 503
        assert json.loads(data)["status"] == "starting"
        assert srv.get("/_/health")[0] == 200
        (root / "release").write_text("")
        deadline = time.monotonic() + 15
        while srv.get("/_/ready")[0] != 200:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        assert srv.post("/", b"")[2] == b"imported"


@pytest.mark.parametrize(
    ("files", "env", "etype", "needle"),
    [
        ({"handler.py": "def handler(payload, ctx)\n    return 1\n"}, {}, "SyntaxError", "handler.py"),
        ({"handler.py": "import no_such_module_xyz\n"}, {}, "ModuleNotFoundError", "no_such_module_xyz"),
        ({"handler.py": "raise RuntimeError('config missing')\n"}, {}, "RuntimeError", "config missing"),
        ({"handler.py": "import sys\nsys.exit(2)\n"}, {}, "SystemExit", "handler.py"),
        ({"handler.py": "def other(p, c):\n    return 1\n"}, {}, "AttributeError", "'handler'"),
        ({"handler.py": "handler = 3\n"}, {}, "TypeError", "not a function"),
        ({}, {}, "ModuleNotFoundError", "handler"),
        ({"handler.py": "def handler(p, c):\n    return 1\n", "manifest.json": "{nope"}, {}, "EntryError", "manifest.json"),
        (
            {"handler.py": "def handler(p, c):\n    return 1\n", "manifest.json": '{"convention": "nosuch"}'},
            {},
            "ValueError",
            "nosuch",
        ),
    ],
)
def test_import_failure_is_served_not_crashed(
    python312: str, tmp_path: Path, files: dict[str, str], env: dict[str, str], etype: str, needle: str
) -> None:
    root = make_root(tmp_path, None, files=files)
    with running_launcher(python312, root, env=env) as srv:
        assert srv.get("/_/health")[0] == 200
        status, _, data = srv.get("/_/ready")
        assert status == 503
        ready = json.loads(data)
        assert ready["status"] == "failed"
        assert ready["type"] == etype
        for _ in range(2):
            status, headers, data = srv.post("/", b"{}")
            assert status == 500
            assert headers["content-type"] == "application/json"
            err: Any = json.loads(data)
            assert err["type"] == etype
            assert needle in err["error"] + err["traceback"]
        assert srv.proc.poll() is None
        text = srv.stderr_text()
        assert text.count("cannot load entry") == 1
        assert etype in text


# --- shadowing -------------------------------------------------------------------------------

SHADOWS = {
    name: f"raise RuntimeError('user module {name} shadowed the launcher')\n"
    for name in (
        "json.py",
        "socket.py",
        "selectors.py",
        "select.py",
        "signal.py",
        "traceback.py",
        "threading.py",
        "queue.py",
        "uuid.py",
        "logging.py",
        "http/__init__.py",
        "config.py",
        "protocol.py",
        "main.py",
        "log.py",
        "entry.py",
        "pool.py",
    )
}


@pytest.mark.parametrize("is_async", [False, True])
def test_user_modules_cannot_shadow_the_launcher(python312: str, tmp_path: Path, is_async: bool) -> None:
    files = dict(SHADOWS)
    files["launcher.py"] = "VALUE = 'user launcher.py'\n"
    files["server.py"] = "VALUE = 'user server.py'\n"
    src = (
        "import launcher, server\n"
        + ("async " if is_async else "")
        + "def handler(payload, ctx):\n"
        "    if payload == b'raise':\n"
        "        raise KeyError('k')\n"
        "    return {'launcher': launcher.VALUE, 'server': server.VALUE}\n"
    )
    root = make_root(tmp_path, src, files=files)
    with running_launcher(python312, root) as srv:
        status, _, data = srv.post("/", b"")
        assert status == 200, data
        assert json.loads(data) == {"launcher": "user launcher.py", "server": "user server.py"}
        status, _, data = srv.post("/", b"raise")
        assert status == 500
        assert json.loads(data)["type"] == "KeyError"
        assert "shadowed" not in srv.stderr_text()
