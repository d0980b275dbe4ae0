"""The handler conventions the launcher can host (``ignite-pack build --convention NAME``).

Each name here has an adapter module ``launcher/conventions/<name>.py``; the
registry only records what the *build* needs: where the entry function is by
default, and the documented parameter names (for the checks' suggestions).
docs/conventions.md describes what every adapter maps.
"""

from __future__ import annotations

import json

from packager.errors import UsageError
from packager.records import record

TYPE_CHECKING = False  # (typing's import is ~3 ms of a build that needs it only for mypy)
if TYPE_CHECKING:
    from typing import Any, Optional


@record
class Convention:
    name: str
    #: Default ``(module, function)`` entries, tried in order: the first whose module
    #: file exists in the source wins; when none exists the first one is reported.
    entries: tuple[tuple[str, str], ...]
    #: The documented positional parameter names, when the platform fixes them.
    signature: Optional[tuple[str, ...]]
    #: One line for help texts and hints.
    summary: str

    def describe_call(self, function: str) -> str:
        """How the launcher calls the entry function, e.g. ``lambda_handler(event, context)``."""
        if self.signature is None:
            return f"{function}(**reserved) with only {', '.join(DIGITALHUB_RESERVED)} by name"
        return f"{function}({', '.join(self.signature)})"

    def describe_signature(self, function: str) -> str:
        params = ", ".join(self.signature) if self.signature else "..."
        return f"def {function}({params})"


CONVENTIONS: dict[str, Convention] = {
    c.name: c
    for c in (
        Convention("ignite", (("handler", "handler"),), ("payload", "ctx"),
                   "handler(payload: bytes, ctx: dict) (the platform's own)"),
        # seed 002: "the handler is main:handler, assuming the file is named main.py"
        Convention("nuclio", (("main", "handler"), ("handler", "handler")), ("context", "event"),
                   "nuclio: handler(context, event)"),
        # seed 003: "an entry point ... such as main.handler"
        # index.handler is the entry point the Yandex Cloud console's Python template uses.
        Convention("yandex", (("main", "handler"), ("handler", "handler"), ("index", "handler")), ("event", "context"),
                   "Yandex Cloud Functions: handler(event, context)"),
        # seed 004: "the handle function, typically defined in handler.py" inside function/
        Convention("openfaas", (("function.handler", "handle"), ("handler", "handle")), ("logger", "request"),
                   "OpenFaaS-style template: handle(logger, request), sync or async"),
        # seed 001 documents no default entry (the handler is always named explicitly);
        # main.py comes from its code_src="main.py" example, handler:handler is ours.
        Convention("digitalhub", (("handler", "handler"), ("main", "handler")), None,
                   "digitalhub python function: named parameters from the JSON body"),
        # AWS: the console's default handler is lambda_function.lambda_handler.
        # app.lambda_handler is what `sam init` templates declare (Handler: app.lambda_handler).
        Convention("lambda", (("lambda_function", "lambda_handler"), ("handler", "lambda_handler"),
                              ("handler", "handler"), ("app", "lambda_handler")), ("event", "context"),
                   "AWS Lambda (function URL, payload 2.0): lambda_handler(event, context)"),
        # The python3-http template: `faas-cli new` writes handler.py with handle(); the
        # template's build tree has it in function/handler.py.
        Convention("openfaas-http", (("handler", "handle"), ("function.handler", "handle")), ("event", "context"),
                   "OpenFaaS python3-http template: handle(event, context), sync or async"),
        # The python3-flask template: its index.py calls handler.handle(request.get_data(as_text=True)).
        Convention("openfaas-flask", (("function.handler", "handle"), ("handler", "handle")), ("req",),
                   "OpenFaaS python3-flask template: handle(req), the body as text"),
    )
}

DEFAULT = "ignite"

#: The arguments digitalhub's serve wrapper passes by name (compose_inputs): nothing else
#: is filled, so any other parameter needs a default.
DIGITALHUB_RESERVED = ("project", "run", "context", "event", "events")

