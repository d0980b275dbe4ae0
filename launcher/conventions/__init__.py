"""Handler conventions: one adapter module per platform style.

An adapter is a module in this package exposing::

    def make_invoker(fn) -> invoke

where ``invoke(request: Request) -> Response`` is a plain function, or an
``async def`` coroutine function (the server then runs it on its asyncio
thread).  Adapters build it with :func:`..protocol.make_invoke` (sync/async, the
exception-to-500 policy and encoding are written there once) and are only their
platform's mapping; no adapter imports another (``_``-prefixed modules hold what
several share).

The manifest's ``convention`` field names the module (default ``ignite``); a
name that is not a module name (``lambda`` is a keyword, ``openfaas-http`` has a
dash) maps through :data:`MODULES`.
"""

from __future__ import annotations

import importlib
from types import ModuleType

DEFAULT = "ignite"

#: Convention names whose adapter module is named differently.
MODULES = {"lambda": "aws_lambda", "openfaas-http": "openfaas_http", "openfaas-flask": "openfaas_flask"}


def load(name: str) -> ModuleType:
    """Import the adapter module *name* from this package, or raise ValueError."""
    module_name = MODULES.get(name, name)
    if not module_name.replace("_", "").isalnum():
        raise ValueError(f"unknown handler convention {name!r}")
    try:
        module = importlib.import_module(f"{__name__}.{module_name}")
    except ModuleNotFoundError as exc:
        if exc.name == f"{__name__}.{module_name}":
            raise ValueError(f"unknown handler convention {name!r}") from None
        raise
    if not callable(getattr(module, "make_invoker", None)):
        raise ValueError(f"handler convention {name!r} has no make_invoker()")
    return module
