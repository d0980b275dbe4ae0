"""nuclio's handler types: ``Context``, ``Event``, ``Response``, ``Logger`` and the return rules.

Shared by the ``nuclio`` adapter and by ``digitalhub`` (whose serve runtime runs on
nuclio and hands functions nuclio's ``context`` and ``event``).  Not an adapter:
importing it installs nothing; only ``nuclio.py`` provides the ``nuclio_sdk`` stand-in.
See ``nuclio.py`` for the mapping these types implement.
"""

from __future__ import annotations

import atexit
import contextvars
import json
import os
import signal
import sys
import threading
import time

from .. import protocol
from ..protocol import (
    CT_BYTES,
    CT_JSON,
    CT_TEXT,
    Request,
    Response,
    dumps,
    format_exception,
    with_content_type,
)
from ._http import canonical, query_pairs

TYPE_CHECKING = False
if TYPE_CHECKING:  # ``typing`` costs ~6 ms of start-up; annotations are strings
    from typing import Any, Callable, Dict, List, Optional, Tuple

    Header = Tuple[str, str]

#: Where make_invoker keeps the context its handler receives (for the init hook).
CONTEXT_ATTR = "nuclio_context"


class Headers(dict):  # type: ignore[type-arg]
    """A plain dict (JSON-serialisable, iterates canonical names) with case-insensitive lookups."""

    def _key(self, key: Any) -> Any:
        if isinstance(key, str):
            return canonical(key.lower())
        if isinstance(key, bytes):
            return canonical(key.decode("latin-1").lower()).encode("latin-1")
        return key

    def __getitem__(self, key: Any) -> Any:
        return dict.__getitem__(self, self._key(key))

    def __contains__(self, key: object) -> bool:
        return dict.__contains__(self, self._key(key))

    def get(self, key: Any, default: Any = None) -> Any:
        return dict.get(self, self._key(key), default)


def decode_strings() -> bool:
    """Seed 002: ``NUCLIO_PYTHON_DECODE_EVENT_STRINGS=disabled`` serves metadata as bytes."""
    return os.environ.get("NUCLIO_PYTHON_DECODE_EVENT_STRINGS", "").strip().lower() != "disabled"


def _text(raw: str, decode: bool) -> Any:
    """A latin-1 str from the core -> UTF-8 str (decode) or the original bytes."""
    data = raw.encode("latin-1", "replace")
    return data.decode("utf-8", "replace") if decode else data


#: nuclio-sdk-py decodes the body when the event's content type is exactly this.
JSON_CONTENT_TYPE = "application/json"


def json_body(body: bytes) -> Any:
    """What nuclio-sdk-py's ``_try_deserialize_json`` does: the JSON value, else (logged) the bytes."""
    try:
        return json.loads(body.decode("utf-8"))
    except Exception as exc:
        protocol.error_sink(f"nuclio: failed deserializing json body, error message: {exc} (event.body stays bytes)")
        return body


class TriggerInfo:
    def __init__(self, klass: str = "sync", kind: str = "http") -> None:
        self.klass = klass
        self.kind = kind


class Event:
    """What ``handler(context, event)`` receives for one HTTP request."""

    def __init__(self, req: Request, decode: bool = True) -> None:
        hs = Headers()
        for k, v in req.headers:  # a repeated header: its values joined with ", " (RFC 9110)
            name: Any = _text(canonical(k), decode)
            value = _text(v, decode)
            if name in hs:
                value = hs[name] + (", " if decode else b", ") + value
            hs[name] = value
        fields: Dict[Any, Any] = {}
        for qk, qv in query_pairs(req.query):
            fields[qk.decode("utf-8", "replace") if decode else qk] = qv.decode("utf-8", "replace") if decode else qv
        ct = req.header("content-type")
        url = req.path + ("?" + req.query if req.query else "")
        self.body = json_body(req.body) if ct == JSON_CONTENT_TYPE else req.body
        self.content_type = _text(ct, decode) if ct is not None else ("" if decode else b"")
        self.trigger = TriggerInfo()
        self.fields = fields
        self.headers = hs
        self.id = req.execution_id
        self.method = _text(req.method, decode)
        self.path = _text(req.path, decode)
        self.size = len(req.body)
        self.timestamp = time.time()
        self.url = _text(url, decode)
        self.shard_id = None
        self.num_shards = None
        self.type = None
        self.type_version = None
        self.version = None

    def get_header(self, name: str) -> Any:
        return self.headers.get(name)

    def __repr__(self) -> str:
        return f"Event({self.method!r} {self.path!r} {self.size}B id={self.id})"


class NuclioResponse:
    """``context.Response(body, headers, content_type, status_code)`` as in nuclio's SDK."""

    def __init__(
        self,
        headers: Optional[Dict[str, Any]] = None,
        body: Any = None,
        content_type: Optional[str] = None,
        status_code: int = 200,
        event_id: Optional[str] = None,
    ) -> None:
        self.headers = headers or {}
        self.body = body
        self.status_code = status_code
        self.content_type = content_type or "text/plain"
        self.event_id = event_id

    def __repr__(self) -> str:
        return f"Response(status_code={self.status_code!r}, content_type={self.content_type!r})"


_execution: contextvars.ContextVar[str] = contextvars.ContextVar("nuclio_execution_id", default="")


