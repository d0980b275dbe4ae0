"""AWS Lambda (function URL) and OpenFaaS python3-http conventions (issue 21), under CPython 3.12.

The fixtures are handlers shaped as AWS's "Invoking Lambda function URLs" page and
docs.openfaas.com/languages/python/ show them; tmp-dir handlers cover the mappings
those examples do not reach.  Also: ``ignite-pack invoke`` exits non-zero on a 4xx.
"""

from __future__ import annotations

import base64
import http.client
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Optional

import pytest

from launcher.conventions import load
from packager.errors import EXIT_CODES, HandlerError
from packager.source.checks import EntryPoint, check_source
from packager.source.intake import read_source
from tests.conftest import FIXTURES, run_cli
from tests.launcher_harness import Launcher, running_launcher
from tests.test_conventions import build, invoke_json, unpacked_root, write_tree

CONV = FIXTURES / "conventions"


def raw(srv: Launcher, method: str, path: str, body: Optional[bytes] = None,
        headers: Optional[dict[str, str]] = None) -> tuple[int, http.client.HTTPMessage, bytes]:
    """One request; the response's full header message (repeated Set-Cookie kept)."""
    c = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=10)
    try:
        c.request(method, path, body=body, headers=headers or {})
        r = c.getresponse()
        return r.status, r.msg, r.read()
    finally:
        c.close()


# ------------------------------------------------------------------ build-time (no 3.12 needed)


def test_adapters_load_under_their_convention_names() -> None:
    assert load("lambda").__name__.endswith(".aws_lambda")
    assert load("openfaas-http").__name__.endswith(".openfaas_http")
    with pytest.raises(ValueError, match="unknown handler convention"):
        load("aws_lambda-x")


def test_lambda_default_entry_is_the_consoles(tmp_path: Path) -> None:
    checked = check_source(read_source(CONV / "lambda"), convention="lambda")
    assert str(checked.entry) == "lambda_function:lambda_handler"
    src = write_tree(tmp_path / "src", {"handler.py": "def handler(event, context):\n    return 1\n"})
    assert str(check_source(read_source(src), convention="lambda").entry) == "handler:handler"
    src2 = write_tree(tmp_path / "src2", {"handler.py": "def lambda_handler(event, context):\n    return 1\n"})
    assert str(check_source(read_source(src2), convention="lambda").entry) == "handler:lambda_handler"


def test_openfaas_http_default_entry(tmp_path: Path) -> None:
    assert str(check_source(read_source(CONV / "openfaas-http"), convention="openfaas-http").entry) == "handler:handle"
    src = write_tree(tmp_path / "src", {"function/__init__.py": "",
                                        "function/handler.py": "def handle(event, context):\n    return 1\n"})
    assert str(check_source(read_source(src), convention="openfaas-http").entry) == "function.handler:handle"


def test_lambda_function_py_under_ignite_suggests_lambda() -> None:
    with pytest.raises(HandlerError) as e:
        check_source(read_source(CONV / "lambda"))
    assert "--convention lambda" in (e.value.hint or "")


def test_lambda_handler_signature_suggests_lambda_not_yandex(tmp_path: Path) -> None:
    src = write_tree(tmp_path / "src", {"lambda_function.py": "def lambda_handler(event, context):\n    return 1\n"})
    entry = EntryPoint.parse("lambda_function:lambda_handler")
    for chosen in ("yandex", "ignite", "openfaas-http"):
        warnings = check_source(read_source(src), entry, convention=chosen).warnings
        assert any("--convention lambda" in w for w in warnings), warnings
    assert not any("--convention" in w for w in check_source(read_source(src), convention="lambda").warnings)


def test_handle_event_context_suggests_openfaas_http_before_yandex(tmp_path: Path) -> None:
    src = write_tree(tmp_path / "src", {"handler.py": "def handle(event, context):\n    return 1\n"})
    with pytest.raises(HandlerError) as e:  # under ignite: no handler(), a hint names the convention
        check_source(read_source(src))
    assert "--convention openfaas-http" in (e.value.hint or "")
    assert "yandex" not in (e.value.hint or "")
    warnings = check_source(read_source(src), convention="openfaas").warnings
    assert any("--convention openfaas-http" in w for w in warnings), warnings
    assert not any("yandex" in w for w in warnings), warnings


