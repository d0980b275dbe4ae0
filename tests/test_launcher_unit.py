"""In-process tests of the launcher's pure pieces, plus static checks of the package."""

from __future__ import annotations

import ast
import datetime
import functools
import json
import os
import re
import sys
from pathlib import Path
from typing import Any

import pytest

from launcher import config, protocol
from launcher.conventions import ignite, load
from launcher.server import new_execution_id

LAUNCHER = Path(__file__).resolve().parent.parent / "launcher"
SOURCES = sorted(p for p in LAUNCHER.rglob("*.py") if "__pycache__" not in p.parts)


@pytest.mark.parametrize(
    ("value", "where"),
    [
        ({"rows": [{}, {}, {}, {"ts": datetime.datetime(2024, 1, 1)}]}, "$.rows[3].ts: datetime"),
        ([1, 2, {1, 2}], "$[2]: set"),
        ({"a b": {"c": object()}}, '$["a b"].c: object'),
        ({"k": {(1, 2): 3}}, "$.k: key of type tuple"),
        (b"raw", "$: bytes"),
        ({"t": (1, [b"x"])}, "$.t[1][0]: bytes"),
    ],
)
def test_find_unencodable_names_the_path(value: object, where: str) -> None:
    assert protocol.find_unencodable(value) == where
    with pytest.raises(protocol.EncodeError, match=re.escape(where)):
        protocol.dumps(value)


def test_find_unencodable_circular_and_ok() -> None:
    loop: dict[str, object] = {}
    loop["self"] = loop
    assert protocol.find_unencodable(loop) == "$.self: circular reference"
    assert protocol.find_unencodable({"a": [1, 2.5, None, True, "s"], "b": {"c": 1}}) is None
    deep: list[object] = []
    cur = deep
    for _ in range(5000):  # deeper than the recursion limit: still answers
        nxt: list[object] = []
        cur.append(nxt)
        cur = nxt
    cur.append(object())
    found = protocol.find_unencodable(deep)
    assert found is not None
    assert found.endswith(": object")


def test_dumps_matches_json_dumps() -> None:
    value = {"x": [1, "é", None]}
    assert protocol.dumps(value) == json.dumps(value).encode()


class _Small(int):
    pass


class _SlowItems(dict):  # type: ignore[type-arg]
    """A dict whose items() lets other threads run in the middle of encoding it."""

    def items(self):  # type: ignore[no-untyped-def]
        import time

        time.sleep(0.002)
        return super().items()


@pytest.mark.parametrize(
    "value",
    [
        "é\u2028\ud800\x00\"\\",
        2**70,
        -0.0,
        1e300,
        float("nan"),
        float("-inf"),
        _Small(3),
        True,
        None,
        [],
        (1, [2, {"k": None}]),
        {1: 2, 1.5: 3, False: 4, None: 5, "s": "t"},
        _SlowItems(a=1),
    ],
)
def test_json_text_is_json_dumps(value: object) -> None:
    # The prebuilt C encoder must give json.dumps's exact text (separators, floats, keys, ASCII).
    assert protocol.json_text(value) == json.dumps(value)
    assert protocol.dumps(value) == json.dumps(value).encode()


def test_dumps_names_a_cycle_and_one_value_encodes_on_many_threads() -> None:
    import threading

    loop: list[object] = []
    loop.append(loop)
    with pytest.raises(protocol.EncodeError, match=r"\$\.x\[0\]: circular reference"):
        protocol.dumps({"x": loop})
    # The same object encoded by several threads at once (each pausing inside it) is not
    # a cycle: the encoder keeps no shared set of objects in progress.
    shared = _SlowItems(inner=_SlowItems(n=1))
    errors: list[BaseException] = []

    def encode() -> None:
        try:
            for _ in range(5):
                assert protocol.dumps(shared) == b'{"inner": {"n": 1}}'
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=encode) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == []


