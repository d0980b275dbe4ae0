"""What every peer adapter does around the user's handler, kept identical so the
servers are compared on the same per-request work as the launcher's contract:
ctx with an execution id (from the request header or a fresh uuid4), the return value
encoded by type (bytes / str / json.dumps), the execution id echoed in a header."""

import json
import os
import sys
import uuid

sys.path.insert(0, os.environ.get("BENCH_HANDLER_DIR", os.getcwd()))
import handler as _user  # noqa: E402

HANDLER = getattr(_user, os.environ.get("IGNITE_ENTRY_FN", "handler"))
FUNCTION_ID = os.environ.get("IGNITE_FUNCTION_ID", "bench/hello")
ORG_ID = os.environ.get("IGNITE_ORGANIZATION_ID", "bench")


def invoke(body, execution_id=None):
    """-> (status, content_type, body_bytes, execution_id)"""
    eid = execution_id or str(uuid.uuid4())
    ctx = {"execution_id": eid, "function_id": FUNCTION_ID, "organization_id": ORG_ID}
    try:
        out = HANDLER(body, ctx)
    except Exception as exc:  # same shape as the launcher's 500
        import traceback

        return 500, "application/json", json.dumps(
            {"error": str(exc), "type": type(exc).__name__, "traceback": traceback.format_exc()}
        ).encode(), eid
    if isinstance(out, bytes):
        return 200, "application/octet-stream", out, eid
    if isinstance(out, str):
        return 200, "text/plain; charset=utf-8", out.encode(), eid
    return 200, "application/json", json.dumps(out).encode(), eid
