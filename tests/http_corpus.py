"""The request corpus of tests/http/*.http: reading it and replaying it against launcher.http11.

A corpus file holds cases, each one::

    ### a name (unique in its file)
    source: where the case comes from (RFC section, llhttp file and title, issue row)
    limits: max_head=64 max_headers=2 max_body=100     (optional; Limits() otherwise)
    note: why the answer differs from a peer's          (optional, any number)
    expect: POST / HTTP/1.1 | body hello | end | 400
    ~~~
    POST / HTTP/1.1
    Content-Length: 5

    hello
    ~~~

The raw bytes are written as in llhttp's test/request/*.md (so its cases are copied
verbatim): every line break is CRLF, the last one of the block is dropped, ``\\`` at a line's
end joins it to the next, and ``\\r \\n \\t \\f``, ``\\x`` + hex digits (as many as follow) and
``\\`` + 1-3 octal digits are escapes (a backslash is itself otherwise: ``\\x5c`` writes one that
would start an escape); characters past U+00FF stand for their UTF-8 bytes.

``expect`` lists the events in order, `` | ``-separated: a head is ``METHOD TARGET VERSION``
(plus `` close`` when the connection must close after it), ``body ...`` is the whole body of
that request (the Data events joined, written with the same escapes), ``end`` ends it, and a
bare status (``400``) is a Reject. Nothing after the last event: the parser waits for more.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterable, List

from launcher.http11 import END, NEED_DATA, Data, Head, Limits, Parser, Reject

CORPUS_DIR = Path(__file__).resolve().parent / "http"


@dataclass
class Case:
    file: str
    name: str
    raw: bytes
    expect: List[str]
    source: str = ""
    limits: Dict[str, int] = field(default_factory=dict)
    notes: List[str] = field(default_factory=list)

    @property
    def id(self) -> str:
        return f"{self.file}::{self.name}"

    def parser(self) -> Parser:
        return Parser(Limits(**self.limits))


def decode_raw(text: str) -> bytes:
    """llhttp's md-test.ts conventions, step by step in its order (see the module docstring)."""
    if text.endswith("\n"):
        text = text[:-1]
    text = re.sub(r"\\(\r\n|\r|\n)", "", text)
    text = re.sub(r"\r\n|\r|\n", "\r\n", text)
    for escape, char in (("\\r", "\r"), ("\\n", "\n"), ("\\t", "\t"), ("\\f", "\f")):
        text = text.replace(escape, char)
    text = re.sub(r"\\x([0-9a-fA-F]+)", lambda m: chr(int(m.group(1), 16)), text)
    text = re.sub(r"\\([0-7]{1,3})", lambda m: chr(int(m.group(1), 8)), text)
    # \xNN escapes are single bytes; any character past latin-1 is written as its UTF-8 bytes
    return b"".join(bytes((ord(c),)) if ord(c) < 256 else c.encode("utf-8") for c in text)


def encode_body(data: bytes) -> str:
    out = []
    for b in data:
        c = chr(b)
        if c in "\r\n\t":
            out.append({"\r": "\\r", "\n": "\\n", "\t": "\\t"}[c])
        elif 0x20 <= b < 0x7F and c not in "|\\":
            out.append(c)
        else:
            out.append(f"\\x{b:02x}")
    return "".join(out)


def load(path: Path) -> List[Case]:
    cases: List[Case] = []
    lines = path.read_text(encoding="utf-8").split("\n")
    i = 0
    while i < len(lines):
        line = lines[i]
        if not line.startswith("### "):
            i += 1
            continue
        case = Case(path.name, line[4:].strip(), b"", [])
        i += 1
        while lines[i] != "~~~":
            key, _, value = lines[i].partition(":")
            value = value[1:] if value.startswith(" ") else value
            if key == "source":
                case.source = value
            elif key == "expect":
                case.expect = [e.strip() for e in value.split(" | ")] if value.strip() else []
            elif key == "limits":
                case.limits = {k: int(v) for k, v in (kv.split("=") for kv in value.split())}
            elif key in ("note", "llhttp"):
                case.notes.append(lines[i])
            elif lines[i].strip():
                raise ValueError(f"{path.name}:{i + 1}: unknown line {lines[i]!r}")
            i += 1
        j = lines.index("~~~", i + 1)
        case.raw = decode_raw("\n".join(lines[i + 1 : j]) + "\n")
        cases.append(case)
        i = j + 1
    names = [c.name for c in cases]
    dupes = {n for n in names if names.count(n) > 1}
    if dupes:
        raise ValueError(f"{path.name}: duplicate case names {sorted(dupes)}")
    return cases


def all_cases() -> List[Case]:
    return [c for p in sorted(CORPUS_DIR.glob("*.http")) for c in load(p)]


def replay(parser: Parser, pieces: Iterable[bytes]) -> List[str]:
    """Feed *pieces* one by one, draining events after each; the events as corpus strings."""
    out: List[str] = []
    body: List[bytes] = []
    for piece in pieces:
        parser.receive_data(piece)
        while True:
            ev = parser.next_event()
            if ev is NEED_DATA:
                break
            if isinstance(ev, Head):
                out.append(f"{ev.method} {ev.target} {ev.version}" + ("" if ev.keep_alive else " close"))
            elif isinstance(ev, Data):
                assert ev.data, "a Data event is never empty"
                body.append(ev.data)
            elif ev is END:
                if body:
                    out.append("body " + encode_body(b"".join(body)))
                    body.clear()
                out.append("end")
            else:
                assert isinstance(ev, Reject)
                if body:
                    out.append("body " + encode_body(b"".join(body)))
                out.append(str(ev.status))
                assert parser.next_event() is ev, "a rejected parser stays rejected"
                return out
    if body:
        out.append("body " + encode_body(b"".join(body)))
    return out


def splits(raw: bytes, rng: random.Random, n: int) -> List[List[bytes]]:
    """*n* random segmentations of *raw* (1 to 8 cuts each)."""
    result = []
    for _ in range(n):
        if len(raw) < 2:
            result.append([raw])
            continue
        cuts = sorted(rng.sample(range(1, len(raw)), min(len(raw) - 1, rng.randint(1, 8))))
        result.append([raw[a:b] for a, b in zip([0, *cuts], [*cuts, len(raw)])])
    return result
