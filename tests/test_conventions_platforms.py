"""Issue 28: real functions of each platform answer as their platform does.

Each test writes the function the way the platform's own repositories do, builds it
with the CLI (or hosts it in a launcher root) and sends the request the platform sends.
"""

from __future__ import annotations

import json
import os
import site
import subprocess
import textwrap
from pathlib import Path
from typing import Any, Optional

import pytest

from packager.errors import HandlerError
from tests.conftest import REPO, run_cli
from tests.launcher_harness import make_root, running_launcher


def write_tree(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(textwrap.dedent(text), encoding="utf-8")
    return root


def build(src: Path, out: Path, *extra: str) -> Any:
    r = run_cli("build", str(src), "-o", str(out), "--no-config", "--offline", *extra)
    return r


# ------------------------------------------------------------------ nuclio


CVAT_LIKE = """
    import base64
    import json


    def init_context(context):
        context.user_data.model = lambda image: [{"label": "cat", "bytes": len(image)}]


    def handler(context, event):
        data = event.body
        image = base64.b64decode(data["image"])
        threshold = float(data.get("threshold", 0.5))
        results = context.user_data.model(image)
        return context.Response(body=json.dumps({"results": results, "threshold": threshold}), headers={},
                                content_type="application/json", status_code=200)


    def raw(context, event):
        return {"type": type(event.body).__name__,
                "body": event.body.decode("latin-1") if isinstance(event.body, bytes) else event.body}
"""


def test_nuclio_json_body_is_decoded_as_the_sdk_does(python312: str, tmp_path: Path) -> None:
    """CVAT's serverless functions read ``event.body["image"]``: nuclio-sdk-py decodes JSON bodies."""
    root = make_root(tmp_path, files={"main.py": CVAT_LIKE},
                     manifest={"convention": "nuclio", "entry": {"module": "main", "function": "handler"}})
    body = json.dumps({"image": "aGVsbG8=", "threshold": 0.7}).encode()
    with running_launcher(python312, root) as srv:
        status, _, data = srv.post("/", body, {"Content-Type": "application/json"})
        assert status == 200, data
        assert json.loads(data) == {"results": [{"label": "cat", "bytes": 5}], "threshold": 0.7}
    root2 = make_root(tmp_path, files={"main.py": CVAT_LIKE}, name="raw",
                      manifest={"convention": "nuclio", "entry": {"module": "main", "function": "raw"}})
    with running_launcher(python312, root2) as srv:
        # other content types keep bytes; invalid JSON keeps bytes and is logged (the SDK's behaviour)
        assert json.loads(srv.post("/", b'{"a": 1}', {"Content-Type": "text/plain"})[2]) == \
            {"type": "bytes", "body": '{"a": 1}'}
        assert json.loads(srv.post("/", b'[1, 2]', {"Content-Type": "application/json"})[2]) == \
            {"type": "list", "body": [1, 2]}
        assert json.loads(srv.post("/", b"{oops", {"Content-Type": "application/json"})[2]) == \
            {"type": "bytes", "body": "{oops"}
        srv.wait_stderr("failed deserializing json body")


# ------------------------------------------------------------------ OpenFaaS python3-flask


FLASK_TEMPLATE = {
    # the template's own files, as `faas-cli new --lang python3-flask` writes them
    "index.py": """
        from flask import Flask, request
        from function import handler
        from waitress import serve
        import os

        app = Flask(__name__)
    """,
    "requirements.txt": "flask\nwaitress\n",
    "function/__init__.py": "",
    "function/requirements.txt": "",
    "function/handler.py": '''
        def handle(req):
            """handle a request to the function
            Args:
                req (str): request body
            """

            return req
    ''',
}


def test_openfaas_flask_template_handle_gets_the_body_as_text(python312: str, tmp_path: Path) -> None:
    src = write_tree(tmp_path / "src", FLASK_TEMPLATE)
    r = build(src, tmp_path / "a.tar.gz", "--convention", "openfaas-flask")
    assert r.returncode == 0, r.stderr
    r = run_cli("invoke", str(tmp_path / "a.tar.gz"), "--python", python312, "--runtime", "bare", "--json",
                "-p", "héllo")
    out = json.loads(r.stdout)
    assert (out["status"], out["body"]) == (200, "héllo"), r.stderr
    assert out["headers"]["content-type"] == "text/html; charset=utf-8"


def test_openfaas_flask_return_values_as_flask_makes_responses(python312: str, tmp_path: Path) -> None:
    handler = """
        def handle(req):
            if req == "dict":
                return {"b": 1, "a": [True]}
            if req == "tuple":
                return "created", 201, {"X-Thing": "1"}
            if req == "none":
                return None
            return type(req).__name__
    """
    root = make_root(tmp_path, files={"function/__init__.py": "", "function/handler.py": handler},
                     manifest={"convention": "openfaas-flask", "entry": {"module": "function.handler",
                                                                          "function": "handle"}})
    with running_launcher(python312, root) as srv:
        assert srv.post("/", b"dict")[2] == b'{"a":[true],"b":1}\n'
        status, headers, body = srv.post("/any/path", b"tuple")
        assert (status, headers["x-thing"], body) == (201, "1", b"created")
        assert srv.post("/", b"none")[0] == 500
        assert srv.request("GET", "/")[2] == b"str"
        assert srv.request("PUT", "/", b"x")[0] == 405
    with running_launcher(python312, root, env={"RAW_BODY": "true"}) as srv:
        assert srv.post("/", b"\xff")[2] == b"bytes"


# ------------------------------------------------------------------ arity at build time


@pytest.mark.parametrize(
    ("source", "convention", "call", "suggested"),
    [
        # OpenFaaS python3-flask's handler built as ignite (the case)
        ("def handle(req):\n    return req\n", "ignite", "handle(payload, ctx)", "openfaas-flask"),
        ("def lambda_handler(event):\n    return event\n", "lambda", "lambda_handler(event, context)", None),
        ("def handler(context, event, extra):\n    return 1\n", "nuclio", "handler(context, event)", None),
        ("async def handle(event, context):\n    return 1\n", "openfaas-flask", "handle(req)", "openfaas-http"),
    ],
)
def test_an_entry_that_cannot_take_the_conventions_arguments_fails_the_build(
    tmp_path: Path, source: str, convention: str, call: str, suggested: Optional[str]
) -> None:
    entry = source.split("def ", 1)[1].split("(", 1)[0]
    src = write_tree(tmp_path / "src", {"handler.py": source})
    r = build(src, tmp_path / "a.tar.gz", "--convention", convention, "--entry", f"handler:{entry}")
    assert r.returncode == HandlerError.exit_code, r.stderr
    signature = source.split("def ", 1)[1].split(":", 1)[0]
    assert f"{signature} cannot be called as the {convention} convention calls it: {call}" in r.stderr
    assert "handler.py:1" in r.stderr
    assert (f"--convention {suggested}" in r.stderr) if suggested else ("--convention" not in r.stderr)
    assert not (tmp_path / "a.tar.gz").exists()


@pytest.mark.parametrize("source", [
    "def handler(payload, ctx=None, *rest, flag=False):\n    return 1\n",
    "def handler(*args):\n    return 1\n",
    "import functools\n@functools.lru_cache\ndef handler(x):\n    return 1\n",  # decorated: not judged
])
def test_entries_that_can_take_the_arguments_still_build(tmp_path: Path, source: str) -> None:
    src = write_tree(tmp_path / "src", {"handler.py": source})
    r = build(src, tmp_path / "a.tar.gz")
    assert r.returncode == 0, r.stderr


# ------------------------------------------------------------------ digitalhub (serve)


DIGITALHUB_SERVE = """
    MODEL = {}


    def init(context, model_path, threshold=0.1, labels=()):
        MODEL.update(path=model_path, threshold=threshold, labels=list(labels), context=type(context).__name__)


    def serve(context, event, run, project=None):
        # the digitalhub tutorials' serve functions read the request from the nuclio event
        body = event.body
        return {"model": MODEL, "got": body if isinstance(body, dict) else body.decode(),
                "run": repr(run), "same": context.project is project}
"""


def test_digitalhub_serve_injects_event_and_init_parameters(python312: str, tmp_path: Path) -> None:
    src = write_tree(tmp_path / "src", {"main.py": DIGITALHUB_SERVE})
    art = tmp_path / "a.tar.gz"
    r = build(src, art, "--convention", "digitalhub", "--entry", "main:serve", "--init", "init",
              "--init-param", "model_path=/models/m.bin", "--init-param", "threshold=0.5",
              "--init-param", 'labels=["cat", "dog"]')
    assert r.returncode == 0, r.stderr
    from packager.artifact.tarball import read_manifest

    assert read_manifest(art).entry() == {
        "module": "main", "function": "serve", "init": "init",
        "init_parameters": {"model_path": "/models/m.bin", "threshold": 0.5, "labels": ["cat", "dog"]}}
    model = {"path": "/models/m.bin", "threshold": 0.5, "labels": ["cat", "dog"], "context": "Context"}
    for payload, got in (('{"inputs": [1, 2]}', {"inputs": [1, 2]}), ("not json at all", "not json at all")):
        r = run_cli("invoke", str(art), "--python", python312, "--runtime", "bare", "--json", "-p", payload)
        out = json.loads(r.stdout)
        # the body never becomes parameters: any payload reaches the function through event
        assert out["status"] == 200, r.stdout + r.stderr
        assert out["body"] == {"model": model, "got": got, "run": "<digitalhub run: not available on this platform>",
                               "same": True}


@pytest.mark.parametrize(("source", "extra", "text"), [
    ("def serve(event, param1):\n    return 1\n", (), "nothing fills param1"),
    ("def init(context, model_path):\n    pass\n\ndef serve(event):\n    return 1\n", ("--init", "init"),
     "init(context, model_path) cannot be called with one argument"),
    ("def init(context, model_path, n):\n    pass\n\ndef serve(event):\n    return 1\n",
     ("--init", "init", "--init-param", "n=1"),
     "init function init(context, model_path, n) needs model_path, which no --init-param gives"),
    ("def init(context):\n    pass\n\ndef serve(event):\n    return 1\n",
     ("--init", "init", "--init-param", "x=1"), "init function init(context) has no parameter x"),
])
def test_digitalhub_unfillable_parameters_fail_the_build(tmp_path: Path, source: str, extra: tuple[str, ...],
                                                         text: str) -> None:
    src = write_tree(tmp_path / "src", {"main.py": source})
    r = build(src, tmp_path / "a.tar.gz", "--convention", "digitalhub", "--entry", "main:serve", *extra)
    assert r.returncode == HandlerError.exit_code, r.stderr
    assert text in r.stderr


def test_init_param_without_init_is_a_usage_error(tmp_path: Path) -> None:
    src = write_tree(tmp_path / "src", {"main.py": "def serve(event):\n    return 1\n"})
    r = build(src, tmp_path / "a.tar.gz", "--convention", "digitalhub", "--entry", "main:serve",
              "--init-param", "x=1")
    assert r.returncode == 2 and "--init-param is given without --init" in r.stderr


# ------------------------------------------------------------------ Lambda: raw payloads, the runtime's environment


S3_FUNCTION = """
    import os
    import urllib.parse

    # read at import time, as the Lambda developer guide's examples do
    TASK_ROOT = os.environ["LAMBDA_TASK_ROOT"]
    REGION = os.environ["AWS_REGION"]


    def lambda_handler(event, context):
        bucket = event["Records"][0]["s3"]["bucket"]["name"]
        key = urllib.parse.unquote_plus(event["Records"][0]["s3"]["object"]["key"], encoding="utf-8")
        return {"bucket": bucket, "key": key, "task_root": TASK_ROOT, "region": REGION,
                "handler": os.environ["_HANDLER"], "name": context.function_name,
                "env_name": os.environ["AWS_LAMBDA_FUNCTION_NAME"],
                "version": os.environ["AWS_LAMBDA_FUNCTION_VERSION"],
                "memory": os.environ["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == context.memory_limit_in_mb,
                "exec_env": os.environ["AWS_EXECUTION_ENV"], "cwd_file": os.path.isfile(
                    os.path.join(TASK_ROOT, "lambda_function.py"))}
"""

S3_EVENT = {"Records": [{"eventVersion": "2.0", "eventSource": "aws:s3", "awsRegion": "us-east-1",
                         "eventName": "ObjectCreated:Put",
                         "s3": {"s3SchemaVersion": "1.0", "configurationId": "testConfigRule",
                                "bucket": {"name": "example-bucket", "arn": "arn:aws:s3:::example-bucket"},
                                "object": {"key": "test%2Fkey+1", "size": 1024}}}]}


def test_lambda_raw_payload_hands_an_s3_event_to_the_handler(python312: str, tmp_path: Path) -> None:
    src = write_tree(tmp_path / "src", {"lambda_function.py": S3_FUNCTION})
    art = tmp_path / "a.tar.gz"
    r = build(src, art, "--convention", "lambda", "--lambda-payload", "raw")
    assert r.returncode == 0, r.stderr
    from packager.artifact.tarball import read_manifest, unpack

    assert read_manifest(art).convention_options == {"payload": "raw"}
    root = tmp_path / "root"
    root.mkdir()
    unpack(art, root)
    with running_launcher(python312, root, env={"IGNITE_FUNCTION_ID": "org/thumbnails"}) as srv:
        status, _, body = srv.post("/", json.dumps(S3_EVENT).encode())
        assert status == 200, body
        got = json.loads(body)
        assert got == {"bucket": "example-bucket", "key": "test/key 1", "task_root": str(root), "region": "us-east-1",
                       "handler": "lambda_function.lambda_handler", "name": "org-thumbnails",
                       "env_name": "org-thumbnails", "version": "$LATEST", "memory": True,
                       "exec_env": "AWS_Lambda_python3.12", "cwd_file": True}
        assert srv.post("/", b"{not json")[0] == 400
    # IGNITE_LAMBDA_PAYLOAD still overrides what the build recorded; AWS_* already set are kept
    with running_launcher(python312, root, env={"IGNITE_LAMBDA_PAYLOAD": "2.0", "AWS_REGION": "eu-west-1"}) as srv:
        status, _, body = srv.post("/", json.dumps(S3_EVENT).encode())
        assert status == 500 and json.loads(body)["type"] == "KeyError"  # a 2.0 event has no Records


def test_lambda_payload_is_only_for_the_lambda_convention(tmp_path: Path) -> None:
    src = write_tree(tmp_path / "src", {"handler.py": "def handler(payload, ctx):\n    return 1\n"})
    r = build(src, tmp_path / "a.tar.gz", "--lambda-payload", "raw")
    assert r.returncode == 2 and "--lambda-payload is for the lambda convention" in r.stderr


# ------------------------------------------------------------------ suggestions that lead to the right convention


@pytest.mark.parametrize(("files", "expected"), [
    # `sam init`'s hello-world function (its CodeUri folder)
    ({"app.py": "import json\n\ndef lambda_handler(event, context):\n    return {'statusCode': 200}\n",
      "requirements.txt": ""}, "build with --convention lambda --entry app:lambda_handler"),
    # the SAM project itself: the function is one folder down
    ({"hello_world/app.py": "def lambda_handler(event, context):\n    return 1\n", "template.yaml": ""},
     "build the folder hello_world/ with --convention lambda --entry app:lambda_handler"),
    # Yandex Cloud Functions examples: index.py with handler(event, context)
    ({"index.py": "def handler(event, context):\n    return {'statusCode': 200, 'body': 'Hello World!'}\n"},
     "build with --convention yandex --entry index:handler"),
    # the OpenFaaS python3-http template tree: openfaas-http, not openfaas
    ({"index.py": "from function import handler\n", "requirements.txt": "flask\n",
      "function/handler.py": "def handle(event, context):\n    return {'statusCode': 200}\n"},
     "build the whole tree with --convention openfaas-http"),
    ({"index.py": "from function import handler\n", "function/__init__.py": "",
      "function/handler.py": "def handle(req):\n    return req\n"},
     "build the whole tree with --convention openfaas-flask"),
])
def test_a_directory_source_is_pointed_to_its_convention(tmp_path: Path, files: dict[str, str], expected: str) -> None:
    src = write_tree(tmp_path / "src", files)
    r = build(src, tmp_path / "a.tar.gz")
    assert r.returncode == HandlerError.exit_code, r.stderr
    assert expected in r.stderr
    assert "extra top-level folder" not in r.stderr  # nothing was archived


# ------------------------------------------------------------------ target-correct checks


PEP_696 = '''
def ident[T = int](x: T) -> T:
    return x


def handler(payload, ctx):
    return {"got": ident(payload.decode())}
'''


def test_python313_profile_accepts_313_only_syntax(tmp_path: Path, python312: str, python313: str) -> None:
    """PEP 696 type parameter defaults are 3.13 syntax: the python3.13 profile accepts them,
    the python3.12 profile refuses them naming 3.12, whatever the host's version."""
    src = write_tree(tmp_path / "src", {"handler.py": PEP_696})
    art = tmp_path / "a.tar.gz"
    # the packager itself on a 3.13 host (the issue's case: the host's ast judged with 3.12's grammar)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), *site.getsitepackages()])}
    r = subprocess.run([python313, "-m", "packager", "build", str(src), "-o", str(art), "--profile", "python3.13",
                        "--no-config", "--offline"], env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    art.unlink()
    r = build(src, art, "--profile", "python3.13", "--python", python313)  # this host, the target's interpreter
    assert r.returncode == 0, r.stderr
    r = run_cli("verify", str(art), "--strict", "--python", python313)
    assert r.returncode == 0, r.stderr
    r = run_cli("invoke", str(art), "--python", python313, "--runtime", "bare", "--json", "-p", "hi")
    assert json.loads(r.stdout)["body"] == {"got": "hi"}, r.stderr

    r = build(src, tmp_path / "b.tar.gz", "--profile", "python3.12", "--python", python312)
    assert r.returncode == HandlerError.exit_code
    assert "invalid Python 3.12 syntax" in r.stderr and "handler.py:2" in r.stderr
    assert "the target runs CPython 3.12" in r.stderr


def test_syntax_checks_name_the_targets_version(tmp_path: Path, python313: str) -> None:
    from packager.source.checks import check_source
    from packager.source.intake import read_source

    src = write_tree(tmp_path / "src", {"handler.py": "def handler(payload, ctx)\n    return 1\n"})
    with pytest.raises(HandlerError) as exc:
        check_source(read_source(src), target_interpreter=python313, target_version=(3, 13))
    assert "invalid Python 3.13 syntax" in exc.value.message and "CPython 3.13" in (exc.value.hint or "")


def test_digitalhub_serve_sees_every_method_and_is_not_called_nuclio(python312: str, tmp_path: Path) -> None:
    """The s1-etl tutorial's API function pages with GET ?page=; (context, event) is how serve functions look."""
    src = write_tree(tmp_path / "src", {"api.py": """
        def handler(context, event):
            return {"method": event.method, "page": int(event.fields.get("page", 0))}
    """})
    art = tmp_path / "a.tar.gz"
    r = build(src, art, "--convention", "digitalhub", "--entry", "api:handler")
    assert r.returncode == 0 and "looks like the nuclio convention" not in r.stderr, r.stderr
    r = run_cli("invoke", str(art), "--python", python312, "--runtime", "bare", "--json", "-X", "GET",
                "--path", "/?page=2")
    assert json.loads(r.stdout)["body"] == {"method": "GET", "page": 2}, r.stdout + r.stderr


def test_init_param_and_lambda_payload_from_the_config_file(tmp_path: Path) -> None:
    from packager.artifact.tarball import read_manifest

    src = write_tree(tmp_path / "dh", {
        "main.py": "def init(context, t):\n    pass\n\ndef serve(event):\n    return 1\n",
        "ignite.toml": 'convention = "digitalhub"\nentry = "main:serve"\ninit = "init"\ninit-param = ["t=0.5"]\n'})
    r = run_cli("build", str(src), "-o", str(tmp_path / "a.tar.gz"), "--offline")
    assert r.returncode == 0, r.stderr
    assert read_manifest(tmp_path / "a.tar.gz").entry()["init_parameters"] == {"t": 0.5}
    src = write_tree(tmp_path / "lb", {"lambda_function.py": "def lambda_handler(event, context):\n    return event\n",
                                       "ignite.toml": 'convention = "lambda"\nlambda-payload = "raw"\n'})
    r = run_cli("build", str(src), "-o", str(tmp_path / "b.tar.gz"), "--offline")
    assert r.returncode == 0, r.stderr
    assert read_manifest(tmp_path / "b.tar.gz").convention_options == {"payload": "raw"}


def test_diff_shows_a_changed_payload_format(tmp_path: Path) -> None:
    src = write_tree(tmp_path / "src", {"lambda_function.py": "def lambda_handler(event, context):\n    return 1\n"})
    assert build(src, tmp_path / "a.tar.gz", "--convention", "lambda", "--lambda-payload", "1.0").returncode == 0
    assert build(src, tmp_path / "b.tar.gz", "--convention", "lambda").returncode == 0
    r = run_cli("diff", str(tmp_path / "a.tar.gz"), str(tmp_path / "b.tar.gz"))
    assert "convention: lambda (payload 1.0) -> lambda" in r.stdout, r.stdout + r.stderr


@pytest.mark.parametrize(("files", "convention", "entry"), [
    ({"app.py": "def lambda_handler(event, context):\n    return 1\n"}, "lambda", "app:lambda_handler"),
    ({"index.py": "def handler(event, context):\n    return 1\n"}, "yandex", "index:handler"),
])
def test_the_platforms_own_default_entries(tmp_path: Path, files: dict[str, str], convention: str, entry: str) -> None:
    """`sam init` declares app.lambda_handler; the Yandex Cloud console's Python template index.handler."""
    from packager.artifact.tarball import read_manifest

    src = write_tree(tmp_path / "src", files)
    r = build(src, tmp_path / "a.tar.gz", "--convention", convention)
    assert r.returncode == 0, r.stderr
    m = read_manifest(tmp_path / "a.tar.gz")
    assert f"{m.entry_module}:{m.entry_function}" == entry
