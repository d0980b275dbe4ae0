"""OpenFaaS python3-flask template (``--convention openfaas-flask``): ``handle(req)``.

The reference is the template's ``index.py``: every path, methods GET and POST
(others are 405, as Flask answers), and ``handler.handle(request.get_data(as_text=True))``:
``req`` is the body as text (decoded as UTF-8, undecodable bytes replaced), or the raw
bytes when the environment sets ``RAW_BODY`` to ``true`` or ``1`` (the template's switch).

Return value -> response, as Flask makes one from a view's return value:
  str or bytes -> 200 ``text/html; charset=utf-8``;
  dict or list -> 200 ``application/json`` (Flask's JSON: sorted keys, compact, a final newline);
  a tuple ``(body, status)``, ``(body, headers)`` or ``(body, status, headers)``;
  None or any other type -> 500 (Flask: "The view function did not return a valid response").
Exceptions are the core's 500 ``{error, type, traceback}``.
"""

from __future__ import annotations

import json
import os

from ..protocol import Request, Response, make_invoke, with_content_type
from ._http import header_value, status_code

TYPE_CHECKING = False
if TYPE_CHECKING:  # ``typing`` costs ~6 ms of start-up; annotations are strings
    from typing import Any, Callable, List, Tuple

    from ..protocol import Invoke
    Header = Tuple[str, str]

#: The template routes GET and POST; the core answers other methods 405.
METHODS = ("GET", "POST")

CT_HTML: Header = ("Content-Type", "text/html; charset=utf-8")
CT_FLASK_JSON: Header = ("Content-Type", "application/json")


def raw_body() -> bool:
    """The template's ``is_true(os.getenv("RAW_BODY", "false"))``."""
    val = os.environ.get("RAW_BODY", "false")
    return (len(val) > 0 and val.lower() == "true") or val == "1"


def _body(value: Any) -> Tuple[bytes, Header]:
    if isinstance(value, str):
        return value.encode("utf-8"), CT_HTML
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value), CT_HTML
    if isinstance(value, (dict, list)):
        text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
        return (text + "\n").encode("utf-8"), CT_FLASK_JSON
    raise TypeError(
        f"The view function did not return a valid response: handle() returned {type(value).__name__}; "
        "return a string, dict, list, tuple or bytes"
    )


def _headers(value: Any) -> List[Header]:
    items = value.items() if hasattr(value, "items") else value
    return [(str(k), header_value(v)) for k, v in items]


def encode(result: Any) -> Response:
    """Flask's make_response for the value types the template's handlers return."""
    status, extra = 200, []
    if isinstance(result, tuple):
        if len(result) == 3:
            result, status, hs = result
            extra = _headers(hs)
        elif len(result) == 2:
            result, second = result
            if isinstance(second, (dict, list)) or hasattr(second, "items"):
                extra = _headers(second)
            else:
                status = second
        else:
            raise TypeError("The view function did not return a valid response tuple: "
                            "use (body, status), (body, headers) or (body, status, headers)")
        status = status_code(status)
    body, ct = _body(result)
    return with_content_type(status, extra, body, ct)


def make_invoker(fn: Callable[..., Any]) -> Invoke:
    """Wrap ``handle(req)`` into ``invoke(Request) -> Response`` (async when *fn* is)."""
    if raw_body():

        def call(req: Request) -> Any:
            return fn(req.body)

    else:

        def call(req: Request) -> Any:
            return fn(req.body.decode("utf-8", "replace"))

    return make_invoke(fn, call, encode)
