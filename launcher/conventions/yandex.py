"""Yandex Cloud Functions (seed 003): ``handler(event, context)``, sync or ``async def``.

Request -> ``event``, the HTTP-integration dict of seed 003's example:
  ``httpMethod``, ``headers`` (canonical names, repeated values joined with
  ", "), ``multiValueHeaders``, ``queryStringParameters`` (last value wins),
  ``multiValueQueryStringParameters``, ``params``/``multiValueParams``/
  ``pathParams`` (``{}``: there is no API gateway), ``requestContext``
  (``httpMethod``, ``identity.userAgent``, ``identity.sourceIp`` = "" (the core
  does not expose the peer), ``requestId`` = the execution id, ``requestTime``,
  ``requestTimeEpoch``), ``body`` (str) with ``isBase64Encoded`` (true only when
  the body is not valid UTF-8, then ``body`` is base64) and ``url`` ("").
  With ``?integration=raw`` the event is the body itself: ``json.loads`` of it
  when it is a JSON document, else the text (or bytes when not UTF-8).

``context``: the fields of seed 003's example (``request_id``/``aws_request_id``
= the execution id, ``function_name``/``invoked_function_arn`` = the function id,
``function_version``/``log_group_name``/``log_stream_name`` = "" (unknown here), ``memory_limit_in_mb`` from the cgroup limit, ``deadline_ms``
from IGNITE_TIMEOUT_S, ``token`` = None: there is no IAM token here), plus
``get_remaining_time_in_millis()``.  ``vars(context)`` is JSON-serialisable, as
the document's ``json.dumps(..., default=vars)`` example needs.

Return value -> response: a dict with ``statusCode`` gives the status,
``headers``/``multiValueHeaders``, ``body`` (str; base64 when
``isBase64Encoded``); anything else is a 200 with the value as JSON.
Exceptions are the core's 500 ``{error, type, traceback}``.
"""

from __future__ import annotations

import base64
import binascii
import json
import time

from ..protocol import (
    CT_BYTES,
    CT_JSON,
    CT_TEXT,
    Request,
    Response,
    dumps,
    json_result,
    make_invoke,
    with_content_type,
)
from ._http import (
    canonical,
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

def is_raw(req: Request) -> bool:
    return any(k == b"integration" and v == b"raw" for k, v in query_pairs(req.query))


def raw_event(body: bytes) -> Any:
    """``?integration=raw``: the body as is; a JSON document becomes ``json.loads`` of it."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return body
    try:
        return json.loads(text)
    except ValueError:
        return text


def http_event(req: Request, now: float) -> Dict[str, Any]:
    headers: Dict[str, str] = {}
    multi: Dict[str, List[str]] = {}
    for k, v in req.headers:
        name, value = canonical(k), utf8_text(v)
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
        multi.setdefault(name, []).append(value)
    query: Dict[str, str] = {}
    multi_query: Dict[str, List[str]] = {}
    for qk, qv in query_pairs(req.query):
        key, val = qk.decode("utf-8", "replace"), qv.decode("utf-8", "replace")
        query[key] = val
        multi_query.setdefault(key, []).append(val)
    try:
        body, b64 = req.body.decode("utf-8"), False
    except UnicodeDecodeError:
        body, b64 = base64.b64encode(req.body).decode("ascii"), True
    return {
        "body": body,
        "headers": headers,
        "httpMethod": req.method,
        "isBase64Encoded": b64,
        "multiValueHeaders": multi,
        "multiValueParams": {},
        "multiValueQueryStringParameters": multi_query,
        "params": {},
        "pathParams": {},
        "queryStringParameters": query,
        "requestContext": {
            "httpMethod": req.method,
            "identity": {"sourceIp": "", "userAgent": headers.get("User-Agent", "")},
            "requestId": req.execution_id,
            "requestTime": request_time(now),
            "requestTimeEpoch": int(now),
        },
        "url": "",
    }


class Context:
    """The invocation context; only plain JSON values as attributes (``default=vars`` works)."""

    def __init__(self, req: Request, now: float, memory_mb: Optional[int], timeout: float) -> None:
        self.aws_request_id = req.execution_id
        self.deadline_ms = int((now + timeout) * 1000)
        self.function_name = req.function_id
        self.function_version = ""  # no version is known to the launcher
        self.invoked_function_arn = req.function_id
        self.log_group_name = ""
        self.log_stream_name = ""
        self.memory_limit_in_mb = memory_mb
        self.request_id = req.execution_id
        self.token: Optional[Dict[str, Any]] = None

    def get_remaining_time_in_millis(self) -> int:
        return max(0, self.deadline_ms - int(time.time() * 1000))


def encode(result: Any) -> Response:
    """Map the handler's return value to a Response (see the module docstring)."""
    if not (isinstance(result, dict) and "statusCode" in result):
        return json_result(result)
    status = status_code(result["statusCode"])
    body = result.get("body")
    b64 = result.get("isBase64Encoded") is True
    if body is None:
        data, ct = b"", CT_TEXT
    elif isinstance(body, str) and b64:
        try:
            data = base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            raise ValueError("isBase64Encoded is true but body is not valid base64") from None
        ct = CT_BYTES
    elif isinstance(body, str):
        data, ct = body.encode("utf-8"), CT_TEXT
    elif isinstance(body, (bytes, bytearray)):
        data, ct = bytes(body), CT_BYTES
    else:  # not a string: JSON, rather than failing a handler that returns a dict body
        data, ct = dumps(body), CT_JSON
    headers = proxy_headers(result, multi=True)
    return with_content_type(status, headers, data, ct)


#: Every method reaches the handler (yandex handlers see ``event["httpMethod"]``); the core
#: admits only POST unless an adapter says otherwise.
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def make_invoker(fn: Callable[..., Any]) -> Invoke:
    """Wrap ``fn(event, context)`` into ``invoke(Request) -> Response`` (async when *fn* is)."""
    memory_mb = memory_limit_mb()
    timeout = timeout_s()

    def call(req: Request) -> Any:
        now = time.time()
        event = raw_event(req.body) if is_raw(req) else http_event(req, now)
        return fn(event, Context(req, now, memory_mb, timeout))

    return make_invoke(fn, call, encode)
