"""The two types every convention adapter speaks: :class:`Request` and :class:`Response`.

Plus the one invoker every adapter uses (:func:`make_invoke`: sync or async, the
exception-to-response policy, the encoding step) and the helpers adapters need to
build responses: JSON encoding that names the first value JSON cannot encode, and
the ``{error, type, traceback}`` 500 body.  The server core knows nothing about any
particular handler style.
"""

from __future__ import annotations

import json
import os
import sys
import traceback

TYPE_CHECKING = False
if TYPE_CHECKING:  # ``typing`` costs ~6 ms of start-up; annotations are strings
    from contextvars import ContextVar
    from typing import Any, Awaitable, Callable, List, Optional, Tuple, Union

    Header = Tuple[str, str]
    #: What a convention's ``make_invoker`` returns: sync, or a coroutine function.
    Invoke = Callable[["Request"], Union["Response", Awaitable["Response"]]]


CT_JSON: Header = ("Content-Type", "application/json")
CT_TEXT: Header = ("Content-Type", "text/plain; charset=utf-8")
CT_BYTES: Header = ("Content-Type", "application/octet-stream")

_PKG_DIR = os.path.dirname(os.path.abspath(__file__))


class Request:
    """One complete HTTP request, as the server hands it to an adapter.

    ``headers`` keeps arrival order; names are lower-cased, values are str
    (decoded as latin-1, as HTTP/1.1 defines).  ``body`` is the full de-chunked
    payload.  The three ids are already resolved (request header > environment;
    the execution id is generated when the client sent none).
    """

    __slots__ = (
        "body",
        "execution_id",
        "function_id",
        "headers",
        "method",
        "organization_id",
        "path",
        "query",
        "version",
    )

    def __init__(
        self,
        method: str,
        path: str,
        query: str,
        headers: List[Header],
        body: bytes,
        execution_id: str,
        function_id: str,
        organization_id: str,
        version: str = "HTTP/1.1",
    ) -> None:
        self.method = method
        self.path = path
        self.query = query
        self.headers = headers
        self.body = body
        self.execution_id = execution_id
        self.function_id = function_id
        self.organization_id = organization_id
        self.version = version

    def header(self, name: str, default: Optional[str] = None) -> Optional[str]:
        """The first value of header *name* (case-insensitive), or *default*."""
        name = name.lower()
        for k, v in self.headers:
            if k == name:
                return v
        return default

    def __repr__(self) -> str:
        return f"Request({self.method} {self.path} id={self.execution_id} {len(self.body)}B)"


