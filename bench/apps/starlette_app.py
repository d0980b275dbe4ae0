"""uvicorn + starlette serving the same handler.

BENCH_STARLETTE_MODE=threadpool (default): the sync handler runs off the event loop
(starlette's run_in_threadpool), the same semantics the launcher gives (probes keep
answering while a handler blocks).
BENCH_STARLETTE_MODE=inline: the handler is called on the event loop (fastest for a
trivial handler, but a blocking handler stalls the server).
"""

import os

from _adapter import invoke
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response
from starlette.routing import Route

INLINE = os.environ.get("BENCH_STARLETTE_MODE", "threadpool") == "inline"


async def endpoint(request):
    body = await request.body()
    eid = request.headers.get("x-execution-id")
    if INLINE:
        status, ctype, data, eid = invoke(body, eid)
    else:
        status, ctype, data, eid = await run_in_threadpool(invoke, body, eid)
    return Response(data, status_code=status, media_type=ctype, headers={"x-execution-id": eid})


async def ready(request):
    return Response(b"ok")


app = Starlette(routes=[
    Route("/_/ready", ready, methods=["GET"]),
    Route("/{path:path}", endpoint, methods=["POST"]),
])
