"""The stdlib baseline: http.server.ThreadingHTTPServer (HTTP/1.1 keep-alive) serving
the same handler. What a user gets with no framework at all."""

import os
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _adapter import invoke  # noqa: E402


class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes; without TCP_NODELAY every keep-alive
    # response waits for the client's delayed ACK (~40 ms). One line a user would add.
    disable_nagle_algorithm = True

    def log_message(self, *a):
        pass

    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else b""
        status, ctype, data, eid = invoke(body, self.headers.get("x-execution-id"))
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("x-execution-id", eid)
        self.end_headers()
        self.wfile.write(data)


if __name__ == "__main__":
    ThreadingHTTPServer.daemon_threads = True
    srv = ThreadingHTTPServer((os.environ.get("IGNITE_HOST", "127.0.0.1"), int(os.environ.get("PORT", "8080"))), H)
    srv.serve_forever()