class Response:
    """What an adapter returns: status, extra headers, body bytes.

    The server adds Content-Length, Date, Connection and X-Ignite-Execution-Id;
    header names/values must not contain CR or LF (such a response becomes a 500).
    """

    __slots__ = ("body", "headers", "status")

    def __init__(self, status: int, headers: List[Header], body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body

    def __repr__(self) -> str:
        return f"Response({self.status}, {len(self.body)}B)"


def _make_encode() -> Callable[[Any], str]:
    """``json.dumps(obj)``, the same text and the same behaviour, minus its Python layers.

    ``json.dumps(obj)`` runs three Python functions (and defines a closure) before the C
    encoder starts: ~2.2 µs of a small dict's 2.2 µs.  This builds the C encoder directly,
    as ``JSONEncoder.iterencode`` does, from ``json``'s default encoder at each call: a
    fresh circular-reference set per call (a cycle fails at once, as in json.dumps; one
    set shared by threads would see another thread's object as a cycle), and a
    ``JSONEncoder.default`` patched later (json-fix and the like) is honoured: ~1.5 µs.
    If ``json.dumps`` or ``JSONEncoder.encode``/``iterencode`` were replaced, or the C
    encoder is missing, it is ``json.dumps`` itself.
    """
    from json import encoder

    make = getattr(encoder, "c_make_encoder", None)  # typeshed does not declare it
    if make is None:  # pragma: no cover - other implementations
        return json.dumps
    escape = encoder.encode_basestring_ascii
    cls = json.JSONEncoder
    dumps, encode, iterencode = json.dumps, cls.encode, cls.iterencode

    def text(obj: Any) -> str:
        if json.dumps is not dumps or cls.encode is not encode or cls.iterencode is not iterencode:
            return json.dumps(obj)
        plain = json._default_encoder  # type: ignore[attr-defined]  # what json.dumps(obj) uses
        one = make({}, plain.default, escape, None, plain.key_separator, plain.item_separator,
                   False, False, True)
        return "".join(one(obj, 0))

    return text


#: ``json.dumps(obj)`` (same text), faster; see :func:`_make_encode`.
json_text = _make_encode()


def json_response(status: int, obj: Any, headers: Optional[List[Header]] = None) -> Response:
    hs = [CT_JSON]
    if headers:
        hs.extend(headers)
    return Response(status, hs, json_text(obj).encode("utf-8"))


def json_result(result: Any) -> Response:
    """A 200 whose body is a handler's return value as JSON (:class:`EncodeError` naming the path)."""
    return Response(200, [CT_JSON], dumps(result))


def with_content_type(status: int, headers: List[Header], body: bytes, content_type: Header) -> Response:
    """A Response whose Content-Type is *content_type*, unless *headers* (the handler's) give one."""
    for name, _ in headers:
        if name.lower() == "content-type":
            break
    else:
        headers.insert(0, content_type)
    return Response(status, headers, body)


# --- JSON with a path to the first unencodable value --------------------------------


def _key_path(path: str, key: Any) -> str:
    if isinstance(key, str) and key.isidentifier():
        return f"{path}.{key}"
    text = json.dumps(key) if isinstance(key, str) else repr(key)
    return f"{path}[{text}]"


def find_unencodable(obj: Any, path: str = "$") -> Optional[str]:
    """Where ``json.dumps`` would fail on *obj*: e.g. ``"$.rows[3].ts: datetime"``.

    Mirrors the default encoder's rules (dict keys str/int/float/bool/None;
    values dict, list, tuple, str, int, float, bool, None).  Returns None when
    nothing is found (then the failure was something else, e.g. a custom
    ``__str__`` of a float subclass).  Iterative, so deep values cannot blow the stack.
    """
    scalars = (str, int, float, bool)
    on_path: set[int] = set()
    # Paths are built only for the culprit: each node keeps its parent's index and its
    # own segment, so a deep value costs O(size), not O(depth^2) string building.
    parents: List[int] = [-1]
    segments: List[str] = [path]

    def path_of(node: int) -> str:
        parts = []
        while node >= 0:
            parts.append(segments[node])
            node = parents[node]
        return "".join(reversed(parts))

    # Stack of (value, node, exiting?) — exiting entries pop a container from on_path.
    stack: List[Tuple[Any, int, bool]] = [(obj, 0, False)]
    while stack:
        value, node, leaving = stack.pop()
        if leaving:
            on_path.discard(id(value))
            continue
        if value is None or isinstance(value, scalars):
            continue
        if isinstance(value, (dict, list, tuple)):
            if id(value) in on_path:
                return f"{path_of(node)}: circular reference"
            on_path.add(id(value))
            stack.append((value, node, True))
            children: List[Tuple[Any, int, bool]] = []
            if isinstance(value, dict):
                for k, v in value.items():
                    if not (k is None or isinstance(k, scalars)):
                        return f"{path_of(node)}: key of type {type(k).__name__}"
                    parents.append(node)
                    segments.append(_key_path("", k))
                    children.append((v, len(segments) - 1, False))
            else:
                for i, v in enumerate(value):
                    parents.append(node)
                    segments.append(f"[{i}]")
                    children.append((v, len(segments) - 1, False))
            stack.extend(reversed(children))
            continue
        return f"{path_of(node)}: {type(value).__name__}"
    return None


class EncodeError(TypeError):
    """A handler's return value that JSON cannot encode; the message names the path."""


def dumps(obj: Any) -> bytes:
    """``json.dumps(obj)`` as UTF-8 bytes, raising :class:`EncodeError` naming the bad path."""
    try:
        return json_text(obj).encode("utf-8")
    except (TypeError, ValueError, RecursionError) as exc:
        where = None
        try:
            where = find_unencodable(obj)
        except Exception:
            pass
        detail = where or str(exc)
        raise EncodeError(f"return value is not JSON serializable: {detail}") from None


# --- errors ------------------------------------------------------------------------


def format_exception(exc: BaseException) -> str:
    """The standard traceback text, minus the launcher's own leading frames."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename.startswith(_PKG_DIR):
        tb = tb.tb_next
    try:
        return "".join(traceback.format_exception(type(exc), exc, tb))
    except Exception:  # a broken __str__ etc. must not hide the original error
        return f"{type(exc).__name__}: <unprintable>\n"


def error_info(exc: BaseException) -> dict[str, str]:
    """``{"error", "type", "traceback"}`` for *exc* (the seed's 500 body)."""
    try:
        message = str(exc)
    except Exception:
        message = "<unprintable exception>"
    return {"error": message, "type": type(exc).__name__, "traceback": format_exception(exc)}


def _stderr_sink(text: str) -> None:
    sys.stderr.write(text + "\n")


#: Where adapters send handler tracebacks; main() points it at the launcher's logger.
error_sink: Callable[[str], None] = _stderr_sink


def error_response(exc: BaseException, request: Optional[Request] = None) -> Response:
    """HTTP 500 with the ``{error, type, traceback}`` JSON body; the traceback also goes to stderr."""
    info = error_info(exc)
    rid = request.execution_id if request is not None else "-"
    error_sink(f"handler raised {info['type']} (execution {rid}):\n{info['traceback'].rstrip()}")
    if isinstance(exc, EncodeError):
        info["traceback"] = ""
    return json_response(500, info)


class BadRequest(Exception):
    """The request does not fit the platform's shape (e.g. a body that must be a JSON
    object): :func:`make_invoke` answers 400 ``{"error": str(exc), "type": <class name>}``
    and logs nothing.  An adapter raises it (or a subclass) from its mapping."""


def bad_request(exc: BadRequest) -> Response:
    return json_response(400, {"error": str(exc), "type": type(exc).__name__})


def make_invoke(
    fn: Callable[..., Any],
    call: Callable[[Request], Any],
    encode: Callable[[Any], Response],
    execution_var: Optional[ContextVar[str]] = None,
) -> Invoke:
    """The invoker every adapter returns: ``encode(call(request))``, awaited when *fn* is async.

    The adapter gives only its platform's mapping: *call* calls the handler *fn* with
    the arguments the platform passes for one request (returning what *fn* returns, a
    coroutine when *fn* is ``async def``), *encode* maps the return value to a
    :class:`Response`.  The policy is written once, here:

    * an ``async def`` *fn* gives an ``async def`` invoke (run on the asyncio thread);
    * :class:`BadRequest` (from the mapping, or a subclass a handler lets escape) is a
      400 (:func:`bad_request`);
    * any other exception, in *call*, the handler or *encode*, is the 500
      ``{error, type, traceback}`` of :func:`error_response` (its traceback logged) --
      SystemExit and KeyboardInterrupt included; an async invoke lets
      ``asyncio.CancelledError`` through (it is how a timeout cancels the handler);
    * *execution_var*, when given, holds the request's execution id while the handler
      runs (nuclio's logger reads it).
    """
    if is_coroutine_function(fn):
        if execution_var is not None:
            var = execution_var

            async def invoke_async_with_id(req: Request) -> Response:
                var.set(req.execution_id)  # a task runs in its own copy of the context
                try:
                    return encode(await call(req))
                except BadRequest as exc:
                    return bad_request(exc)
                except (Exception, SystemExit, KeyboardInterrupt, GeneratorExit) as exc:
                    return error_response(exc, req)

            return invoke_async_with_id

        async def invoke_async(req: Request) -> Response:
            try:
                return encode(await call(req))
            except BadRequest as exc:
                return bad_request(exc)
            except (Exception, SystemExit, KeyboardInterrupt, GeneratorExit) as exc:
                # asyncio.CancelledError (a timeout) is deliberately not caught.
                return error_response(exc, req)

        return invoke_async

    if execution_var is not None:
        var = execution_var

        def invoke_with_id(req: Request) -> Response:
            token = var.set(req.execution_id)
            try:
                return encode(call(req))
            except BadRequest as exc:
                return bad_request(exc)
            except BaseException as exc:
                return error_response(exc, req)
            finally:
                var.reset(token)

        return invoke_with_id

    def invoke(req: Request) -> Response:
        try:
            return encode(call(req))
        except BadRequest as exc:
            return bad_request(exc)
        except BaseException as exc:
            return error_response(exc, req)

    return invoke


class InitHook:
    """What an adapter's optional ``init_hook(invoke, module, entry)`` returns: a call to
    make once at start-up, after the import and before the first request (nuclio's
    ``init_context``, digitalhub's ``init_function``).  ``call()`` may return an awaitable."""

    __slots__ = ("args", "fn", "name")

    def __init__(self, name: str, fn: Callable[..., Any], *args: Any) -> None:
        self.name = name
        self.fn = fn
        self.args = args

    def call(self) -> Any:
        return self.fn(*self.args)


def is_coroutine_function(fn: Any) -> bool:
    """``inspect.iscoroutinefunction`` without importing ``inspect`` (costly at start).

    Sees through functools.partial, bound methods and callable objects whose
    ``__call__`` is ``async def``.
    """
    for _ in range(16):
        func = getattr(fn, "func", None)  # functools.partial
        if func is not None and hasattr(fn, "args") and hasattr(fn, "keywords"):
            fn = func
            continue
        break
    fn = getattr(fn, "__func__", fn)  # bound method
    code = getattr(fn, "__code__", None)
    if code is None:
        call = type(fn).__dict__.get("__call__") if callable(fn) else None
        call = getattr(call, "__func__", call)
        code = getattr(call, "__code__", None)
    if code is None:
        return False
    if getattr(fn, "_is_coroutine_marker", None) is not None:
        return True
    return bool(code.co_flags & 0x80)  # CO_COROUTINE
