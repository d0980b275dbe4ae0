"""Handler conventions (issue 8): build with --convention, run under CPython 3.12.

Each convention is built from its fixture (handlers copied from the platform's
document) and exercised through ``ignite-pack invoke`` and over HTTP against a
running launcher; extra handlers written in tmp dirs cover the request and
return mappings the document examples do not reach.
"""

from __future__ import annotations

import base64
import http.server
import json
import shutil
import signal
import subprocess
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Optional

import pytest

from launcher.conventions import load
from packager.artifact.tarball import read_manifest, unpack
from packager.errors import HandlerError
from packager.source import conventions
from packager.source.checks import check_source
from packager.source.intake import read_source
from tests.conftest import FIXTURES, run_cli
from tests.launcher_harness import Launcher, running_launcher

CONV = FIXTURES / "conventions"


# ------------------------------------------------------------------ helpers


def build(src: Path, out: Path, convention: str, *extra: str) -> tuple[Path, str]:
    """``python -m packager build SRC --convention C``; returns the artifact and stderr (warnings)."""
    r = run_cli("build", str(src), "-o", str(out), "--convention", convention, "--no-config", *extra)
    assert r.returncode == 0, r.stderr
    return out, r.stderr


def write_tree(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(textwrap.dedent(text), encoding="utf-8")
    return root


def unpacked_root(artifact: Path, dest: Path) -> Path:
    dest.mkdir(parents=True)
    unpack(artifact, dest)
    return dest


def invoke_json(artifact: Path, python: str, *args: str) -> dict[str, Any]:
    r = run_cli("invoke", str(artifact), "--python", python, "--runtime", "bare", "--json", *args)
    assert r.stdout, r.stderr
    out: dict[str, Any] = json.loads(r.stdout)
    return out


def post(srv: Launcher, path: str = "/", body: bytes = b"", headers: Optional[dict[str, str]] = None,
         timeout: float = 10.0) -> tuple[int, dict[str, str], bytes]:
    return srv.post(path, body, headers, timeout)


# ------------------------------------------------------------------ registry and checks (no 3.12 needed)


def test_every_registered_convention_has_a_launcher_adapter() -> None:
    assert conventions.names()[0] == "ignite"
    assert set(conventions.names()) == {"ignite", "nuclio", "yandex", "openfaas", "digitalhub", "lambda",
                                        "openfaas-http", "openfaas-flask"}
    for name in conventions.names():
        assert callable(load(name).make_invoker)


@pytest.mark.parametrize("name", conventions.names())
def test_an_artifact_carries_only_its_conventions_adapter_and_it_loads(name: str, tmp_path: Path,
                                                                      python312: str) -> None:
    from packager.artifact.embed import launcher_entries

    entries = launcher_entries("3.12", name)
    adapters = {e.path.rsplit("/", 1)[1].split(".")[0] for e in entries if "/conventions/" in e.path}
    module = {"lambda": "aws_lambda", "openfaas-http": "openfaas_http", "openfaas-flask": "openfaas_flask"}.get(name, name)
    assert module in adapters and "__init__" in adapters
    others = {"ignite", "nuclio", "yandex", "openfaas", "digitalhub", "aws_lambda", "openfaas_http",
              "openfaas_flask"} - {module}
    assert not adapters & others, f"{name} ships other adapters: {sorted(adapters & others)}"
    for e in entries:
        (tmp_path / e.path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / e.path).write_bytes(e.data)
    # What the shipped subset imports is all there: the adapter loads from the pruned tree alone.
    proc = subprocess.run([python312, "-I", "-c", f"import sys; sys.path.insert(0, {str(tmp_path)!r});"
                           f"from __ignite__.conventions import load; print(callable(load({name!r}).make_invoker))"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and proc.stdout.strip() == "True", proc.stderr


def test_unknown_convention_is_refused_by_the_cli(tmp_path: Path) -> None:
    r = run_cli("build", str(FIXTURES / "python-hello"), "-o", str(tmp_path / "a.tar.gz"),
                "--convention", "azure", "--no-config")
    assert r.returncode == 2
    assert "azure" in r.stderr and "nuclio" in r.stderr and "openfaas-http" in r.stderr
    assert not (tmp_path / "a.tar.gz").exists()


def test_unknown_convention_in_config_file_is_a_config_error(tmp_path: Path) -> None:
    src = write_tree(tmp_path / "src", {"handler.py": "def handler(p, c):\n    return p\n",
                                        "ignite.toml": 'convention = "azure"\n'})
    r = run_cli("build", str(src), "-o", str(tmp_path / "a.tar.gz"))
    assert r.returncode != 0
    assert "convention" in r.stderr and "azure" in r.stderr


@pytest.mark.parametrize(
    ("fixture", "convention", "entry"),
    [
        ("nuclio", "nuclio", "main:handler"),
        ("yandex", "yandex", "main:handler"),
        ("openfaas", "openfaas", "function.handler:handle"),
    ],
)
def test_default_entry_follows_the_convention(tmp_path: Path, fixture: str, convention: str, entry: str) -> None:
    out, _ = build(CONV / fixture, tmp_path / "a.tar.gz", convention)
    m = read_manifest(out)
    assert (f"{m.entry_module}:{m.entry_function}", m.convention) == (entry, convention)


def test_default_entry_falls_back_to_handler_py(tmp_path: Path) -> None:
    src = write_tree(tmp_path / "src", {"handler.py": "def handle(logger, request):\n    return request\n"})
    checked = check_source(read_source(src), convention="openfaas")
    assert str(checked.entry) == "handler:handle"


def test_missing_entry_hint_shows_the_conventions_signature(tmp_path: Path) -> None:
    src = write_tree(tmp_path / "src", {"README.md": "no code yet\n"})
    with pytest.raises(HandlerError) as e:
        check_source(read_source(src), convention="nuclio")
    assert "main.py" in e.value.message
    assert "def handler(context, event)" in (e.value.hint or "")


@pytest.mark.parametrize(
    ("signature", "suggested"),
    [("context, event", "nuclio"), ("event, context", "yandex")],
)
def test_ignite_build_suggests_the_matching_convention(tmp_path: Path, signature: str, suggested: str) -> None:
    src = write_tree(tmp_path / "src", {"handler.py": f"def handler({signature}):\n    return 1\n"})
    checked = check_source(read_source(src))
    assert any(f"--convention {suggested}" in w for w in checked.warnings), checked.warnings


def test_cli_build_prints_the_suggestion_and_still_builds(tmp_path: Path) -> None:
    src = write_tree(tmp_path / "src", {"handler.py": "def handler(event, context):\n    return 1\n"})
    out, stderr = build(src, tmp_path / "a.tar.gz", "ignite")
    assert out.is_file()
    assert "--convention yandex" in stderr


def test_no_suggestion_for_an_ignite_handler_or_the_right_convention(tmp_path: Path) -> None:
    src = write_tree(tmp_path / "src", {"handler.py": "def handler(payload, ctx):\n    return 1\n"})
    assert not any("--convention" in w for w in check_source(read_source(src)).warnings)
    src2 = write_tree(tmp_path / "src2", {"main.py": "def handler(context, event):\n    return 1\n"})
    assert not any("--convention" in w for w in check_source(read_source(src2), convention="nuclio").warnings)


def test_swapped_arguments_are_pointed_out(tmp_path: Path) -> None:
    src = write_tree(tmp_path / "src", {"main.py": "def handler(event, context):\n    return 1\n"})
    warnings = check_source(read_source(src), convention="nuclio").warnings
    assert any("--convention yandex" in w for w in warnings), warnings


def test_openfaas_handle_under_ignite_names_the_convention_in_the_error(tmp_path: Path) -> None:
    src = write_tree(tmp_path / "src", {"handler.py": "def handle(logger, request):\n    return request\n"})
    with pytest.raises(HandlerError) as e:
        check_source(read_source(src))
    assert "--convention openfaas" in (e.value.hint or "")


def test_openfaas_function_folder_under_ignite_names_the_convention(tmp_path: Path) -> None:
    with pytest.raises(HandlerError) as e:
        check_source(read_source(CONV / "openfaas"))
    assert "--convention openfaas" in (e.value.hint or "")


def test_openfaas_installs_the_function_folders_requirements(tmp_path: Path) -> None:
    src = write_tree(tmp_path / "src", {
        "requirements.txt": "some-sdk==0.0.32\n",
        "function/__init__.py": "",
        "function/handler.py": "def handle(logger, request):\n    return request\n",
        "function/requirements.txt": "# nothing\n",
    })
    from packager.options import BuildOptions

    decision = BuildOptions(source=src, output=tmp_path / "a.tar.gz", convention="openfaas").dependency_source(
        read_source(src))  # decided once, before the checks (packager.deps.inputs)
    assert decision.source is not None and decision.source.path == "function/requirements.txt"
    assert any("not installed" in w and "function/requirements.txt" in w for w in decision.warnings)


def test_openfaas_combined_root_requirements_are_used(tmp_path: Path) -> None:
    src = write_tree(tmp_path / "src", {
        "requirements.txt": "# combined\n",
        "function/handler.py": "def handle(logger, request):\n    return request\n",
    })
    from packager.options import BuildOptions

    decision = BuildOptions(source=src, output=tmp_path / "a.tar.gz", convention="openfaas").dependency_source(
        read_source(src))
    assert decision.source is not None and decision.source.path == "requirements.txt"


# ------------------------------------------------------------------ nuclio

NUCLIO_MAPPING = """\
    import json
    import threading

    def handler(context, event):
        path = event.path
        if path == "/echo":
            return {
                "method": event.method, "path": event.path, "url": event.url, "fields": event.fields,
                "content_type": event.content_type, "lower": event.headers.get("x-custom"),
                "canonical": event.headers["X-Custom"], "has": "x-custom" in event.headers,
                "body_type": type(event.body).__name__, "body": list(event.body), "size": event.size,
                "id": event.id, "trigger": event.trigger.kind,
            }
        if path == "/str":
            return "plain text"
        if path == "/bytes":
            return b"\\x00\\x01\\xff"
        if path == "/list":
            return [1, 2]
        if path == "/tuple":
            return 201, {"created": True}
        if path == "/tuple-str":
            return (202, "accepted")
        if path == "/response":
            return context.Response(body="<p>hi</p>", headers={"X-Extra": 1}, content_type="text/html",
                                    status_code=203)
        if path == "/response-dict":
            return context.Response(body={"a": 1}, status_code=200)
        if path == "/none":
            return None
        if path == "/raise":
            raise ValueError("bad input")
        if path == "/badstatus":
            return ("oops", "x")
        if path == "/state":
            context.user_data.count = getattr(context.user_data, "count", 0) + 1
            return str(context.user_data.count)
        if path == "/log":
            context.logger.debug("d")
            context.logger.warn("w %s", 1)
            context.logger.error_with("failed", code=7)
            return "logged"
        if path == "/term":
            done = threading.Event()

            def callback():
                print("termination-callback-ran", flush=True)
                done.set()

            context.platform.set_termination_callback(callback)
            context.user_data.term_done = done
            return "ok"
        if path == "/wait-term":
            print("waiting-for-termination", flush=True)
            return "callback-seen" if context.user_data.term_done.wait(20) else "no-callback"
        return repr((event.path, event.method, event.headers.get(b"x-custom"), event.body))
"""


@pytest.fixture(scope="module")
def nuclio_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("nuclio")
    src = write_tree(tmp / "src", {"main.py": NUCLIO_MAPPING})
    artifact, _ = build(src, tmp / "a.tar.gz", "nuclio")
    return unpacked_root(artifact, tmp / "root")


@pytest.fixture(scope="module")
def nuclio_srv(python312: str, nuclio_root: Path) -> Iterator[Launcher]:
    with running_launcher(python312, nuclio_root) as srv:
        yield srv


def test_nuclio_document_example_via_invoke(python312: str, tmp_path: Path) -> None:
    artifact, _ = build(CONV / "nuclio", tmp_path / "a.tar.gz", "nuclio")
    r = invoke_json(artifact, python312, "-p", "hi")
    assert r["status"] == 200 and r["body"] == "Hello, from Nuclio :]"
    assert r["headers"]["content-type"].startswith("text/plain")
    log = next(json.loads(line) for line in r["logs"].splitlines() if line.startswith("{"))
    assert (log["level"], log["message"], log["with"]) == ("info", "Invoked", {"method": "POST"})


def test_nuclio_async_document_example_over_http(python312: str, tmp_path: Path) -> None:
    artifact, _ = build(CONV / "nuclio-async", tmp_path / "a.tar.gz", "nuclio")
    root = unpacked_root(artifact, tmp_path / "root")
    with running_launcher(python312, root) as srv:
        status, _, body = post(srv, "/", b"record-1")
        assert (status, body) == (200, b"Hello, from Nuclio :]")
        text = srv.stdout_text()
    assert '"event_body": "record-1"' in text and "Updating db in background" in text


def test_nuclio_request_mapping(nuclio_srv: Launcher) -> None:
    status, headers, body = post(nuclio_srv, "/echo?a=1&b=x%20y&a=2", b"\x00\xffdata",
                                 {"X-Custom": "v1", "Content-Type": "application/x-thing"})
    assert status == 200 and headers["content-type"] == "application/json"
    got = json.loads(body)
    assert got["method"] == "POST" and got["path"] == "/echo"
    assert got["url"] == "/echo?a=1&b=x%20y&a=2"
    assert got["fields"] == {"a": "2", "b": "x y"}
    assert got["content_type"] == "application/x-thing"
    assert got["lower"] == got["canonical"] == "v1" and got["has"] is True
    assert got["body_type"] == "bytes" and got["body"] == list(b"\x00\xffdata") and got["size"] == 6
    assert got["id"] == headers["x-ignite-execution-id"]
    assert got["trigger"] == "http"


@pytest.mark.parametrize(
    ("path", "status", "ctype", "body"),
    [
        ("/str", 200, "text/plain; charset=utf-8", b"plain text"),
        ("/bytes", 200, "application/octet-stream", b"\x00\x01\xff"),
        ("/list", 200, "application/json", b"[1, 2]"),
        ("/tuple", 201, "application/json", b'{"created": true}'),
        ("/tuple-str", 202, "text/plain; charset=utf-8", b"accepted"),
        ("/response", 203, "text/html", b"<p>hi</p>"),
        ("/response-dict", 200, "application/json", b'{"a": 1}'),
        ("/none", 200, "text/plain; charset=utf-8", b""),
    ],
)
def test_nuclio_return_mapping(nuclio_srv: Launcher, path: str, status: int, ctype: str, body: bytes) -> None:
    s, h, b = post(nuclio_srv, path)
    assert (s, h["content-type"], b) == (status, ctype, body)
    if path == "/response":
        assert h["x-extra"] == "1"


@pytest.mark.parametrize(("path", "etype", "text"), [("/raise", "ValueError", "bad input"),
                                                     ("/badstatus", "ValueError", "invalid status code")])
def test_nuclio_errors_are_500_json(nuclio_srv: Launcher, path: str, etype: str, text: str) -> None:
    status, headers, body = post(nuclio_srv, path)
    assert status == 500 and headers["content-type"] == "application/json"
    err = json.loads(body)
    assert err["type"] == etype and text in err["error"] and "traceback" in err


def test_nuclio_context_persists_and_logger_writes_json_lines(nuclio_srv: Launcher) -> None:
    first = int(post(nuclio_srv, "/state")[2])
    assert int(post(nuclio_srv, "/state")[2]) == first + 1
    assert post(nuclio_srv, "/log")[2] == b"logged"
    lines = [json.loads(x) for x in nuclio_srv.stdout_text().splitlines() if x.startswith("{")]
    levels = {(x["level"], x["message"]) for x in lines}
    assert {("debug", "d"), ("warn", "w 1"), ("error", "failed")} <= levels
    assert any(x.get("with") == {"code": 7} for x in lines)


def test_nuclio_handlers_see_every_method(nuclio_srv: Launcher) -> None:
    for method in ("GET", "PUT", "DELETE"):
        status, _, body = nuclio_srv.request(method, "/echo?q=1", headers={"X-Custom": "v"})
        assert status == 200, body
        assert json.loads(body)["method"] == method
    status, headers, _ = nuclio_srv.request("TRACE", "/echo")
    assert status == 405 and "GET" in headers["allow"] and "POST" in headers["allow"]


def test_yandex_handlers_see_every_method(yandex_srv: Launcher) -> None:
    status, _, body = yandex_srv.request("GET", "/x?case=echo")
    assert status == 200, body
    ev = json.loads(body)["event"]
    assert ev["httpMethod"] == "GET" and ev["requestContext"]["httpMethod"] == "GET" and ev["body"] == ""


def test_openfaas_admits_only_post(openfaas_srv: Launcher) -> None:
    status, headers, _ = openfaas_srv.request("GET", "/")
    assert status == 405 and headers["allow"] == "POST"


def test_nuclio_metadata_as_bytes_when_decoding_disabled(python312: str, nuclio_root: Path) -> None:
    with running_launcher(python312, nuclio_root, env={"NUCLIO_PYTHON_DECODE_EVENT_STRINGS": "disabled"}) as srv:
        status, _, body = post(srv, "/other", b"b", {"X-Custom": "v"})
    assert status == 200
    assert body == repr((b"/other", b"POST", b"v", b"b")).encode()


def test_nuclio_termination_callback_runs_on_sigterm(python312: str, nuclio_root: Path, tmp_path: Path) -> None:
    root = tmp_path / "root"
    shutil.copytree(nuclio_root, root)
    with running_launcher(python312, root) as srv:
        assert post(srv, "/term")[2] == b"ok"
        assert "termination-callback-ran" not in srv.stdout_text()
        # A request in flight keeps the drain open until the callback has run (it waits for it);
        # with nothing in flight the launcher's os._exit can win the race (see docs/conventions.md).
        result: list[bytes] = []
        t = threading.Thread(target=lambda: result.append(post(srv, "/wait-term", timeout=30)[2]))
        t.start()
        deadline = time.monotonic() + 10
        while "waiting-for-termination" not in srv.stdout_text():
            assert time.monotonic() < deadline, srv.stderr_text()
            time.sleep(0.02)
        srv.send_signal(signal.SIGTERM)
        t.join(30)
        assert result == [b"callback-seen"]
        assert srv.wait() == 0
        assert "termination-callback-ran" in srv.stdout_text()


def test_nuclio_async_handler_is_awaited(python312: str, tmp_path: Path) -> None:
    src = write_tree(tmp_path / "src", {"main.py": """\
        import asyncio

        async def handler(context, event):
            await asyncio.sleep(0)
            if event.body == b"fail":
                raise RuntimeError("async failure")
            return 200, {"async": True, "body": event.body.decode()}
    """})
    artifact, _ = build(src, tmp_path / "a.tar.gz", "nuclio")
    root = unpacked_root(artifact, tmp_path / "root")
    with running_launcher(python312, root) as srv:
        assert "(nuclio, async)" in srv.wait_stderr(r"ready: imported")
        assert json.loads(post(srv, "/", b"x")[2]) == {"async": True, "body": "x"}
        status, _, body = post(srv, "/", b"fail")
    assert status == 500 and json.loads(body)["error"] == "async failure"


# ------------------------------------------------------------------ yandex

YANDEX_MAPPING = """\
    import base64
    import json

    def handler(event, context):
        if not (isinstance(event, dict) and "httpMethod" in event):
            return {"statusCode": 200, "body": json.dumps({"raw_event": event})}
        case = event["queryStringParameters"].get("case", "echo")
        if case == "echo":
            return {
                "statusCode": 200,
                "headers": {"Content-Type": "application/json"},
                "body": json.dumps({"event": event, "context": vars(context),
                                    "remaining": context.get_remaining_time_in_millis()}),
            }
        if case == "binary":
            return {"statusCode": 201, "headers": {"Content-Type": "image/png"},
                    "body": base64.b64encode(b"\\x89PNG\\x00").decode(), "isBase64Encoded": True}
        if case == "multi":
            return {"statusCode": 200, "multiValueHeaders": {"Set-Cookie": ["a=1", "b=2"]},
                    "headers": {"X-One": 1}, "body": "x"}
        if case == "plain":
            return {"ok": True}
        if case == "nobody":
            return {"statusCode": 204}
        if case == "badstatus":
            return {"statusCode": "abc"}
        raise KeyError("missing")
"""


@pytest.fixture(scope="module")
def yandex_srv(python312: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Launcher]:
    tmp = tmp_path_factory.mktemp("yandex")
    src = write_tree(tmp / "src", {"main.py": YANDEX_MAPPING})
    artifact, _ = build(src, tmp / "a.tar.gz", "yandex")
    root = unpacked_root(artifact, tmp / "root")
    with running_launcher(python312, root, env={"IGNITE_TIMEOUT_S": "30",
                                                "IGNITE_FUNCTION_ID": "org/fn"}) as srv:
        yield srv


def test_yandex_document_example_via_invoke(python312: str, tmp_path: Path) -> None:
    artifact, _ = build(CONV / "yandex", tmp_path / "a.tar.gz", "yandex")
    r = invoke_json(artifact, python312, "-p", '{"hello": "world"}', "--path", "/?param=one",
                    "-H", "Content-Type: application/json")
    assert r["status"] == 200
    event, context = r["body"]["event"], r["body"]["context"]
    assert event["httpMethod"] == "POST" and event["body"] == '{"hello": "world"}'
    assert event["isBase64Encoded"] is False
    assert event["queryStringParameters"] == {"param": "one"}
    assert event["multiValueQueryStringParameters"] == {"param": ["one"]}
    assert event["headers"]["Content-Type"] == "application/json"
    assert event["multiValueHeaders"]["Content-Length"] == ["18"]
    assert event["requestContext"]["requestId"] == context["request_id"] == context["aws_request_id"]
    assert context["request_id"] == r["headers"]["x-ignite-execution-id"]
    assert set(context) == {"aws_request_id", "deadline_ms", "function_name", "function_version",
                            "invoked_function_arn", "log_group_name", "log_stream_name",
                            "memory_limit_in_mb", "request_id", "token"}


def test_yandex_request_mapping(yandex_srv: Launcher) -> None:
    status, headers, body = post(yandex_srv, "/x?case=echo&k=1&k=2&e=%C3%A9", "héllo".encode(),
                                 {"X-Custom": "v", "User-Agent": "tester/1"})
    assert status == 200 and headers["content-type"] == "application/json"
    got = json.loads(body)
    ev, ctx = got["event"], got["context"]
    assert ev["body"] == "héllo" and ev["isBase64Encoded"] is False
    assert ev["queryStringParameters"] == {"case": "echo", "k": "2", "e": "é"}
    assert ev["multiValueQueryStringParameters"]["k"] == ["1", "2"]
    assert ev["headers"]["X-Custom"] == "v"
    assert ev["requestContext"]["identity"]["userAgent"] == "tester/1"
    assert ev["requestContext"]["httpMethod"] == "POST"
    assert isinstance(ev["requestContext"]["requestTimeEpoch"], int)
    assert ev["params"] == ev["pathParams"] == ev["multiValueParams"] == {}
    assert ctx["function_name"] == "org/fn" and ctx["token"] is None
    assert 0 < got["remaining"] <= 30_000
    assert ctx["deadline_ms"] - ev["requestContext"]["requestTimeEpoch"] * 1000 >= 29_000


def test_yandex_binary_body_is_base64(yandex_srv: Launcher) -> None:
    raw = b"\x00\xff\xfe binary"
    got = json.loads(post(yandex_srv, "/?case=echo", raw)[2])
    assert got["event"]["isBase64Encoded"] is True
    assert base64.b64decode(got["event"]["body"]) == raw


def test_yandex_raw_integration_passes_the_body(yandex_srv: Launcher) -> None:
    assert json.loads(post(yandex_srv, "/?integration=raw", b'{"a": [1]}')[2]) == {"raw_event": {"a": [1]}}
    assert json.loads(post(yandex_srv, "/?integration=raw", b"not json")[2]) == {"raw_event": "not json"}


@pytest.mark.parametrize(
    ("case", "status", "ctype", "body"),
    [
        ("binary", 201, "image/png", b"\x89PNG\x00"),
        ("plain", 200, "application/json", b'{"ok": true}'),
        ("nobody", 204, None, b""),
    ],
)
def test_yandex_return_mapping(yandex_srv: Launcher, case: str, status: int, ctype: Optional[str],
                               body: bytes) -> None:
    s, h, b = post(yandex_srv, f"/?case={case}")
    assert (s, b) == (status, body)
    if ctype:
        assert h["content-type"] == ctype


def test_yandex_multi_value_headers(yandex_srv: Launcher) -> None:
    conn_status, _, body = post(yandex_srv, "/?case=multi")
    assert (conn_status, body) == (200, b"x")
    import http.client

    c = http.client.HTTPConnection("127.0.0.1", yandex_srv.port, timeout=10)
    try:
        c.request("POST", "/?case=multi", body=b"")
        r = c.getresponse()
        r.read()
        assert r.msg.get_all("Set-Cookie") == ["a=1", "b=2"]
        assert r.getheader("X-One") == "1"
    finally:
        c.close()


@pytest.mark.parametrize(("case", "etype"), [("badstatus", "ValueError"), ("raise", "KeyError")])
def test_yandex_errors_are_500_json(yandex_srv: Launcher, case: str, etype: str) -> None:
    status, headers, body = post(yandex_srv, f"/?case={case}")
    assert status == 500 and headers["content-type"] == "application/json"
    assert json.loads(body)["type"] == etype


def test_yandex_async_handler(python312: str, tmp_path: Path) -> None:
    src = write_tree(tmp_path / "src", {"main.py": """\
        import asyncio

        async def handler(event, context):
            await asyncio.sleep(0)
            return {"statusCode": 202, "body": event["body"].upper()}
    """})
    artifact, _ = build(src, tmp_path / "a.tar.gz", "yandex")
    r = invoke_json(artifact, python312, "-p", "quiet")
    assert (r["status"], r["body"]) == (202, "QUIET")


# ------------------------------------------------------------------ openfaas

STUB_HTTPX = """\
    # Test double for httpx (preinstalled in the image, absent from a bare 3.12): same calls, urllib underneath.
    import json
    import urllib.request

    class _Response:
        def __init__(self, data):
            self._data = data

        def json(self):
            return json.loads(self._data)

    class AsyncClient:
        async def __aenter__(self):
            return self

        async def __aexit__(self, *exc):
            return False

        async def get(self, url):
            with urllib.request.urlopen(url, timeout=10) as r:
                return _Response(r.read())
"""

STUB_REQUESTS = """\
    # Test double for requests (preinstalled in the image, absent from a bare 3.12).
    import json
    import urllib.request

    class _Response:
        def __init__(self, data):
            self._data = data

        def json(self):
            return json.loads(self._data)

    def get(url):
        with urllib.request.urlopen(url, timeout=10) as r:
            return _Response(r.read())
"""


@pytest.fixture
def upstream() -> Iterator[str]:
    """A local HTTP server answering the document examples' GET with a GitHub-like JSON body."""

    class H(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            data = json.dumps({"current_user_url": f"local{self.path}"}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try:
        yield f"http://127.0.0.1:{srv.server_address[1]}"
    finally:
        srv.shutdown()
        srv.server_close()


def test_openfaas_custom_module_example_via_invoke(python312: str, tmp_path: Path) -> None:
    artifact, _ = build(CONV / "openfaas", tmp_path / "a.tar.gz", "openfaas")
    r = invoke_json(artifact, python312, "-p", '{"name": "Ada"}')
    assert (r["status"], r["body"]) == (200, {"message": "Hello, Ada!"})
    assert r["headers"]["content-type"] == "application/json"
    assert invoke_json(artifact, python312)["body"] == {"message": "Hello, World!"}


@pytest.mark.parametrize(("fixture", "stub_name", "stub", "is_async"),
                         [("openfaas-async", "httpx.py", STUB_HTTPX, True),
                          ("openfaas-sync", "requests.py", STUB_REQUESTS, False)])
def test_openfaas_document_examples_over_http(python312: str, tmp_path: Path, upstream: str, fixture: str,
                                              stub_name: str, stub: str, is_async: bool) -> None:
    src = tmp_path / "src"
    shutil.copytree(CONV / fixture, src)
    write_tree(src, {stub_name: stub})
    artifact, _ = build(src, tmp_path / "a.tar.gz", "openfaas")
    root = unpacked_root(artifact, tmp_path / "root")
    with running_launcher(python312, root) as srv:
        assert ("(openfaas, async)" in srv.wait_stderr(r"ready: imported")) is is_async
        status, headers, body = post(srv, "/", json.dumps({"url": upstream + "/user"}).encode())
        assert status == 200 and headers["content-type"] == "application/json"
        assert json.loads(body) == {"status": "success", "url_accessed": upstream + "/user",
                                    "github_url": "local/user"}
        assert "INFO function: Starting your request" in srv.stdout_text()


@pytest.fixture(scope="module")
def openfaas_srv(python312: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Launcher]:
    tmp = tmp_path_factory.mktemp("openfaas")
    src = write_tree(tmp / "src", {
        "function/__init__.py": "",
        "function/handler.py": """\
            def handle(logger, request):
                project_id = request.get("metadata", {}).get("projectID")
                logger.info(f"Executing in project: {project_id}")
                if request.get("fail"):
                    raise RuntimeError("asked to fail")
                return request
        """,
    })
    artifact, _ = build(src, tmp / "a.tar.gz", "openfaas")
    root = unpacked_root(artifact, tmp / "root")
    with running_launcher(python312, root, env={"IGNITE_ORGANIZATION_ID": "org-7"}) as srv:
        yield srv


def test_openfaas_request_has_payload_and_metadata(openfaas_srv: Launcher) -> None:
    status, headers, body = post(openfaas_srv, "/", b'{"key1": "value1", "metadata": {"projectID": "p-1"}}')
    assert status == 200
    got = json.loads(body)
    assert got["key1"] == "value1"
    md = got["metadata"]
    assert set(md) == {"activityID", "environmentID", "environmentName", "organizationID", "projectID",
                       "stateStoreUrl", "stateStoreToken"}
    assert md["activityID"] == headers["x-ignite-execution-id"]
    assert (md["organizationID"], md["projectID"], md["environmentID"]) == ("org-7", "p-1", "")
    assert "Executing in project: p-1" in openfaas_srv.stdout_text()


@pytest.mark.parametrize("body", [b"[1, 2]", b"not json", b'"text"'])
def test_openfaas_body_must_be_a_json_object(openfaas_srv: Launcher, body: bytes) -> None:
    status, headers, resp = post(openfaas_srv, "/", body)
    assert status == 400 and headers["content-type"] == "application/json"
    assert "JSON" in json.loads(resp)["error"]


def test_openfaas_error_is_500_json(openfaas_srv: Launcher) -> None:
    status, _, body = post(openfaas_srv, "/", b'{"fail": true}')
    assert status == 500
    err = json.loads(body)
    assert (err["type"], err["error"]) == ("RuntimeError", "asked to fail")


# ------------------------------------------------------------------ digitalhub


@pytest.fixture(scope="module")
def digitalhub_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("digitalhub")
    artifact, _ = build(CONV / "digitalhub", tmp / "a.tar.gz", "digitalhub", "--entry", "main:func1")
    return unpacked_root(artifact, tmp / "root")


def test_digitalhub_decorated_function_via_invoke(python312: str, tmp_path: Path) -> None:
    artifact, _ = build(CONV / "digitalhub", tmp_path / "a.tar.gz", "digitalhub", "--entry", "main:func2")
    r = invoke_json(artifact, python312)
    assert (r["status"], r["body"]) == (200, {"result": "hello world"})


@pytest.mark.parametrize(
    ("fn", "payload", "status", "expected"),
    [
        ("func1", b"", 200, b"hello world"),
        ("func2", b"{}", 200, b'{"result": "hello world"}'),
        ("func4", b"anything", 200, b""),  # None: nuclio's empty 200 (serve hands the value to nuclio)
    ],
)
def test_digitalhub_functions_of_the_document(python312: str, digitalhub_root: Path, fn: str, payload: bytes,
                                              status: int, expected: bytes) -> None:
    with running_launcher(python312, digitalhub_root, env={"IGNITE_ENTRY_FN": fn}) as srv:
        s, _, body = post(srv, "/", payload)
        assert (s, body) == (status, expected)
        if fn == "func4":  # context.logger from the reserved nuclio context
            assert '"message": "Some log"' in srv.stdout_text()


def test_digitalhub_project_is_not_available(python312: str, digitalhub_root: Path) -> None:
    with running_launcher(python312, digitalhub_root, env={"IGNITE_ENTRY_FN": "func3"}) as srv:
        status, _, body = post(srv, "/")
    assert status == 500
    err = json.loads(body)
    assert err["type"] == "NotImplementedError" and "project.log_artifact" in err["error"]


def test_digitalhub_function_needing_a_parameter_is_a_startup_error(python312: str, digitalhub_root: Path) -> None:
    """Serve takes no parameters from the request: func5(param1) cannot be served (the build refuses it too)."""
    with running_launcher(python312, digitalhub_root, env={"IGNITE_ENTRY_FN": "func5"}) as srv:
        status, _, body = post(srv, "/", b'{"param1": "x"}')
    assert status == 500
    err = json.loads(body)
    assert err["type"] == "TypeError" and "nothing fills param1" in err["error"]


def test_digitalhub_reserved_names_by_keyword_and_async(python312: str, tmp_path: Path) -> None:
    src = write_tree(tmp_path / "src", {"handler.py": """\
        import asyncio

        async def handler(events, event, b=2, *, c="k"):
            await asyncio.sleep(0)
            return {"b": b, "c": c, "path": events.path, "same": events is event, "body": event.body}
    """})
    artifact, _ = build(src, tmp_path / "a.tar.gz", "digitalhub")
    r = invoke_json(artifact, python312, "-p", '{"b": [1], "c": "z"}', "--path", "/run")
    assert (r["status"], r["body"]) == (200, {"b": 2, "c": "k", "path": "/run", "same": True,
                                              "body": {"b": [1], "c": "z"}})
