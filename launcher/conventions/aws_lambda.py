"""AWS Lambda behind a function URL (``--convention lambda``): ``lambda_handler(event, context)``.

Shapes follow AWS's pages (cited in docs/conventions.md): "Invoking Lambda function
URLs" (request and response payloads) and API Gateway's "Lambda proxy integrations
for HTTP APIs" (payload format 2.0, and 1.0 with ``IGNITE_LAMBDA_PAYLOAD=1.0``).

Request -> ``event`` (2.0): ``version``, ``routeKey`` ``$default``, ``rawPath``,
``rawQueryString``, ``cookies`` (the Cookie header split; absent when none, and
the ``cookie`` header itself is not in ``headers``), ``headers`` (lower-case
names, repeated values joined with ","), ``queryStringParameters`` (repeated
values joined with ","; absent when there is no query), ``requestContext``
(``http.method/path/protocol/sourceIp/userAgent``, ``requestId`` = the execution
id, ``time``, ``timeEpoch`` in ms, placeholders for the rest), ``body`` (absent
when empty) and ``isBase64Encoded``: true, with the body base64, unless the
content type is text (``text/*``, JSON, XML, JavaScript, or none) and the body
is UTF-8.

``raw`` (``--lambda-payload raw``): the JSON body itself is the event (an empty body is
``{}``), as Lambda's Invoke API and ``sam local invoke -e`` pass S3, SQS, EventBridge or
scheduled events; the return value is answered as JSON, as Invoke returns it.

``context``: the Python runtime's ``LambdaContext`` attributes and
``get_remaining_time_in_millis()`` (from IGNITE_TIMEOUT_S).

:func:`configure` (before the import) sets the variables the Lambda Python runtime
sets and code reads, unless already set: ``LAMBDA_TASK_ROOT`` (the artifact root),
``LAMBDA_RUNTIME_DIR``, ``_HANDLER``, ``AWS_LAMBDA_FUNCTION_NAME``,
``AWS_LAMBDA_FUNCTION_VERSION``, ``AWS_LAMBDA_FUNCTION_MEMORY_SIZE``, ``AWS_REGION``
and ``AWS_DEFAULT_REGION``, ``AWS_EXECUTION_ENV``, ``AWS_LAMBDA_INITIALIZATION_TYPE``,
``AWS_LAMBDA_LOG_GROUP_NAME``, ``AWS_LAMBDA_LOG_STREAM_NAME``.

Return -> response, as function URLs infer it: a dict with ``statusCode`` gives
the status, ``headers``, ``cookies`` (one Set-Cookie each), ``body`` (base64
decoded when ``isBase64Encoded``); anything else (a dict without ``statusCode``,
a string, a list...) is a 200 ``application/json`` whose body is the value as
JSON.  Exceptions are the core's 500 ``{error, type, traceback}``.
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
import os
import sys
import time

from ..protocol import (
    CT_BYTES,
    CT_JSON,
    BadRequest,
    Request,
    Response,
    dumps,
    json_result,
    make_invoke,
    with_content_type,
)
from ._http import (
    canonical,
    header_value,
    memory_limit_mb,
    proxy_headers,
    query_pairs,
    request_time,
    status_code,
    timeout_s,
    utf8_text,
)

TYPE_CHECKING = False
if TYPE_CHECKING:  # ``typing`` costs ~6 ms of start-up; annotations are strings
    from typing import Any, Callable, Dict, List, Optional, Tuple

    from ..protocol import Invoke
    Header = Tuple[str, str]

#: Function URLs pass every method (the docs list GET, POST, PUT, HEAD, OPTIONS, PATCH, DELETE).
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")

_TEXT_SUBTYPES = ("json", "xml", "javascript")


def is_text(content_type: Optional[str]) -> bool:
    """Whether AWS hands a body of this type over as text (else it is base64).

    AWS documents only "if the content type of the request is binary"; text/*,
    application/json, application/xml and application/javascript (and +json/+xml
    suffixes) are text.  A request without a Content-Type counts as text here.
    """
    if not content_type:
        return True
    mime = content_type.split(";", 1)[0].strip().lower()
    main, _, sub = mime.partition("/")
    if main == "text":
        return True
    return main == "application" and (sub in _TEXT_SUBTYPES or sub.endswith(("+json", "+xml")))


def body_field(req: Request, content_type: Optional[str]) -> Tuple[Optional[str], bool]:
    """``(body, isBase64Encoded)``; ``body`` is None for an empty request body."""
    if not req.body:
        return None, False
    if is_text(content_type):
        try:
            return req.body.decode("utf-8"), False
        except UnicodeDecodeError:
            pass
    return base64.b64encode(req.body).decode("ascii"), True


def _host_parts(headers: Dict[str, str]) -> Tuple[str, str]:
    host = headers.get("host", "") or headers.get("Host", "")
    return host, host.split(".", 1)[0].split(":", 1)[0]


def event_v2(req: Request, now: float) -> Dict[str, Any]:
    """The payload format 2.0 event of a function URL."""
    headers: Dict[str, str] = {}
    cookies: List[str] = []
    for k, v in req.headers:
        value = utf8_text(v)
        if k == "cookie":
            cookies.extend(c.strip() for c in value.split(";") if c.strip())
            continue
        headers[k] = f"{headers[k]},{value}" if k in headers else value
    query: Dict[str, str] = {}
    for qk, qv in query_pairs(req.query):
        key, val = qk.decode("utf-8", "replace"), qv.decode("utf-8", "replace")
        query[key] = f"{query[key]},{val}" if key in query else val
    body, b64 = body_field(req, headers.get("content-type"))
    domain, prefix = _host_parts(headers)
    path = utf8_text(req.path)
    event: Dict[str, Any] = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": utf8_text(req.query),
    }
    if cookies:
        event["cookies"] = cookies
    event["headers"] = headers
    if query:
        event["queryStringParameters"] = query
    event["requestContext"] = {
        "accountId": "anonymous",
        "apiId": prefix,
        "domainName": domain,
        "domainPrefix": prefix,
        "http": {
            "method": req.method,
            "path": path,
            "protocol": req.version,
            "sourceIp": "",
            "userAgent": headers.get("user-agent", ""),
        },
        "requestId": req.execution_id,
        "routeKey": "$default",
        "stage": "$default",
        "time": request_time(now),
        "timeEpoch": int(now * 1000),
    }
    if body is not None:
        event["body"] = body
    event["isBase64Encoded"] = b64
    return event


def event_v1(req: Request, now: float) -> Dict[str, Any]:
    """The payload format 1.0 event (API Gateway REST-style proxy event)."""
    headers: Dict[str, str] = {}
    multi: Dict[str, List[str]] = {}
    for k, v in req.headers:
        name, value = canonical(k), utf8_text(v)
        headers[name] = value  # 1.0: the single-value map holds the last value
        multi.setdefault(name, []).append(value)
    query: Dict[str, str] = {}
    multi_query: Dict[str, List[str]] = {}
    for qk, qv in query_pairs(req.query):
        key, val = qk.decode("utf-8", "replace"), qv.decode("utf-8", "replace")
        query[key] = val
        multi_query.setdefault(key, []).append(val)
    body, b64 = body_field(req, headers.get("Content-Type"))
    domain, prefix = _host_parts(headers)
    path = utf8_text(req.path)
    return {
        "version": "1.0",
        "resource": path,
        "path": path,
        "httpMethod": req.method,
        "headers": headers,
        "multiValueHeaders": multi,
        "queryStringParameters": query or None,
        "multiValueQueryStringParameters": multi_query or None,
        "requestContext": {
            "accountId": "anonymous",
            "apiId": prefix,
            "domainName": domain,
            "domainPrefix": prefix,
            "extendedRequestId": req.execution_id,
            "httpMethod": req.method,
            "identity": {"sourceIp": "", "userAgent": headers.get("User-Agent", "")},
            "path": path,
            "protocol": req.version,
            "requestId": req.execution_id,
            "requestTime": request_time(now),
            "requestTimeEpoch": int(now * 1000),
            "resourceId": None,
            "resourcePath": path,
            "stage": "$default",
        },
        "pathParameters": None,
        "stageVariables": None,
        "body": body,
        "isBase64Encoded": b64,
    }


class CognitoIdentity:
    """``context.identity``: always empty here (no Cognito)."""

    def __init__(self) -> None:
        self.cognito_identity_id: Optional[str] = None
        self.cognito_identity_pool_id: Optional[str] = None


class LambdaContext:
    """The attributes of the Python runtime's context object.

    Values AWS reads from its own environment (``AWS_LAMBDA_FUNCTION_NAME``,
    ``..._VERSION``, ``..._MEMORY_SIZE``, ``AWS_LAMBDA_LOG_GROUP_NAME``,
    ``..._STREAM_NAME``) are taken from the same variables when set; otherwise the
    function id, ``$LATEST``, the container's memory limit and "".
    """

    def __init__(self, req: Request, deadline_ms: int, static: Dict[str, Any]) -> None:
        self.aws_request_id = req.execution_id
        self.function_name: str = static["function_name"] or function_name(req.function_id, "function")
        self.function_version: str = static["function_version"]
        self.memory_limit_in_mb: Optional[str] = static["memory_limit_in_mb"]
        self.invoked_function_arn = (
            f"arn:aws:lambda:local:{req.organization_id or 'anonymous'}:function:{self.function_name}"
        )
        self.log_group_name: str = static["log_group_name"]
        self.log_stream_name: str = static["log_stream_name"]
        self.identity = CognitoIdentity()
        self.client_context = None
        self.tenant_id = None
        self._deadline_ms = deadline_ms

    def get_remaining_time_in_millis(self) -> int:
        return max(0, self._deadline_ms - int(time.time() * 1000))

    def log(self, msg: Any) -> None:
        sys.stdout.write(str(msg))


def static_context() -> Dict[str, Any]:
    """What the context takes from the environment, read once at start-up."""
    env = os.environ
    memory = env.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE") or _memory_mb() or None
    return {
        "function_name": env.get("AWS_LAMBDA_FUNCTION_NAME", ""),
        "function_version": env.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST"),
        "memory_limit_in_mb": memory,
        "log_group_name": env.get("AWS_LAMBDA_LOG_GROUP_NAME", ""),
        "log_stream_name": env.get("AWS_LAMBDA_LOG_STREAM_NAME", ""),
    }


def _body(result: Dict[str, Any]) -> Tuple[bytes, Header]:
    body = result.get("body")
    if body is None:
        return b"", CT_JSON
    if isinstance(body, str):
        if result.get("isBase64Encoded") is True:
            try:
                return base64.b64decode(body, validate=True), CT_BYTES
            except (binascii.Error, ValueError):
                raise ValueError("isBase64Encoded is true but body is not valid base64") from None
        return body.encode("utf-8"), CT_JSON
    if isinstance(body, (bytes, bytearray)):
        return bytes(body), CT_BYTES
    return dumps(body), CT_JSON  # AWS wants a string; JSON rather than failing


def encode(result: Any, version: str = "2.0") -> Response:
    """Map the handler's return value to a Response (see the module docstring)."""
    if version == "raw":  # Invoke returns the value as JSON, whatever it is
        return json_result(result)
    if not (isinstance(result, dict) and "statusCode" in result):
        if version == "1.0":
            raise ValueError(
                "payload format 1.0 needs a dict with statusCode (and headers, body); "
                f"got {type(result).__name__}"
            )
        return json_result(result)
    status = status_code(result["statusCode"])
    data, ct = _body(result)
    headers = proxy_headers(result, multi=version == "1.0")
    if version != "1.0":
        cookies = result.get("cookies") or []
        if isinstance(cookies, str):
            cookies = [cookies]
        headers.extend(("Set-Cookie", header_value(c)) for c in cookies)
    return with_content_type(status, headers, data, ct)


PAYLOADS = ("2.0", "1.0", "raw")
#: The manifest's ``convention_options.payload`` (``--lambda-payload``), set by :func:`configure`.
_built_payload = ""

DEFAULT_REGION = "us-east-1"


def payload_version() -> str:
    """``IGNITE_LAMBDA_PAYLOAD``, else the build's ``--lambda-payload``, else ``2.0`` (function URLs)."""
    value = os.environ.get("IGNITE_LAMBDA_PAYLOAD", "").strip() or _built_payload or "2.0"
    if value not in PAYLOADS:
        raise ValueError(f"IGNITE_LAMBDA_PAYLOAD must be one of {', '.join(PAYLOADS)}, not {value!r}")
    return value


def function_name(function_id: str, module: str) -> str:
    """A name Lambda accepts (letters, digits, ``-``, ``_``; at most 64): ``org/fn`` -> ``org-fn``."""
    name = "".join(c if (c.isascii() and c.isalnum()) or c in "-_" else "-" for c in function_id)[:64]
    return name.strip("-") or module.replace(".", "-")[:64] or "function"


def lambda_environment(root: str, module: str, function: str, env: Dict[str, str]) -> Dict[str, str]:
    """The variables the Lambda Python runtime sets, for those *env* does not already hold."""
    name = env.get("AWS_LAMBDA_FUNCTION_NAME") or function_name(env.get("IGNITE_FUNCTION_ID", ""), module)
    version = env.get("AWS_LAMBDA_FUNCTION_VERSION") or "$LATEST"
    region = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or DEFAULT_REGION
    memory = env.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE") or _memory_mb()
    day = time.strftime("%Y/%m/%d", time.gmtime())
    values = {
        "LAMBDA_TASK_ROOT": root,
        "LAMBDA_RUNTIME_DIR": os.path.join(root, "__ignite__"),
        "_HANDLER": f"{module}.{function}",
        "AWS_LAMBDA_FUNCTION_NAME": name,
        "AWS_LAMBDA_FUNCTION_VERSION": version,
        "AWS_REGION": region,
        "AWS_DEFAULT_REGION": region,
        "AWS_EXECUTION_ENV": f"AWS_Lambda_python{sys.version_info[0]}.{sys.version_info[1]}",
        "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{name}",
        "AWS_LAMBDA_LOG_STREAM_NAME": f"{day}/[{version}]{os.urandom(16).hex()}",
    }
    if memory:
        values["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] = memory
    return {k: v for k, v in values.items() if not env.get(k)}


def configure(root: str, manifest: Dict[str, Any], module: str, function: str) -> None:
    """Before the import: the build's payload format, and the Lambda runtime's environment."""
    global _built_payload
    options = manifest.get("convention_options") or {}
    payload = options.get("payload") if isinstance(options, dict) else None
    _built_payload = payload if isinstance(payload, str) else ""
    os.environ.update(lambda_environment(root, module, function, dict(os.environ)))


def _memory_mb() -> str:
    mb = memory_limit_mb()
    if mb is None:
        try:
            mb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // (1024 * 1024)
        except (ValueError, OSError, AttributeError):
            return ""
    return str(mb)


#: A raw payload that is not JSON: a 400 ``{"error", "type": "BadRequest"}``, the handler not called.
BadEvent = BadRequest


def event_raw(req: Request, now: float) -> Any:
    """``--lambda-payload raw``: the JSON body is the event, as the Invoke API passes it."""
    if not req.body.strip():
        return {}
    try:
        return json.loads(req.body)
    except ValueError as exc:  # UnicodeDecodeError too
        raise BadEvent(f"the request body is not valid JSON (the raw payload is the event): {exc}") from None


def make_invoker(fn: Callable[..., Any]) -> Invoke:
    """Wrap ``fn(event, context)`` into ``invoke(Request) -> Response`` (async when *fn* is)."""
    version = payload_version()
    build_event: Callable[[Request, float], Any] = {"1.0": event_v1, "raw": event_raw}.get(version, event_v2)
    static = static_context()
    timeout_ms = int(timeout_s() * 1000)

    def call(req: Request) -> Any:
        now = time.time()
        return fn(build_event(req, now), LambdaContext(req, int(now * 1000) + timeout_ms, static))

    return make_invoke(fn, call, functools.partial(encode, version=version))
