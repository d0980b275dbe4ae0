"""digitalhub python functions (seed 001), served as the runtime's ``serve`` task does.

The reference is digitalhub-runtime-python's nuclio wrapper: its ``handler_serve``
composes the arguments with ``compose_inputs({}, {}, ...)`` -- no parameters and no
inputs, whatever the request holds -- and calls ``user_function(**args)`` where
``args`` holds only the reserved names the function declares:
  ``project``, ``run`` -> stand-ins: there is no digitalhub SDK/backend here, so using
                          them (``project.log_artifact(...)``) raises NotImplementedError;
  ``context``          -> the nuclio context (one per process, as nuclio's);
  ``event``            -> the nuclio event of the request (its body decoded like the
                          nuclio adapter's: JSON for ``application/json``, else bytes);
  ``events``           -> the same event (seed 001's name for it).
Every other parameter keeps its default; one without a default cannot be served (the
build refuses it; a launcher started on such a function reports it at start-up).

Return value -> response: what the runtime hands back to nuclio, so nuclio's rules
(str text/plain, bytes, dict/list JSON, ``(status, body)``, ``context.Response``, None
an empty 200); a function decorated with ``@handler(outputs=[...])`` answers a JSON
object mapping each output name to the returned value (a tuple return maps element by
element, as the document's ``return "some value", "some other value"`` example).

``init_hook``: the function's ``init_function`` (manifest ``entry.init``) is called
once at start as ``init(context, **init_parameters)`` with the manifest's
``entry.init_parameters`` (``ignite-pack build --init-param NAME=VALUE``), as the
wrapper's ``execute_user_init`` passes a run's ``init_parameters``.

``from digitalhub_runtime_python import handler`` works without the SDK
installed: when no such module is on sys.path (vendored copies win), the
launcher provides one holding only that decorator.  ``async def`` functions
(not mentioned by seed 001) are awaited.  Exceptions are the core's 500.
"""

from __future__ import annotations

import functools
import inspect

from ..protocol import InitHook, Request, Response, json_result, make_invoke
from ._nuclio import CONTEXT_ATTR, decode_strings
from ._nuclio import METHODS as NUCLIO_METHODS
from ._nuclio import Context as NuclioContext
from ._nuclio import Event as NuclioEvent
from ._nuclio import encode as encode_nuclio
from ._sdk import SdkStandIn

TYPE_CHECKING = False
if TYPE_CHECKING:  # ``typing`` costs ~6 ms of start-up; annotations are strings
    from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

    from ..protocol import Invoke

RESERVED = ("project", "run", "context", "event", "events")

#: Served by nuclio's HTTP trigger, so every method reaches the function (``event.method``).
METHODS = NUCLIO_METHODS
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


class Unavailable:
    """Stands in for the SDK's Project or Run: every use says why it cannot work here."""

    def __init__(self, name: str = "project", what: str = "Project objects (entities, artifacts, dataitems)") -> None:
        self._name = name
        self._what = what

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        raise NotImplementedError(
            f"{self._name}.{name}: digitalhub {self._what} are not available on this platform"
        )

    def __repr__(self) -> str:
        return f"<digitalhub {self._name}: not available on this platform>"


ProjectUnavailable = Unavailable


class Context(NuclioContext):
    """The nuclio context, with the ``project`` and ``run`` the wrapper's init_context sets on it."""

    def __init__(self) -> None:
        super().__init__()
        self.project = Unavailable()
        self.run = Unavailable("run", "Run objects (metrics, status, logs)")


# --- request -> arguments -----------------------------------------------------------------


class Plan:
    """How to call one function: the reserved names it declares, computed once."""

    def __init__(self, fn: Callable[..., Any]) -> None:
        sig = inspect.signature(fn)
        self.positional: List[str] = []  # positional-only reserved names, passed in order
        self.named: List[str] = []
        unfilled: List[str] = []
        for p in sig.parameters.values():
            if p.kind in (p.VAR_KEYWORD, p.VAR_POSITIONAL):
                continue
            if p.name in RESERVED:
                (self.positional if p.kind is p.POSITIONAL_ONLY else self.named).append(p.name)
            elif p.default is p.empty:
                unfilled.append(p.name)
        if unfilled:
            raise TypeError(
                f"{getattr(fn, '__name__', fn)}{sig}: the digitalhub serve runtime passes only "
                f"{', '.join(RESERVED)} by name; nothing fills {', '.join(unfilled)} "
                "(give it a default, or read the request from event.body)"
            )
        outputs = getattr(fn, OUTPUTS_ATTR, None)
        if outputs is None:
            outputs = getattr(getattr(fn, "__wrapped__", None), OUTPUTS_ATTR, None)
        self.outputs: Optional[Tuple[str, ...]] = outputs

    def arguments(self, reserved: Dict[str, Callable[[], Any]]) -> Tuple[List[Any], Dict[str, Any]]:
        return [reserved[n]() for n in self.positional], {n: reserved[n]() for n in self.named}

    def encode(self, result: Any) -> Response:
        if self.outputs is None:
            return encode_nuclio(result)
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
        return json_result(mapped)


def make_invoker(fn: Callable[..., Any]) -> Invoke:
    """Wrap *fn* into ``invoke(Request) -> Response`` (async when *fn* is)."""
    plan = Plan(fn)
    context = Context()
    project, run = context.project, context.run
    decode = decode_strings()

    def call(req: Request) -> Any:
        event: List[Any] = []

        def the_event() -> Any:  # one event object per request, whichever names it is given as
            if not event:
                event.append(NuclioEvent(req, decode))
            return event[0]

        args, kwargs = plan.arguments({"project": lambda: project, "run": lambda: run,
                                       "context": lambda: context, "event": the_event, "events": the_event})
        return fn(*args, **kwargs)

    invoke = make_invoke(fn, call, plan.encode)
    setattr(invoke, CONTEXT_ATTR, context)
    return invoke


#: The manifest's ``entry.init``: the function named by ``ignite-pack build --init NAME``.
INIT_KEY = "init"


#: The manifest's ``entry.init_parameters``: ``--init-param NAME=VALUE``, a run's ``init_parameters``.
INIT_PARAMETERS_KEY = "init_parameters"


def init_hook(invoke: Invoke, module: Any, entry: Dict[str, Any]) -> Optional[InitHook]:
    """digitalhub's ``init_function``: called once at start with the nuclio ``context``
    (the one handlers get as ``context``) and the run's ``init_parameters`` as keyword
    arguments, as the digitalhub nuclio wrapper's ``execute_user_init`` does."""
    name = entry.get(INIT_KEY)
    if not name:
        return None
    if not isinstance(name, str):
        raise TypeError(f"manifest.json: entry.init must be a string, not {type(name).__name__}")
    params = entry.get(INIT_PARAMETERS_KEY) or {}
    if not isinstance(params, dict):
        raise TypeError(f"manifest.json: entry.init_parameters must be an object, not {type(params).__name__}")
    try:
        init = getattr(module, name)
    except AttributeError:
        raise AttributeError(
            f"module {module.__name__!r} has no init function {name!r} (ignite-pack build --init)"
        ) from None
    if not callable(init):
        raise TypeError(f"{module.__name__}.{name} is a {type(init).__name__}, not a function")
    context = getattr(invoke, CONTEXT_ATTR)
    if not params:
        return InitHook(name, init, context)
    return InitHook(name, functools.partial(init, **params), context)