@pytest.mark.parametrize("target", ["3.12", "3.13"])
def test_a_cycle_fails_at_once_even_on_a_small_thread_stack(target: str, request: pytest.FixtureRequest) -> None:
    # json.dumps's circular-reference set stops a cycle at its first repeat; an encoder
    # without one recurses to the recursion limit, which on a 256 KiB thread stack (musl's
    # default) crashed the target interpreters.
    import subprocess

    python = request.getfixturevalue("python312" if target == "3.12" else "python313")

    code = (
        "import sys, threading\n"
        f"sys.path.insert(0, {str(Path(protocol.__file__).resolve().parents[1])!r})\n"
        "from launcher import protocol\n"
        "threading.stack_size(256 * 1024)\n"
        "a = {'items': list(range(10000))}; a['self'] = a\n"
        "out = []\n"
        "def run():\n"
        "    try:\n"
        "        protocol.dumps(a)\n"
        "    except protocol.EncodeError as exc:\n"
        "        out.append(str(exc))\n"
        "t = threading.Thread(target=run); t.start(); t.join()\n"
        "print(out[0])\n"
    )
    proc = subprocess.run([python, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "return value is not JSON serializable: $.self: circular reference"


def test_json_text_honours_a_patched_encoder_default(monkeypatch: pytest.MonkeyPatch) -> None:
    class Money:
        def __json__(self) -> dict[str, int]:
            return {"eur": 5}

    plain_default = json.JSONEncoder.default

    def default(self: json.JSONEncoder, o: object) -> object:  # as json-fix patches it
        if hasattr(o, "__json__"):
            return o.__json__()
        return plain_default(self, o)

    with pytest.raises(protocol.EncodeError):
        protocol.dumps({"m": Money()})
    monkeypatch.setattr(json.JSONEncoder, "default", default)
    assert protocol.dumps({"m": Money()}) == b'{"m": {"eur": 5}}'
    monkeypatch.setattr(json, "dumps", lambda obj: "replaced")  # a replaced json.dumps is used
    assert protocol.json_text([1]) == "replaced"


def test_ignite_encoding_by_type() -> None:
    assert ignite.encode(b"a").headers == [protocol.CT_BYTES]
    r = ignite.encode("é")
    assert (r.headers, r.body) == ([protocol.CT_TEXT], "é".encode())
    r = ignite.encode({"a": 1})
    assert (r.status, r.headers, r.body) == (200, [protocol.CT_JSON], b'{"a": 1}')
    assert ignite.encode(None).body == b"null"


def test_ignite_invoker_ctx_and_errors() -> None:
    seen: list[dict[str, str]] = []

    def fn(payload: bytes, ctx: dict[str, str]) -> bytes:
        seen.append(ctx)
        if payload == b"exit":
            sys.exit(1)
        return payload

    invoke = ignite.make_invoker(fn)
    req = protocol.Request("POST", "/", "", [], b"hi", "e1", "o/f", "o")
    resp = invoke(req)
    assert isinstance(resp, protocol.Response)
    assert resp.body == b"hi"
    assert seen == [{"execution_id": "e1", "function_id": "o/f", "organization_id": "o"}]
    req.body = b"exit"
    sink: list[str] = []
    old = protocol.error_sink
    protocol.error_sink = sink.append
    try:
        resp = invoke(req)
    finally:
        protocol.error_sink = old
    assert isinstance(resp, protocol.Response)
    assert resp.status == 500
    assert json.loads(resp.body)["type"] == "SystemExit"
    assert "e1" in sink[0]


def test_is_coroutine_function() -> None:
    async def a(p: bytes, c: dict[str, str]) -> None:
        return None

    def s(p: bytes, c: dict[str, str]) -> None:
        return None

    class C:
        async def __call__(self, p: bytes, c: dict[str, str]) -> None:
            return None

        async def m(self) -> None:
            return None

    assert protocol.is_coroutine_function(a)
    assert protocol.is_coroutine_function(functools.partial(a, b""))
    assert protocol.is_coroutine_function(C())
    assert protocol.is_coroutine_function(C().m)
    assert not protocol.is_coroutine_function(s)
    assert not protocol.is_coroutine_function(functools.partial(s, b""))
    assert not protocol.is_coroutine_function(len)


def test_execution_ids_are_uuid4() -> None:
    # 1000 ids cross several refills of the pooled random digits (128 ids per refill).
    ids = {new_execution_id() for _ in range(1000)}
    assert len(ids) == 1000
    for i in ids:
        assert re.match(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$", i)


def test_config_defaults_and_bad_values() -> None:
    s = config.load({})
    assert (s.port, s.host, s.queue, s.max_body_bytes, s.timeout_s, s.drain_s) == (
        8080,
        "0.0.0.0",
        1024,
        10 * 1024 * 1024,
        300.0,
        25.0,
    )
    assert s.concurrency == 0  # resolved to 8 (sync) / 64 (async) once the handler is known
    assert s.warnings == []
    s = config.load({"PORT": "abc", "IGNITE_CONCURRENCY": "0", "IGNITE_TIMEOUT_S": "-1", "IGNITE_QUEUE": "5"})
    assert s.port == 8080
    assert s.concurrency == 0
    assert s.timeout_s == 300.0
    assert s.queue == 5
    assert len(s.warnings) == 3
    assert config.load({"IGNITE_LOG_LEVEL": "WARNING"}).log_level == 30


def test_config_body_budget_and_stuck_health() -> None:
    s = config.load({})
    assert (s.body_budget_bytes, s.stuck_health_s) == (64 * 1024 * 1024, 60.0)
    # one body of the largest allowed size always fits the budget
    s = config.load({"IGNITE_MAX_BODY_BYTES": str(100 * 1024 * 1024)})
    assert s.body_budget_bytes == 100 * 1024 * 1024 and s.warnings == []
    s = config.load({"IGNITE_BODY_BUDGET_BYTES": "1000", "IGNITE_STUCK_HEALTH_S": "5"})
    assert s.body_budget_bytes == s.max_body_bytes and s.stuck_health_s == 5.0
    assert s.warnings == [f"IGNITE_BODY_BUDGET_BYTES=1000 is below IGNITE_MAX_BODY_BYTES; using {s.max_body_bytes}"]


def test_unknown_convention_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="unknown handler convention 'nope'"):
        load("nope")
    with pytest.raises(ValueError, match="unknown"):
        load("../x")
    assert load("ignite") is ignite


# --- static checks: what the packager relies on ------------------------------------------


def test_version_is_a_plain_literal() -> None:
    tree = ast.parse((LAUNCHER / "__init__.py").read_text())
    values = [
        n.value.value
        for n in tree.body
        if isinstance(n, ast.Assign)
        and any(isinstance(t, ast.Name) and t.id == "__version__" for t in n.targets)
        and isinstance(n.value, ast.Constant)
    ]
    assert len(values) == 1
    assert re.match(r"^\d+\.\d+\.\d+", values[0])
    assert not [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]


@pytest.mark.skipif(sys.version_info < (3, 10), reason="sys.stdlib_module_names needs a 3.10+ host")
@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(LAUNCHER)))
def test_stdlib_only_relative_imports_and_py39_syntax(path: Path) -> None:
    source = path.read_text(encoding="utf-8")
    tree = ast.parse(source, feature_version=(3, 9))
    stdlib = set(sys.stdlib_module_names) | {"__future__"}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                assert alias.name.split(".")[0] in stdlib, f"{path.name}: import {alias.name}"
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            assert node.module is not None
            top = node.module.split(".")[0]
            assert top in stdlib, f"{path.name}: from {node.module} import ..."
            assert top not in ("launcher", "packager")
        elif isinstance(node, ast.Match):  # pragma: no cover - py3.10+ only syntax
            pytest.fail(f"{path.name}: match statement")
    if path.name not in ("__init__.py",):
        assert "from __future__ import annotations" in source or path.name == "__main__.py"


