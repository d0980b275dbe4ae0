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

``context``: the Python runtime's ``LambdaContext`` attributes and
``get_remaining_time_in_millis()`` (from IGNITE_TIMEOUT_S).

Return -> response, as function URLs infer it: a dict with ``statusCode`` gives
the status, ``headers``, ``cookies`` (one Set-Cookie each), ``body`` (base64
decoded when ``isBase64Encoded``); anything else (a dict without ``statusCode``,
a string, a list...) is a 200 ``application/json`` whose body is the value as
JSON.  Exceptions are the core's 500 ``{error, type, traceback}``.
"""

from __future__ import annotations

import base64
import binascii
import os
import sys
import time

from ..protocol import (
    CT_BYTES,
    CT_JSON,
    Request,
    Response,
    dumps,
    error_response,
    is_coroutine_function,
)
from ._http import header_value, proxy_headers, status_code, utf8_text
from .nuclio import canonical, query_pairs
from .yandex import memory_limit_mb, request_time, timeout_s

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
        self.function_name: str = static["function_name"] or req.function_id
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
    memory = env.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")
    if not memory:
        mb = memory_limit_mb()
        if mb is None:
            try:
                mb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // (1024 * 1024)
            except (ValueError, OSError, AttributeError):
                mb = None
        memory = str(mb) if mb is not None else None
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
    if not (isinstance(result, dict) and "statusCode" in result):
        if version == "1.0":
            raise ValueError(
                "payload format 1.0 needs a dict with statusCode (and headers, body); "
                f"got {type(result).__name__}"
            )
        return Response(200, [CT_JSON], dumps(result))
    status = status_code(result["statusCode"])
    data, ct = _body(result)
    headers = proxy_headers(result, multi=version == "1.0")
    if version != "1.0":
        cookies = result.get("cookies") or []
        if isinstance(cookies, str):
            cookies = [cookies]
        headers.extend(("Set-Cookie", header_value(c)) for c in cookies)
    if not any(k.lower() == "content-type" for k, _ in headers):
        headers.insert(0, ct)
    return Response(status, headers, data)


def payload_version() -> str:
    """``IGNITE_LAMBDA_PAYLOAD``: ``2.0`` (default, function URLs) or ``1.0``."""
    value = os.environ.get("IGNITE_LAMBDA_PAYLOAD", "").strip() or "2.0"
    if value not in ("1.0", "2.0"):
        raise ValueError(f"IGNITE_LAMBDA_PAYLOAD must be 1.0 or 2.0, not {value!r}")
    return value


def make_invoker(fn: Callable[..., Any]) -> Invoke:
    """Wrap ``fn(event, context)`` into ``invoke(Request) -> Response`` (async when *fn* is)."""
    version = payload_version()
    build_event = event_v1 if version == "1.0" else event_v2
    static = static_context()
    timeout_ms = int(timeout_s() * 1000)

    def arguments(req: Request) -> Tuple[Dict[str, Any], LambdaContext]:
        now = time.time()
        return build_event(req, now), LambdaContext(req, int(now * 1000) + timeout_ms, static)

    if is_coroutine_function(fn):

        async def invoke_async(req: Request) -> Response:
            try:
                return encode(await fn(*arguments(req)), version)
            except (Exception, SystemExit, KeyboardInterrupt, GeneratorExit) as exc:
                # asyncio.CancelledError (a timeout) is deliberately not caught.
                return error_response(exc, req)

        return invoke_async

    def invoke(req: Request) -> Response:
        try:
            return encode(fn(*arguments(req)), version)
        except BaseException as exc:
            return error_response(exc, req)

    return invoke