#: Conventions whose init function is named at build time (``--init NAME``, manifest
#: ``entry.init``): digitalhub's ``init_function``. nuclio's ``init_context`` needs no option.
INIT_OPTION = ("digitalhub",)


def names() -> list[str]:
    """The known convention names, default first."""
    return list(CONVENTIONS)


def get(name: str) -> Convention:
    try:
        return CONVENTIONS[name]
    except KeyError:
        raise UsageError(
            f"unknown handler convention {name!r}", where="--convention",
            hint=f"use one of: {', '.join(CONVENTIONS)}",
        ) from None


def suggest(signature: Optional[tuple[str, ...]], chosen: str, function: Optional[str] = None,
            module: Optional[str] = None) -> Optional[str]:
    """The convention whose documented parameter names *signature* matches exactly, if not *chosen*.

    Conservative on purpose: only an exact match of the documented names (in
    order) counts; ``(event, context)`` and ``(context, event)`` are the classic swap.
    Several conventions share ``(event, context)``; the one whose default entries
    name *module*:*function* wins, then one naming *function*, then registry order
    (so ``handle`` in handler.py is openfaas-http, ``lambda_handler`` is lambda).
    When the chosen convention has the same names, only an entry that is another
    convention's default (and not the chosen one's) is suggested.
    """
    if not signature:
        return None
    if chosen == "digitalhub" and all(n in DIGITALHUB_RESERVED for n in signature):
        return None  # (context, event) is also how digitalhub serve functions are written
    matches = [c for c in CONVENTIONS.values() if c.name != chosen and c.signature == signature]
    if not matches:
        return None

    def rank(conv: Convention) -> int:
        if (module, function) in conv.entries:
            return 0
        if any(f == function for _, f in conv.entries):
            return 1
        return 2

    best = min(matches, key=rank)
    own = CONVENTIONS.get(chosen)
    # Same parameter names as the chosen convention: only a default entry that is
    # another convention's and not the chosen one's says it is the wrong one.
    if own is not None and own.signature == signature and (rank(best) != 0 or rank(own) == 0):
        return None
    return best.name


def parse_init_params(specs: tuple[str, ...]) -> tuple[tuple[str, Any], ...]:
    """``--init-param NAME=VALUE`` -> ``((NAME, value), ...)``: VALUE is JSON when it parses
    as JSON (``0.5``, ``true``, ``["a"]``, ``"01"``), else the text itself."""
    out: dict[str, Any] = {}
    for spec in specs:
        name, sep, text = spec.partition("=")
        name = name.strip()
        if not sep or not name.isidentifier():
            raise UsageError(f"--init-param {spec!r} is not NAME=VALUE", where="--init-param",
                             hint="e.g. --init-param model_path=/models/m.bin --init-param threshold=0.5")
        if name in out:
            raise UsageError(f"--init-param {name} is given twice", where="--init-param",
                             hint="give each init parameter once")
        try:
            out[name] = json.loads(text)
        except ValueError:
            out[name] = text
    return tuple(out.items())


#: ``--lambda-payload``: the event the lambda convention builds from a request (function URL /
#: HTTP API payload 2.0, REST API 1.0, or the JSON body itself as Lambda's Invoke API passes it).
LAMBDA_PAYLOADS = ("2.0", "1.0", "raw")


def check_lambda_payload(convention: str, payload: Optional[str]) -> Optional[str]:
    """*payload* when it is allowed for *convention*, else a usage error."""
    if payload is None:
        return None
    if payload not in LAMBDA_PAYLOADS:
        raise UsageError(f"--lambda-payload {payload!r} is not one of {', '.join(LAMBDA_PAYLOADS)}",
                         where="--lambda-payload", hint="use 2.0 (function URLs), 1.0 (REST APIs) or raw (Invoke)")
    if convention != "lambda":
        raise UsageError(f"--lambda-payload is for the lambda convention, not {convention!r}",
                         where="--lambda-payload", hint="drop --lambda-payload, or build with --convention lambda")
    return payload