def test_access_lines_are_batched_in_whole_lines_within_pipe_buf() -> None:
    from launcher.log import Log
    from launcher.server import App, Server

    writes: list[str] = []

    class Recording(Log):
        __slots__ = ()

        def write_raw(self, text: str) -> None:  # type: ignore[override]
            writes.append(text)

    server = Server(config.load({}), App(), Recording())
    try:
        lines = [f"[ignite] INFO POST / 200 0.10ms id-{i:04d}\n" for i in range(300)]
        server.access_lines.extend(lines)
        server.flush_access()
        assert not server.access_lines
        assert "".join(writes) == "".join(lines)  # every line, in order
        assert 1 < len(writes) < len(lines)  # batched, but no write above PIPE_BUF
        assert all(len(w) <= 4096 and w.endswith("\n") for w in writes)
    finally:
        server.poller.close()
        os.close(server.wake_r)
        os.close(server.wake_w)


@pytest.mark.skipif(not hasattr(os, "SCHED_BATCH"), reason="SCHED_BATCH is Linux-only")
def test_pool_workers_run_sched_batch() -> None:
    import threading

    from launcher.pool import Job, ThreadPool

    done = threading.Event()
    seen: list[int] = []

    def invoke(req: protocol.Request) -> protocol.Response:
        return protocol.Response(200, [], str(os.sched_getscheduler(0)).encode())

    def finish(job: Job, resp: protocol.Response) -> None:
        seen.append(int(resp.body))
        done.set()

    pool = ThreadPool(invoke, finish, 1)
    req = protocol.Request("POST", "/", "", [], b"", "id", "f", "o")
    pool.submit(Job(None, req, True, 0.0, float("inf")))
    assert done.wait(5)
    assert seen == [os.SCHED_BATCH]
    assert os.sched_getscheduler(0) != os.SCHED_BATCH  # only the workers, not the caller
    pool.q.put(None)


