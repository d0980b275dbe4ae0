"""Handler conventions: one adapter module per platform style.

An adapter is a module in this package exposing::

    def make_invoker(fn) -> invoke

where ``invoke(request: Request) -> Response`` is a plain function, or an
``async def`` coroutine function (the server then runs it on its asyncio
thread; see :func:`..protocol.is_coroutine_function`).  ``invoke`` must turn
every handler error into a :class:`~..protocol.Response` itself (e.g. with
:func:`..protocol.error_response`); whatever still escapes becomes a generic 500.

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
