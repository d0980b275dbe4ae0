"""granian (Rust HTTP core, `--interface wsgi --workers 1`) serving the same handler
through a plain WSGI callable: the fastest server a user would pick instead (issue 18).
Same contract work as every peer (`_adapter.invoke`)."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _adapter import invoke

_STATUS = {200: "200 OK", 500: "500 Internal Server Error"}


def app(environ, start_response):
    if environ["REQUEST_METHOD"] == "GET":
        start_response("200 OK", [("Content-Length", "2")])
        return [b"ok"]
    n = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(n) if n else b""
    status, ctype, data, eid = invoke(body, environ.get("HTTP_X_EXECUTION_ID"))
    start_response(_STATUS.get(status, f"{status} X"), [
        ("Content-Type", ctype), ("Content-Length", str(len(data))), ("x-execution-id", eid)])
    return [data]