class Logger:
    """nuclio's structured logger: one JSON line per call on stdout (the user's log stream)."""

    def __init__(self, name: str = "handler") -> None:
        self.name = name
        self._lock = threading.Lock()

    def _log(self, level: str, message: Any, args: Tuple[Any, ...], with_: Optional[Dict[str, Any]]) -> None:
        text = str(message)
        if args:
            try:
                text = text % args
            except (TypeError, ValueError):
                text = " ".join([text, *map(str, args)])
        record: Dict[str, Any] = {
            "time": round(time.time(), 3),
            "level": level,
            "name": self.name,
            "message": text,
        }
        rid = _execution.get()
        if rid:
            record["execution_id"] = rid
        if with_:
            record["with"] = with_
        line = json.dumps(record, default=repr)
        with self._lock:
            sys.stdout.write(line + "\n")
            sys.stdout.flush()

    def debug(self, message: Any, *args: Any) -> None:
        self._log("debug", message, args, None)

    def info(self, message: Any, *args: Any) -> None:
        self._log("info", message, args, None)

    def warn(self, message: Any, *args: Any) -> None:
        self._log("warn", message, args, None)

    warning = warn

    def error(self, message: Any, *args: Any) -> None:
        self._log("error", message, args, None)

    def debug_with(self, message: Any, *args: Any, **kw_args: Any) -> None:
        self._log("debug", message, args, kw_args)

    def info_with(self, message: Any, *args: Any, **kw_args: Any) -> None:
        self._log("info", message, args, kw_args)

    def warn_with(self, message: Any, *args: Any, **kw_args: Any) -> None:
        self._log("warn", message, args, kw_args)

    warning_with = warn_with

    def error_with(self, message: Any, *args: Any, **kw_args: Any) -> None:
        self._log("error", message, args, kw_args)


class Platform:
    """``context.platform``: only the documented termination callback."""

    def __init__(self) -> None:
        self._callback: Optional[Callable[[], Any]] = None
        self._registered = False
        self._lock = threading.Lock()

    def set_termination_callback(self, callback: Callable[[], Any]) -> None:
        """Seed 002: called once when the process is about to exit (the latest one set wins).

        It runs when SIGTERM/SIGINT arrives (the launcher then drains and exits with
        ``os._exit``, which skips ``atexit``), else at a normal interpreter exit.
        """
        with self._lock:
            self._callback = callback

    def install(self) -> None:
        """Hook exit and the stop signals; called from the main thread by make_invoker."""
        if self._registered:
            return
        self._registered = True
        atexit.register(self._terminate)
        for sig in (signal.SIGTERM, signal.SIGINT):
            try:
                previous = signal.getsignal(sig)
                signal.signal(sig, self._chain(previous))
            except (ValueError, OSError, TypeError):  # not the main thread: atexit only
                pass

    def _chain(self, previous: Any) -> Callable[[int, Any], None]:
        def on_signal(signum: int, frame: Any) -> None:
            self._terminate()
            if callable(previous):
                previous(signum, frame)

        return on_signal

    def _terminate(self) -> None:
        with self._lock:
            cb, self._callback = self._callback, None
        if cb is None:
            return
        try:
            cb()
        except BaseException as exc:
            protocol.error_sink("nuclio termination callback raised:\n" + format_exception(exc).rstrip())


class UserData:
    """``context.user_data``: a place for a handler's own state."""


class Context:
    def __init__(self) -> None:
        self.logger = Logger()
        self.platform = Platform()
        self.Response = NuclioResponse
        self.user_data = UserData()
        self.worker_id = 0
        self.trigger = TriggerInfo()
        self.trigger_name = "http"


# --- return value -> Response --------------------------------------------------------


def _status(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 100 <= value <= 599:
        raise ValueError(f"nuclio handler returned an invalid status code {value!r} (need an int 100..599)")
    return value


def _body(body: Any) -> Tuple[bytes, Header]:
    """A body and the content type its type implies."""
    if body is None:
        return b"", CT_TEXT
    if isinstance(body, str):
        return body.encode("utf-8"), CT_TEXT
    if isinstance(body, (bytes, bytearray, memoryview)):
        return bytes(body), CT_BYTES
    if isinstance(body, (dict, list)):
        return dumps(body), CT_JSON
    return str(body).encode("utf-8"), CT_TEXT


def _is_response_object(result: Any) -> bool:
    return all(hasattr(result, a) for a in ("body", "status_code", "headers", "content_type"))


def encode(result: Any) -> Response:
    """Map a nuclio handler's return value to a Response (see the module docstring)."""
    if isinstance(result, tuple) and len(result) == 2:
        body, ct = _body(result[1])
        return Response(_status(result[0]), [ct], body)
    if _is_response_object(result):
        body, ct = _body(result.body)
        if isinstance(result.body, (str, bytes, bytearray, memoryview)) and result.content_type:
            ct = ("Content-Type", str(result.content_type))
        headers: List[Header] = []
        raw = result.headers or {}
        items = raw.items() if hasattr(raw, "items") else raw
        for k, v in items:
            headers.append((str(k), v if isinstance(v, str) else str(v)))
        return with_content_type(_status(result.status_code), headers, body, ct)
    body, ct = _body(result)
    return Response(200, [ct], body)


#: Every method reaches the handler (nuclio handlers see ``event.method``); the core
#: admits only POST unless an adapter says otherwise.
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
