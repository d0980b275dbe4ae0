"""nuclio (seed 002): ``handler(context, event)``, sync or ``async def``.

Request -> ``event``:
  ``body`` the raw request body as bytes, except with ``Content-Type:
  application/json`` (exactly, as nuclio-sdk-py compares it): then the decoded
  JSON value (``event.body["image"]``), or the bytes when the body is not valid
  UTF-8 JSON (the SDK's behaviour: the failure is logged, the handler still runs);
  ``method``, ``path`` (no query), ``headers`` (a dict with canonical names,
  looked up case-insensitively), ``content_type``, ``fields`` (query
  parameters, last value wins), ``url`` (path and query), ``id`` (the execution
  id), ``size``, ``timestamp`` (epoch seconds, float), ``trigger.kind == "http"``.
  Metadata (everything but the body) is str, decoded as UTF-8; with
  ``NUCLIO_PYTHON_DECODE_EVENT_STRINGS=disabled`` it is bytes, as documented.

``context``: one object for the process (attributes a handler sets persist):
  ``logger`` with ``debug/info/warn/warning/error`` and the ``*_with`` variants
  (JSON lines on stdout), ``Response`` (the response class), ``user_data``,
  ``worker_id`` and ``platform.set_termination_callback(callback)``, called once
  when SIGTERM/SIGINT arrives (as the drain starts) or at a normal exit.

Return value -> response: str (text/plain), bytes (application/octet-stream),
dict/list (JSON), ``(status, body)``, or a response object with ``body``,
``status_code``, ``headers`` and ``content_type`` (``context.Response``, or
nuclio_sdk's own if vendored).  None is an empty 200; other values are ``str()``.
Exceptions are the core's 500 ``{error, type, traceback}``.

``import nuclio_sdk`` (seed 002's examples annotate with ``nuclio_sdk.Context``/
``nuclio_sdk.Event``) works without the SDK installed: when no such module is on
sys.path (a vendored nuclio-sdk wins), the launcher provides one with these
classes (``Context``, ``Event``, ``Response``, ``Logger``, ``TriggerInfo``).
"""

from __future__ import annotations

from ..protocol import InitHook, Request, make_invoke
from ._nuclio import (
    CONTEXT_ATTR,
    METHODS,
    Context,
    Event,
    Logger,
    NuclioResponse,
    TriggerInfo,
    _execution,
    decode_strings,
    encode,
)
from ._sdk import SdkStandIn

TYPE_CHECKING = False
if TYPE_CHECKING:  # ``typing`` costs ~6 ms of start-up; annotations are strings
    from typing import Any, Callable, Dict, Optional

    from ..protocol import Invoke

__all__ = ["CONTEXT_ATTR", "METHODS", "Context", "Event", "Logger", "NuclioResponse", "TriggerInfo", "encode",
           "init_hook", "make_invoker"]


def make_invoker(fn: Callable[..., Any]) -> Invoke:
    """Wrap ``fn(context, event)`` into ``invoke(Request) -> Response`` (async when *fn* is)."""
    context = Context()
    context.platform.install()
    decode = decode_strings()

    def call(req: Request) -> Any:
        return fn(context, Event(req, decode))

    invoke = make_invoke(fn, call, encode, _execution)  # the logger's execution_id
    setattr(invoke, CONTEXT_ATTR, context)
    return invoke


INIT_CONTEXT = "init_context"


def init_hook(invoke: Invoke, module: Any, entry: Dict[str, Any]) -> Optional[InitHook]:
    """nuclio's ``init_context(context)``: called once, with the handler's own context,
    after the import and before the first event (nuclio's Python wrapper does the same)."""
    init = getattr(module, INIT_CONTEXT, None)
    if not callable(init):
        return None
    return InitHook(INIT_CONTEXT, init, getattr(invoke, CONTEXT_ATTR))


# --- ``import nuclio_sdk`` without the SDK ------------------------------------------------

SDK_MODULE = "nuclio_sdk"


SdkStandIn(SDK_MODULE, {
    "Context": Context, "Event": Event, "Response": NuclioResponse, "Logger": Logger, "TriggerInfo": TriggerInfo,
    "__doc__": "ignite launcher stand-in for nuclio_sdk (the classes its handlers use)",
}).install()