@pytest.mark.parametrize("convention", ["digitalhub", "yandex", "lambda", "openfaas-http", "ignite", "nuclio"])
def test_an_adapter_installs_only_its_own_sdk_stand_in(convention: str) -> None:
    # Issue 29: yandex, lambda and openfaas-http imported nuclio's adapter for its helpers (and
    # digitalhub for its types), which installed the nuclio_sdk stand-in for their handlers too.
    import subprocess

    code = (
        "import sys\n"
        f"sys.path.insert(0, {str(LAUNCHER.parent)!r})\n"
        "from launcher.conventions import load\n"
        f"adapter = load({convention!r})\n"
        "print(sorted(getattr(f, 'name', '') for f in sys.meta_path if type(f).__name__ == 'SdkStandIn'))\n"
        "print(sorted(m for m in sys.modules if m.startswith('launcher.conventions.') and '._' not in m))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    stand_ins, adapters = proc.stdout.splitlines()
    own = {"nuclio": ["nuclio_sdk"], "digitalhub": ["digitalhub_runtime_python"]}.get(convention, [])
    assert stand_ins == repr(own)
    assert adapters == repr([f"launcher.conventions.{load(convention).__name__.rsplit('.', 1)[1]}"])


def test_the_one_invoker_applies_the_policy_to_sync_handlers() -> None:
    import contextvars

    var: contextvars.ContextVar[str] = contextvars.ContextVar("scratch_execution", default="")
    seen: list[str] = []

    def handler(what: str) -> str:
        seen.append(var.get())
        if what == "exit":
            raise SystemExit(3)
        if what == "refuse":
            raise protocol.BadRequest("no such key 'a'")
        return what

    def call(req: protocol.Request) -> str:
        return handler(req.path.strip("/"))

    def encode(result: str) -> protocol.Response:
        if result == "bad-encode":
            raise TypeError("cannot encode")
        return protocol.Response(200, [protocol.CT_TEXT], result.encode())

    invoke: Any = protocol.make_invoke(handler, call, encode, var)
    assert not protocol.is_coroutine_function(invoke)
    ok = invoke(protocol.Request("POST", "/fine", "", [], b"", "e-7", "fn", "org"))
    assert (ok.status, ok.body) == (200, b"fine")
    assert seen == ["e-7"] and var.get() == ""  # set for the call, reset after
    refused = invoke(protocol.Request("POST", "/refuse", "", [], b"", "e-8", "fn", "org"))
    assert refused.status == 400
    assert json.loads(refused.body) == {"error": "no such key 'a'", "type": "BadRequest"}
    for path, kind in (("/exit", "SystemExit"), ("/bad-encode", "TypeError")):
        res = invoke(protocol.Request("POST", path, "", [], b"", "e-9", "fn", "org"))
        assert res.status == 500 and json.loads(res.body)["type"] == kind


def test_the_one_invoker_awaits_async_handlers_and_lets_cancellation_through() -> None:
    import asyncio

    async def handler(what: str) -> str:
        if what == "cancel":
            raise asyncio.CancelledError
        if what == "interrupt":
            raise KeyboardInterrupt
        return what

    invoke = protocol.make_invoke(handler, lambda req: handler(req.path.strip("/")),
                                  lambda r: protocol.Response(200, [], r.encode()))
    assert protocol.is_coroutine_function(invoke)

    def run(path: str) -> Any:
        return asyncio.run(invoke(protocol.Request("POST", path, "", [], b"", "e", "f", "o")))  # type: ignore[arg-type]

    assert run("/x").body == b"x"
    res = run("/interrupt")
    assert res.status == 500 and json.loads(res.body)["type"] == "KeyboardInterrupt"
    with pytest.raises(asyncio.CancelledError):
        run("/cancel")


def test_adapters_are_only_their_platform_mapping() -> None:
    """Issue 29: sync/async and the exception-to-500 policy are written once, in
    protocol.make_invoke; an adapter that calls the handler itself would bypass it."""
    offenders = []
    for path in sorted((LAUNCHER / "conventions").glob("*.py")):
        if path.stem.startswith("_"):
            continue
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            name = node.id if isinstance(node, ast.Name) else node.attr if isinstance(node, ast.Attribute) else None
            line = getattr(node, "lineno", 0)
            if name in ("error_response", "is_coroutine_function"):
                offenders.append(f"{path.name}:{line} uses {name}")
            if isinstance(node, ast.AsyncFunctionDef) or (
                isinstance(node, ast.ExceptHandler) and isinstance(node.type, ast.Name)
                and node.type.id == "BaseException"
            ):
                offenders.append(f"{path.name}:{line} calls the handler itself")
        if "make_invoke" not in {a.name for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) for a in n.names}:
            offenders.append(f"{path.name}: does not use protocol.make_invoke")
    assert offenders == []


