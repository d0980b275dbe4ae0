"""The handler conventions the launcher can host (``ignite-pack build --convention NAME``).

Each name here has an adapter module ``launcher/conventions/<name>.py``; the
registry only records what the *build* needs: where the entry function is by
default, and the documented parameter names (for the checks' suggestions).
docs/conventions.md describes what every adapter maps.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from packager.errors import UsageError


@dataclass(frozen=True)
class Convention:
    name: str
    #: Default ``(module, function)`` entries, tried in order: the first whose module
    #: file exists in the source wins; when none exists the first one is reported.
    entries: tuple[tuple[str, str], ...]
    #: The documented positional parameter names, when the platform fixes them.
    signature: Optional[tuple[str, ...]]
    #: One line for help texts and hints.
    summary: str

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
        Convention("yandex", (("main", "handler"), ("handler", "handler")), ("event", "context"),
                   "Yandex Cloud Functions: handler(event, context)"),
        # seed 004: "the handle function, typically defined in handler.py" inside function/
        Convention("openfaas", (("function.handler", "handle"), ("handler", "handle")), ("logger", "request"),
                   "OpenFaaS-style template: handle(logger, request), sync or async"),
        # seed 001 documents no default entry (the handler is always named explicitly);
        # main.py comes from its code_src="main.py" example, handler:handler is ours.
        Convention("digitalhub", (("handler", "handler"), ("main", "handler")), None,
                   "digitalhub python function: named parameters from the JSON body"),
    )
}

DEFAULT = "ignite"


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


def suggest(signature: Optional[tuple[str, ...]], chosen: str) -> Optional[str]:
    """The convention whose documented parameter names *signature* matches exactly, if not *chosen*.

    Conservative on purpose: only an exact match of the documented names (in
    order) counts; ``(event, context)`` and ``(context, event)`` are the classic swap.
    """
    if not signature:
        return None
    for conv in CONVENTIONS.values():
        if conv.name != chosen and conv.signature and conv.signature == signature:
            return conv.name
    return None
