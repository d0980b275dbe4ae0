"""digitalhub python functions (seed 001): any ``def`` whose arguments are filled by name.

Request -> arguments: the body is a JSON object (an empty body is ``{}``) whose
keys are the function's parameters, as a run's ``parameters`` would be.  The
reserved names of seed 001 are never taken from the body:
  ``project``  -> a stand-in: there is no digitalhub SDK/backend here, so using
                  it (``project.log_artifact(...)``) raises NotImplementedError;
  ``context``, ``events`` -> nuclio's context and event (seed 001 reserves them
                  for "nuclio context and events"), as the nuclio adapter builds them.
A key the function has no parameter for (and no ``**kwargs``), a missing
required parameter, a reserved name in the body, or a body that is not a JSON
object is a 400 naming it; the function is not called.

Return value -> response: a function decorated with
``@handler(outputs=[...])`` answers a JSON object mapping each output name to
the returned value (a tuple return maps element by element, as the document's
``return "some value", "some other value"`` example); otherwise the value is
encoded like the ignite convention (bytes, str as UTF-8, else JSON).

``from digitalhub_runtime_python import handler`` works without the SDK
installed: when no such module is on sys.path (vendored copies win), the
launcher provides one holding only that decorator.  ``async def`` functions
(not mentioned by seed 001) are awaited.  Exceptions are the core's 500.
"""

from __future__ import annotations

import inspect
import json

from ..protocol import (
    CT_JSON,
    InitHook,
    Request,
    Response,
    dumps,
    error_response,
    is_coroutine_function,
    json_response,
)
from ._sdk import SdkStandIn
from .ignite import encode as encode_plain
from .nuclio import CONTEXT_ATTR, decode_strings
from .nuclio import Context as NuclioContext
from .nuclio import Event as NuclioEvent

TYPE_CHECKING = False
if TYPE_CHECKING:  # ``typing`` costs ~6 ms of start-up; annotations are strings
    from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

    from ..protocol import Invoke

RESERVED = ("project", "context", "events")
SDK_MODULE = "digitalhub_runtime_python"
OUTPUTS_ATTR = "__digitalhub_outputs__"


# --- the decorator, for sources that import it from the SDK ----------------------------


def handler(*args: Any, outputs: Optional[Sequence[str]] = None, **_: Any) -> Any:
    """``@handler(outputs=["result"])`` (or bare ``@handler``): records the output names."""

    def mark(fn: Callable[..., Any]) -> Callable[..., Any]:
        setattr(fn, OUTPUTS_ATTR, tuple(outputs) if outputs else ())
        return fn

    if len(args) == 1 and callable(args[0]) and outputs is None:
        return mark(args[0])
    if args:
        raise TypeError("handler() takes keyword arguments only, e.g. @handler(outputs=['result'])")
    return mark


SdkStandIn(SDK_MODULE, {
    "handler": handler, "__doc__": "ignite launcher stand-in: only the @handler decorator",
}).install()


# --- the reserved project argument --------------------------------------------------------


class ProjectUnavailable:
    """Stands in for the SDK's Project: every use says why it cannot work here."""

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        raise NotImplementedError(
            f"project.{name}: digitalhub Project objects (entities, artifacts, dataitems) "
            "are not available on this platform"
        )

    def __repr__(self) -> str:
        return "<digitalhub project: not available on this platform>"


# --- request -> arguments -----------------------------------------------------------------


class BadRequest(ValueError):
    pass