def test_handler_event_context_still_suggests_yandex(tmp_path: Path) -> None:
    src = write_tree(tmp_path / "src", {"handler.py": "def handler(event, context):\n    return 1\n"})
    warnings = check_source(read_source(src)).warnings
    assert any("--convention yandex" in w for w in warnings), warnings
    assert not any("--convention" in w for w in check_source(read_source(src), convention="lambda").warnings)


# ------------------------------------------------------------------ lambda (payload 2.0)

LAMBDA_MAPPING = """\
    import asyncio
    import base64
    import json

    def lambda_handler(event, context):
        case = (event.get("queryStringParameters") or {}).get("case", "echo")
        if case == "echo":
            ctx = {k: v for k, v in vars(context).items() if not k.startswith("_")}
            ctx["identity"] = vars(context.identity)
            ctx["remaining"] = context.get_remaining_time_in_millis()
            return {"event": event, "context": ctx}
        if case == "string":
            return "Hello, world!"
        if case == "binary":
            return {"statusCode": 200, "headers": {"Content-Type": "image/png"},
                    "body": base64.b64encode(b"\\x89PNG\\x00").decode(), "isBase64Encoded": True}
        if case == "nobody":
            return {"statusCode": 204}
        if case == "textbody":
            return {"statusCode": 202, "body": "plain"}
        if case == "badstatus":
            return {"statusCode": "teapot"}
        if case == "raise":
            raise KeyError("missing")
        if case == "decode":
            data = base64.b64decode(event["body"]) if event["isBase64Encoded"] else event["body"].encode()
            return {"statusCode": 200, "body": json.dumps({"len": len(data), "b64": event["isBase64Encoded"]})}
        return {"statusCode": 404, "body": "no such case"}
"""


