"""Convert llhttp's request corpus (test/request/*.md) into tests/http/llhttp-*.http.

    python tests/http/convert_llhttp.py LLHTTP_CHECKOUT COMMIT

Takes every case of type "request" (llhttp's strict mode; the lenient-* types, pausing and
request-finish and skipBody cases are left out: they test llhttp options, not bytes), copies its raw block
verbatim (the corpus format uses llhttp's escapes), records llhttp's verdict from its log
(``llhttp: error ...`` or ``llhttp: N message(s)``) and writes what launcher.http11 answers as
``expect``. Every case where the two disagree was then read by hand and given a ``note:``;
tests/test_http_corpus.py checks that each disagreement has one.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from launcher.http11 import Limits, Parser
from tests.http_corpus import decode_raw, replay

_CLOSE = "the connection closes after this request (close): what follows is never parsed; llhttp reports it as an error"
_UPGRADE = (
    "Upgrade is ignored (RFC 9110 §7.8: a server MAY; the launcher speaks HTTP/1.1 only): the request is "
    "served and the bytes after it are the next request; llhttp pauses to hand the connection over"
)
_CONNECT = (
    "authority-form for CONNECT (RFC 9112 §3.2.3) is parsed; the server answers 405 and never tunnels; "
    "llhttp pauses to hand the connection over"
)
_INCOMPLETE = (
    "the head is incomplete: the launcher answers once it is complete ({}); only bytes no head can "
    "contain (CTLs, bare CR or LF) are refused before (see rfc9112.http)"
)
_NOT_HTTP = "not HTTP (RFC 9112 §2.3 HTTP-version): 400; llhttp also parses ICE and RTSP"
_METHOD = "method = token (RFC 9110 §9.1): parsed, and the server answers 405 with Allow; llhttp knows a fixed list"
#: Why the launcher answers some cases otherwise than llhttp (read by hand; the test requires one
#: for every disagreement).
NOTES = {
    "keep-alive / No restart when keep-alive is off (1.0)": _CLOSE,
    "close / CRLF between requests, explicit close": _CLOSE,
    "close / CRLF between requests, explicit close followed by tab": _CLOSE,
    "Parsing multiple tokens / Multiple tokens with folding and LWS": _UPGRADE,
    "upgrade / Setting a flag and pausing": _UPGRADE,
    "upgrade / Emitting part of body and pausing": _UPGRADE,
    "upgrade / Upgrade GET request": _UPGRADE,
    "upgrade / Upgrade POST request": _UPGRADE,
    "Error on Content-Length overflow": _INCOMPLETE.format("413"),
    "Error on duplicate Content-Length": _INCOMPLETE.format("400"),
    "Invalid HTTP version": _INCOMPLETE.format("505"),
    "Invalid space after start line": _INCOMPLETE.format("400, obs-fold"),
    "HTTP protocol and ANNOUNCE method": _METHOD,
    "Invalid method": _METHOD,
    "CONNECT request": _CONNECT,
    "CONNECT request with CAPS": _CONNECT,
    "CONNECT with body": _CONNECT,
    "Underscore in hostname": _CONNECT,
    "M-SEARCH request": "asterisk-form is for OPTIONS only (RFC 9112 §3.2.4): 400; llhttp takes it with any method",
    "SOURCE request with ICE": _NOT_HTTP,
    "OPTIONS request with RTSP": _NOT_HTTP,
    "ANNOUNCE request with RTSP": _NOT_HTTP,
    "No HTTP version": "an HTTP/0.9 request line: 400 (RFC 9112 §3); llhttp takes it as HTTP/0.9",
    "POST with chunked as last transfer-encoding": (
        "a transfer coding the launcher cannot decode: 501 (RFC 9112 §6.1); llhttp passes the still-encoded body on"
    ),
    "POST with chunked as last transfer-encoding (multiple headers)": (
        "a transfer coding the launcher cannot decode: 501 (RFC 9112 §6.1); llhttp passes the still-encoded body on"
    ),
}


def verdict(log: str) -> str:
    m = re.search(r'error code=(\d+) reason="([^"]*)"', log)
    if m:
        return f"error {m.group(1)} {m.group(2)}"
    return f"{log.count('message complete')} message(s)"


def convert(md: Path, commit: str) -> str:
    text = md.read_text(encoding="utf-8")
    out = [
        f"# Converted from llhttp test/request/{md.name} (github.com/nodejs/llhttp, commit {commit[:12]})",
        "# by tests/http/convert_llhttp.py; MIT-licensed test data. See tests/http_corpus.py for the format.",
        "",
    ]
    seen: dict[str, int] = {}
    group = title = ""
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("## "):
            group, title = line[3:].strip(), ""
        elif line.startswith("### "):
            title = line[4:].strip()
        elif line.startswith("<!-- meta="):
            meta = json.loads(line[len("<!-- meta=") : line.rindex("-->")])
            start = lines.index("```http", i) + 1
            stop = lines.index("```", start)
            log_start = lines.index("```log", stop) + 1
            log = "\n".join(lines[log_start : lines.index("```", log_start)])
            i = log_start
            if meta.get("type") != "request" or "pause" in meta or "skipBody" in meta:
                continue
            raw = "\n".join(lines[start:stop]) + "\n"
            name = (f"{group} / {title}" if title else group).replace("`", "")
            seen[name] = seen.get(name, 0) + 1
            if seen[name] > 1:
                name = f"{name} ({seen[name]})"
            events = replay(Parser(Limits()), [decode_raw(raw)])
            out += [
                f"### {name}",
                f"source: llhttp test/request/{md.name}, \"{title or group}\"",
                f"llhttp: {verdict(log)}",
                *[f"note: {n}" for n in (NOTES.get(name) or NOTES.get(title or group),) if n],
                "expect: " + " | ".join(events),
                "~~~",
                raw[:-1],  # load() adds the line break before the closing fence back
                "~~~",
                "",
            ]
        i += 1
    return "\n".join(out)


def main() -> None:
    root, commit = Path(sys.argv[1]), sys.argv[2]
    dest = Path(__file__).resolve().parent
    for md in sorted((root / "test" / "request").glob("*.md")):
        body = convert(md, commit)
        if "### " in body:
            (dest / f"llhttp-{md.stem}.http").write_text(body, encoding="utf-8")


if __name__ == "__main__":
    main()