def test_at_the_cap_with_every_connection_busy_make_room_scans_once_per_tick() -> None:
    """Each close resumes the listener, accepts one and reaches make_room again: with every
    connection in a request, scanning all of them each time made a flood O(n) per request.
    After a scan that found nothing, the next waits for the sweep tick (rescan=True)."""
    from types import SimpleNamespace

    from launcher import admission

    class Conns(dict):  # type: ignore[type-arg]
        scans = 0

        def values(self):  # type: ignore[no-untyped-def]
            Conns.scans += 1
            return super().values()

    settings = config.load({"IGNITE_MAX_CONNECTIONS": "8"})
    busy = SimpleNamespace(t_idle=0.0, closed=False)
    srv = SimpleNamespace(
        conns=Conns({fd: busy for fd in range(8)}), s=settings, adm=admission.Limits(settings), now=100.0,
        listening=False, lsock=None, draining=False, log=SimpleNamespace(warning=lambda text: None),
        _idle=lambda c: False, _head_arriving=lambda c: False,
    )
    assert admission.make_room(srv) is False
    first = Conns.scans
    assert first > 0
    for _ in range(1000):  # a close, an accept, make_room again: within the tick, no scan
        srv.now += 0.0001
        assert admission.make_room(srv) is False
    assert Conns.scans == first
    srv.now += admission.TICK_S  # the next tick scans again, as does the sweep's own call
    assert admission.make_room(srv) is False
    assert Conns.scans > first
    scans = Conns.scans
    assert admission.make_room(srv, rescan=True) is False
    assert Conns.scans > scans


def test_at_the_cap_a_connection_whose_request_waits_unread_is_not_idle() -> None:
    """A connection accepted in an earlier loop turn whose request head is in the kernel but not
    read yet looks idle (no buffer). Evicting it ahead of a connection whose head is half read
    lost the request the client had sent (CI: a slowloris connection outlived three probes)."""
    import socket as _sock
    import threading
    from types import SimpleNamespace

    from launcher import admission

    pairs = [_sock.socketpair() for _ in range(5)]
    try:
        for ours, _ in pairs:
            ours.setblocking(False)
        unread_a, unread_b, half_head, silent, new = (
            SimpleNamespace(sock=ours, t_idle=t, t_head=t, closed=False, lock=threading.Lock(), buf=b"")
            for (ours, _), t in zip(pairs, (1.0, 2.0, 3.0, 4.0, 100.0))
        )
        half_head.buf = b"POST / HTTP/1.1\r\n"
        for _, theirs in pairs[:2]:
            theirs.sendall(b"GET / HTTP/1.1\r\n")  # sent, not read by the server yet
        settings = config.load({"IGNITE_MAX_CONNECTIONS": "4"})
        conns = {1: unread_a, 2: unread_b, 3: half_head, 4: silent}
        closed: list[Any] = []

        class Server:  # methods, as the server's: each attribute access is a new bound method
            s, adm, now, listening, lsock, draining = settings, admission.Limits(settings), 100.0, True, None, False
            log = SimpleNamespace(warning=lambda text: None)

            def __init__(self) -> None:
                self.conns = conns

            def _idle(self, c: Any) -> bool:
                return not c.buf and not c.closed

            def _head_arriving(self, c: Any) -> bool:
                return bool(c.buf) and not c.closed

            def _close(self, conn: Any) -> None:
                conn.closed = True
                closed.append(conn)
                conns.pop(next(fd for fd, c in conns.items() if c is conn))

        srv = Server()
        assert admission.make_room(srv) is True
        assert closed == [silent]  # really idle: the first to go
        conns[5] = new  # accepted in this loop turn: not a candidate
        assert admission.make_room(srv) is True
        assert closed == [silent, half_head]  # the two with a request waiting stay
        assert pairs[0][0].recv(64) == b"GET / HTTP/1.1\r\n"  # what was peeked is still there to read
    finally:
        for a, b in pairs:
            a.close()
            b.close()