class Plan:
    """How to call one function: its parameters by kind, computed once."""

    def __init__(self, fn: Callable[..., Any]) -> None:
        sig = inspect.signature(fn)
        self.positional: List[str] = []  # positional-only, passed in order
        self.named: List[str] = []
        self.required: List[str] = []
        self.var_kw = False
        for p in sig.parameters.values():
            if p.kind is p.VAR_KEYWORD:
                self.var_kw = True
                continue
            if p.kind is p.VAR_POSITIONAL:
                continue
            (self.positional if p.kind is p.POSITIONAL_ONLY else self.named).append(p.name)
            if p.default is p.empty and p.name not in RESERVED:
                self.required.append(p.name)
        self.params = self.positional + self.named
        outputs = getattr(fn, OUTPUTS_ATTR, None)
        if outputs is None:
            outputs = getattr(getattr(fn, "__wrapped__", None), OUTPUTS_ATTR, None)
        self.outputs: Optional[Tuple[str, ...]] = outputs

    def arguments(self, req: Request, reserved: Dict[str, Callable[[], Any]]) -> Tuple[List[Any], Dict[str, Any]]:
        if req.body.strip():
            try:
                body = json.loads(req.body)
            except ValueError as exc:
                raise BadRequest(f"the request body is not valid JSON: {exc}") from None
        else:
            body = {}
        if not isinstance(body, dict):
            raise BadRequest(f"the request body must be a JSON object of parameters, not {type(body).__name__}")
        clash = sorted(k for k in body if k in RESERVED)
        if clash:
            raise BadRequest(f"{', '.join(clash)} is reserved and cannot be passed in the body")
        if not self.var_kw:
            unknown = sorted(k for k in body if k not in self.params)
            if unknown:
                raise BadRequest(
                    f"unexpected parameter(s) {', '.join(unknown)}; the function takes: {', '.join(self.params) or 'none'}"
                )
        missing = [n for n in self.required if n not in body]
        if missing:
            raise BadRequest(f"missing required parameter(s): {', '.join(missing)}")
        values: Dict[str, Any] = dict(body)
        for name in RESERVED:
            if name in self.params:
                values[name] = reserved[name]()
        args = [values.pop(n) for n in self.positional if n in values]
        return args, values

    def encode(self, result: Any) -> Response:
        if self.outputs is None:
            return encode_plain(result)
        names = self.outputs
        if len(names) == 1:
            mapped: Dict[str, Any] = {names[0]: result}
        elif not names:
            mapped = {}
        elif isinstance(result, (tuple, list)) and len(result) == len(names):
            mapped = dict(zip(names, result))
        else:
            raise ValueError(
                f"@handler declares {len(names)} outputs ({', '.join(names)}) "
                f"but the function returned {type(result).__name__}"
            )
        return Response(200, [CT_JSON], dumps(mapped))


def make_invoker(fn: Callable[..., Any]) -> Invoke:
    """Wrap *fn* into ``invoke(Request) -> Response`` (async when *fn* is)."""
    plan = Plan(fn)
    context = NuclioContext()
    decode = decode_strings()
    project = ProjectUnavailable()

    def prepare(req: Request) -> Tuple[List[Any], Dict[str, Any]]:
        return plan.arguments(
            req,
            {"project": lambda: project, "context": lambda: context, "events": lambda: NuclioEvent(req, decode)},
        )

    if is_coroutine_function(fn):

        async def invoke_async(req: Request) -> Response:
            try:
                args, kwargs = prepare(req)
            except BadRequest as exc:
                return json_response(400, {"error": str(exc), "type": "BadRequest"})
            try:
                return plan.encode(await fn(*args, **kwargs))
            except (Exception, SystemExit, KeyboardInterrupt, GeneratorExit) as exc:
                # asyncio.CancelledError (a timeout) is deliberately not caught.
                return error_response(exc, req)

        setattr(invoke_async, CONTEXT_ATTR, context)
        return invoke_async

    def invoke(req: Request) -> Response:
        try:
            args, kwargs = prepare(req)
        except BadRequest as exc:
            return json_response(400, {"error": str(exc), "type": "BadRequest"})
        try:
            return plan.encode(fn(*args, **kwargs))
        except BaseException as exc:
            return error_response(exc, req)

    setattr(invoke, CONTEXT_ATTR, context)
    return invoke


#: The manifest's ``entry.init``: the function named by ``ignite-pack build --init NAME``.
INIT_KEY = "init"


def init_hook(invoke: Invoke, module: Any, entry: Dict[str, Any]) -> Optional[InitHook]:
    """digitalhub's ``init_function``: called once at start with the nuclio ``context``
    (the one handlers get as ``context``), as the digitalhub nuclio wrapper does.

    ``init_parameters`` of a digitalhub run have no counterpart here (there is no run):
    the init function gets the context only; its other parameters keep their defaults.
    """
    name = entry.get(INIT_KEY)
    if not name:
        return None
    if not isinstance(name, str):
        raise TypeError(f"manifest.json: entry.init must be a string, not {type(name).__name__}")
    try:
        init = getattr(module, name)
    except AttributeError:
        raise AttributeError(
            f"module {module.__name__!r} has no init function {name!r} (ignite-pack build --init)"
        ) from None
    if not callable(init):
        raise TypeError(f"{module.__name__}.{name} is a {type(init).__name__}, not a function")
    return InitHook(name, init, getattr(invoke, CONTEXT_ATTR))
