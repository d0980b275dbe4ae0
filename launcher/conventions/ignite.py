"""The default convention (seed 000): ``handler(payload: bytes, ctx: dict) -> Any``.

``ctx`` has exactly ``execution_id``, ``function_id`` and ``organization_id``.
The return value is encoded by type: bytes as-is (application/octet-stream),
str as UTF-8 (text/plain), anything else ``json.dumps`` (application/json).
Any exception — including SystemExit and KeyboardInterrupt — is a 500 with
``{"error", "type", "traceback"}``.
"""

from __future__ import annotations

from ..protocol import CT_BYTES, CT_JSON, CT_TEXT, Request, Response, dumps, make_invoke

TYPE_CHECKING = False
if TYPE_CHECKING:  # ``typing`` costs ~6 ms of start-up; annotations are strings
    from typing import Any, Callable

    from ..protocol import Invoke


def encode(result: Any) -> Response:
    """Map a handler's return value to a 200 response by its type."""
    t = type(result)
    if t is bytes:
        return Response(200, [CT_BYTES], result)
    if t is str:
        return Response(200, [CT_TEXT], result.encode("utf-8"))
    if isinstance(result, (bytes, bytearray, memoryview)):
        return Response(200, [CT_BYTES], bytes(result))
    if isinstance(result, str):
        return Response(200, [CT_TEXT], str.encode(result, "utf-8"))
    return Response(200, [CT_JSON], dumps(result))  # json_result(result), inlined: the default's hot path


def make_invoker(fn: Callable[..., Any]) -> Invoke:
    """Wrap *fn* into ``invoke(Request) -> Response`` (async when *fn* is)."""

    def call(req: Request) -> Any:
        return fn(req.body, {
            "execution_id": req.execution_id,
            "function_id": req.function_id,
            "organization_id": req.organization_id,
        })

    return make_invoke(fn, call, encode)