@pytest.fixture(scope="module")
def lambda_srv(python312: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Launcher]:
    tmp = tmp_path_factory.mktemp("lambda")
    src = write_tree(tmp / "src", {"lambda_function.py": LAMBDA_MAPPING})
    artifact, _ = build(src, tmp / "a.tar.gz", "lambda")
    root = unpacked_root(artifact, tmp / "root")
    with running_launcher(python312, root, env={"IGNITE_TIMEOUT_S": "30", "IGNITE_FUNCTION_ID": "org/fn",
                                                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256"}) as srv:
        yield srv


def test_lambda_document_example_via_invoke(python312: str, tmp_path: Path) -> None:
    artifact, _ = build(CONV / "lambda", tmp_path / "a.tar.gz", "lambda")
    r = invoke_json(artifact, python312, "-p", '{"example": "test"}', "--path", "/my/path?message=HelloWorld",
                    "-H", "Content-Type: application/json")
    assert r["status"] == 201 and r["ok"] is True
    assert r["headers"]["content-type"] == "application/json"
    assert r["headers"]["my-custom-header"] == "Custom Value"
    assert r["body"] == {
        "message": "Hello, world!", "method": "POST", "path": "/my/path", "query": "message=HelloWorld",
        "contentType": "application/json", "body": '{"example": "test"}', "isBase64Encoded": False,
        "requestId": r["headers"]["x-ignite-execution-id"],
    }


def test_lambda_console_default_function_builds_without_flags_but_the_convention(python312: str,
                                                                                  tmp_path: Path) -> None:
    artifact, stderr = build(CONV / "lambda-console", tmp_path / "a.tar.gz", "lambda")
    assert "--convention" not in stderr
    r = run_cli("invoke", str(artifact), "--python", python312, "--runtime", "bare")
    assert r.returncode == 0 and r.stdout == '"Hello from Lambda!"\n'
    r = run_cli("build", str(CONV / "lambda-console"), "-o", str(tmp_path / "b.tar.gz"), "--no-config")
    assert r.returncode == EXIT_CODES["handler"] and "--convention lambda" in r.stderr


def test_lambda_cookies_become_set_cookie_headers(python312: str, tmp_path: Path) -> None:
    artifact, _ = build(CONV / "lambda", tmp_path / "a.tar.gz", "lambda")
    root = unpacked_root(artifact, tmp_path / "root")
    with running_launcher(python312, root) as srv:
        status, msg, body = raw(srv, "PUT", "/", b"x", {"Content-Type": "text/plain"})
    assert status == 201
    assert msg.get_all("Set-Cookie") == ["Cookie_1=Value1; Expires=21 Oct 2021 07:48 GMT",
                                         "Cookie_2=Value2; Max-Age=78000"]
    assert json.loads(body)["method"] == "PUT"


def test_lambda_event_is_payload_format_2(lambda_srv: Launcher) -> None:
    status, headers, body = lambda_srv.post(
        "/a/b?case=echo&k=1&k=2&e=%C3%A9", "héllo".encode(),
        {"Content-Type": "text/plain; charset=utf-8", "User-Agent": "tester/1", "X-Multi": "a",
         "Cookie": "c1=v1; c2=v2", "Host": "fn.example.test"},
    )
    assert status == 200 and headers["content-type"] == "application/json"
    got = json.loads(body)
    ev, ctx = got["event"], got["context"]
    assert ev["version"] == "2.0" and ev["routeKey"] == "$default"
    assert ev["rawPath"] == "/a/b" and ev["rawQueryString"] == "case=echo&k=1&k=2&e=%C3%A9"
    assert ev["queryStringParameters"] == {"case": "echo", "k": "1,2", "e": "é"}
    assert ev["cookies"] == ["c1=v1", "c2=v2"] and "cookie" not in ev["headers"]
    assert ev["headers"]["content-type"] == "text/plain; charset=utf-8"
    assert ev["headers"]["x-multi"] == "a" and all(k == k.lower() for k in ev["headers"])
    assert ev["body"] == "héllo" and ev["isBase64Encoded"] is False
    rc = ev["requestContext"]
    assert rc["http"] == {"method": "POST", "path": "/a/b", "protocol": "HTTP/1.1", "sourceIp": "",
                          "userAgent": "tester/1"}
    assert rc["requestId"] == headers["x-ignite-execution-id"] == ctx["aws_request_id"]
    assert rc["domainName"] == "fn.example.test" and rc["domainPrefix"] == "fn"
    assert isinstance(rc["timeEpoch"], int) and rc["timeEpoch"] > 1_600_000_000_000
    assert ctx["function_name"] == "org-fn" and ctx["function_version"] == "$LATEST"  # a name Lambda accepts
    assert ctx["memory_limit_in_mb"] == "256"
    assert ctx["invoked_function_arn"].endswith(":function:org-fn")
    assert ctx["identity"] == {"cognito_identity_id": None, "cognito_identity_pool_id": None}
    assert 0 < got["context"]["remaining"] <= 30_000


def test_lambda_get_without_body_or_query(lambda_srv: Launcher) -> None:
    status, _, body = lambda_srv.request("GET", "/", None, {"X-Case": "1"})
    ev = json.loads(body)["event"]
    assert status == 200
    assert "body" not in ev and "queryStringParameters" not in ev and "cookies" not in ev
    assert ev["isBase64Encoded"] is False and ev["requestContext"]["http"]["method"] == "GET"


def test_lambda_binary_post_arrives_base64(lambda_srv: Launcher) -> None:
    payload = b"\x00\xff\xfe binary \x89PNG"
    status, _, body = lambda_srv.post("/?case=echo", payload, {"Content-Type": "application/octet-stream"})
    ev = json.loads(body)["event"]
    assert status == 200 and ev["isBase64Encoded"] is True
    assert base64.b64decode(ev["body"]) == payload
    # a binary content type is base64 even when the bytes happen to be UTF-8
    _, _, body = lambda_srv.post("/?case=decode", b"abc", {"Content-Type": "image/png"})
    assert json.loads(body) == {"len": 3, "b64": True}
    _, _, body = lambda_srv.post("/?case=decode", b'{"a": 1}', {"Content-Type": "application/vnd.api+json"})
    assert json.loads(body) == {"len": 8, "b64": False}


@pytest.mark.parametrize(
    ("case", "status", "ctype", "body"),
    [
        ("string", 200, "application/json", b'"Hello, world!"'),  # AWS's "string response" example
        ("binary", 200, "image/png", b"\x89PNG\x00"),
        ("nobody", 204, "application/json", b""),
        ("textbody", 202, "application/json", b"plain"),
        ("missing", 404, "application/json", b"no such case"),
    ],
)
def test_lambda_response_inference(lambda_srv: Launcher, case: str, status: int, ctype: str, body: bytes) -> None:
    s, h, b = lambda_srv.post(f"/?case={case}")
    assert (s, h["content-type"], b) == (status, ctype, body)


def test_lambda_plain_dict_is_json_200(python312: str, tmp_path: Path) -> None:
    src = write_tree(tmp_path / "src", {"lambda_function.py": """\
        def lambda_handler(event, context):
            return {"message": "Hello, world!", "n": [1, 2]}
    """})
    artifact, _ = build(src, tmp_path / "a.tar.gz", "lambda")
    r = invoke_json(artifact, python312)
    assert (r["status"], r["headers"]["content-type"], r["body"]) == (
        200, "application/json", {"message": "Hello, world!", "n": [1, 2]})


@pytest.mark.parametrize(("case", "etype"), [("badstatus", "ValueError"), ("raise", "KeyError")])
def test_lambda_errors_are_500_json(lambda_srv: Launcher, case: str, etype: str) -> None:
    status, headers, body = lambda_srv.post(f"/?case={case}")
    assert status == 500 and headers["content-type"] == "application/json"
    assert json.loads(body)["type"] == etype


def test_lambda_payload_format_1(python312: str, tmp_path: Path) -> None:
    src = write_tree(tmp_path / "src", {"lambda_function.py": """\
        import asyncio
        import json

        async def lambda_handler(event, context):
            await asyncio.sleep(0)
            if event["queryStringParameters"] and "plain" in event["queryStringParameters"]:
                return {"not": "a proxy response"}
            return {"statusCode": 200, "multiValueHeaders": {"X-Two": ["a", "b"]},
                    "body": json.dumps(event)}
    """})
    artifact, _ = build(src, tmp_path / "a.tar.gz", "lambda")
    root = unpacked_root(artifact, tmp_path / "root")
    with running_launcher(python312, root, env={"IGNITE_LAMBDA_PAYLOAD": "1.0"}) as srv:
        assert "(lambda, async)" in srv.wait_stderr(r"ready: imported")
        status, msg, body = raw(srv, "POST", "/p?k=1&k=2", b"hi", {"Content-Type": "text/plain"})
        assert status == 200 and msg.get_all("X-Two") == ["a", "b"]
        ev = json.loads(body)
        assert ev["version"] == "1.0" and ev["httpMethod"] == "POST" and ev["path"] == "/p"
        assert ev["queryStringParameters"] == {"k": "2"}
        assert ev["multiValueQueryStringParameters"] == {"k": ["1", "2"]}
        assert ev["headers"]["Content-Type"] == "text/plain" and ev["body"] == "hi"
        status, _, body = raw(srv, "POST", "/?plain=1", b"")
        assert status == 500 and "statusCode" in json.loads(body)["error"]


# ------------------------------------------------------------------ openfaas-http (python3-http template)


@pytest.fixture(scope="module")
def ofh_srv(python312: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Launcher]:
    tmp = tmp_path_factory.mktemp("ofh")
    artifact, _ = build(CONV / "openfaas-http", tmp / "a.tar.gz", "openfaas-http")
    root = unpacked_root(artifact, tmp / "root")
    with running_launcher(python312, root, env={"HOSTNAME": "fn-host"}) as srv:
        yield srv


@pytest.mark.parametrize(
    ("method", "path", "body", "headers", "status", "ctype", "expected"),
    [
        ("POST", "/", b"\x00hi", {}, 200, "text/html; charset=utf-8", b"You said: b'\\x00hi'"),
        ("GET", "/hello", None, {}, 200, "text/html; charset=utf-8", b"Hello, World!"),
        ("GET", "/method", None, {}, 200, "text/html; charset=utf-8", b"GET request"),
        ("DELETE", "/method", None, {}, 405, "text/html; charset=utf-8", b"Method not allowed"),
        ("GET", "/query?name=Ada&name=Bob", None, {}, 200, "application/json", {"name": "Ada"}),
        # werkzeug's BadRequestKeyError: Flask answers 400
        ("GET", "/query", None, {}, 400, "application/json",
         {"error": "the request has no query parameter 'name'", "type": "BadRequestKeyError"}),
        ("POST", "/headers", b"{}", {"content-type": "application/json"}, 200, "application/json",
         {"content-type-received": "application/json"}),
        ("PUT", "/created", b"", {}, 201, "text/html; charset=utf-8", b"Object successfully created"),
        ("PATCH", "/bad", b"", {}, 400, "application/json", {"error": "Bad request"}),
    ],
)
def test_openfaas_http_document_examples(ofh_srv: Launcher, method: str, path: str, body: Optional[bytes],
                                         headers: dict[str, str], status: int, ctype: str, expected: Any) -> None:
    s, h, b = ofh_srv.request(method, path, body, headers)
    assert (s, h["content-type"]) == (status, ctype)
    assert (json.loads(b) if isinstance(expected, dict) else b) == expected


def test_openfaas_http_custom_headers(ofh_srv: Launcher) -> None:
    s, h, b = ofh_srv.request("GET", "/location")
    assert (s, h["location"], json.loads(b)) == (200, "https://www.example.com/", {"key": "value"})


def test_openfaas_http_admits_the_templates_methods(ofh_srv: Launcher) -> None:
    status, headers, _ = ofh_srv.request("OPTIONS", "/hello")
    assert status == 405 and headers["allow"] == "GET, PUT, POST, PATCH, DELETE"


OFH_MAPPING = """\
    import asyncio

    async def handle(event, context):
        await asyncio.sleep(0)
        if event.path == "/none":
            return None
        if event.path == "/tuple":
            return ("made", 202, {"X-T": "1"})
        if event.path == "/list":
            return {"statusCode": 200, "body": [1, "two"], "headers": [("X-L", "1")]}
        if event.path == "/object":
            return object()
        if event.path == "/auth":
            return {"statusCode": 200, "body": event.headers["Authorization"]}
        return {
            "statusCode": 200,
            "body": {
                "body": list(event.body),
                "method": event.method,
                "query": event.query.getlist("k"),
                "first": event.query["k"],
                "ct": event.headers["CONTENT-TYPE"],
                "has_auth": "authorization" in event.headers,
                "path": event.path,
                "hostname": context.hostname,
            },
        }
"""


def test_openfaas_http_async_request_and_return_mapping(python312: str, tmp_path: Path) -> None:
    src = write_tree(tmp_path / "src", {"handler.py": OFH_MAPPING})
    artifact, _ = build(src, tmp_path / "a.tar.gz", "openfaas-http")
    root = unpacked_root(artifact, tmp_path / "root")
    with running_launcher(python312, root, env={"HOSTNAME": "fn-host"}) as srv:
        assert "(openfaas-http, async)" in srv.wait_stderr(r"ready: imported")
        s, h, b = srv.request("PUT", "/x/y?k=1&k=2", b"\x01\xff", {"Content-Type": "application/x-thing",
                                                                    "Authorization": "Bearer t"})
        assert (s, h["content-type"]) == (200, "application/json")
        assert json.loads(b) == {"body": [1, 255], "method": "PUT", "query": ["1", "2"], "first": "1",
                                 "ct": "application/x-thing", "has_auth": True, "path": "/x/y",
                                 "hostname": "fn-host"}
        assert srv.request("GET", "/none")[0::2] == (200, b"")
        s, h, b = srv.request("GET", "/tuple")
        assert (s, h["x-t"], b) == (202, "1", b"made")
        s, h, b = srv.request("GET", "/list")
        assert (s, h["x-l"], json.loads(b)) == (200, "1", [1, "two"])
        s, h, b = srv.request("GET", "/object")
        assert s == 500 and json.loads(b)["type"] == "TypeError"
        assert srv.request("GET", "/auth", None, {"authorization": "Bearer t"})[0::2] == (200, b"Bearer t")
        s, h, b = srv.request("GET", "/auth")
        assert (s, json.loads(b)["error"]) == (400, "the request has no header 'Authorization'")


# ------------------------------------------------------------------ invoke exits non-zero on a 4xx


def test_invoke_exits_nonzero_on_a_400_and_prints_the_body(python312: str, tmp_path: Path) -> None:
    artifact, _ = build(CONV / "openfaas-http", tmp_path / "a.tar.gz", "openfaas-http")
    r = run_cli("invoke", str(artifact), "--python", python312, "--runtime", "bare", "--path", "/bad")
    assert r.returncode == EXIT_CODES["request-refused"] == 17
    assert json.loads(r.stdout) == {"error": "Bad request"}
    assert "HTTP 400" in r.stderr
    r = run_cli("invoke", str(artifact), "--python", python312, "--runtime", "bare", "--path", "/bad", "--json")
    assert r.returncode == 17
    out = json.loads(r.stdout)
    assert (out["ok"], out["status"], out["body"]) == (False, 400, {"error": "Bad request"})
    r = run_cli("invoke", str(artifact), "--python", python312, "--runtime", "bare", "--path", "/created")
    assert r.returncode == 0 and r.stdout == "Object successfully created\n"


# ------------------------------------------------------------------ invoke as a user types it


def test_invoke_labels_a_json_payload_so_the_lambda_example_works_without_h(python312: str,
                                                                             tmp_path: Path) -> None:
    """AWS's example reads event["headers"]["content-type"]: a plain `invoke -p '{...}'` must set it."""
    artifact, _ = build(CONV / "lambda", tmp_path / "a.tar.gz", "lambda")
    r = invoke_json(artifact, python312, "-p", '{"example": "test"}')
    assert r["status"] == 201
    assert r["body"]["contentType"] == "application/json"
    assert r["body"]["isBase64Encoded"] is False
    # An explicit Content-Type is kept as given.
    r = invoke_json(artifact, python312, "-p", '{"example": "test"}', "-H", "content-type: text/x-custom")
    assert r["body"]["contentType"] == "text/x-custom"


def test_invoke_method_option_reaches_the_handler(python312: str, tmp_path: Path) -> None:
    artifact, _ = build(CONV / "openfaas-http", tmp_path / "a.tar.gz", "openfaas-http")
    r = run_cli("invoke", str(artifact), "--python", python312, "--runtime", "bare", "--path", "/method",
                "-X", "get")
    assert r.returncode == 0 and r.stdout == "GET request\n"
    r = run_cli("invoke", str(artifact), "--python", python312, "--runtime", "bare", "--path", "/method")
    assert r.returncode == 17 and r.stdout == "Method not allowed\n"


@pytest.mark.parametrize(("payload", "ctype"), [
    (b'{"a": 1}', "application/json"),
    (b"[1, 2]", "application/json"),
    (b"hello", "text/plain; charset=utf-8"),
    (b"\x89PNG\x00", "application/octet-stream"),
])
def test_default_content_type(payload: bytes, ctype: str) -> None:
    from packager.invoke import default_content_type
    assert default_content_type(payload) == ctype
