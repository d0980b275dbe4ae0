"""launcher.http11 against the request corpus (tests/http/*.http) and against h11 (issue 29).

Every case is replayed whole, byte by byte and in random splits: the events (and the status
of a refusal) must be the expected ones every time. The llhttp cases carry llhttp's own
verdict; each case where the launcher answers otherwise says why (``note:``). Generated
request heads are compared with h11, the maintained sans-IO parser this one stands in for.
"""

from __future__ import annotations

import random
import re
from typing import List, Optional, Tuple

import h11
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from launcher.http11 import MAX_CHUNK_LINE, NEED_DATA, Head, Limits, Parser, Reject, escape
from tests.http_corpus import Case, all_cases, replay, splits

pytestmark = pytest.mark.launcher_only  # the launcher under the target's CPython, whatever runs pytest

CASES = all_cases()


def test_the_corpus_is_there() -> None:
    files = {c.file for c in CASES}
    assert "rfc9112.http" in files
    assert sum(f.startswith("llhttp-") for f in files) >= 8
    assert "http-garden.http" in files
    assert len(CASES) > 200
    assert all(c.source for c in CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_case_whole_byte_by_byte_and_in_random_splits(case: Case) -> None:
    assert replay(case.parser(), [case.raw]) == case.expect, "whole"
    assert replay(case.parser(), [case.raw[i : i + 1] for i in range(len(case.raw))]) == case.expect, "byte by byte"
    rng = random.Random(case.id)
    for pieces in splits(case.raw, rng, 12):
        assert replay(case.parser(), pieces) == case.expect, [len(p) for p in pieces]


def _llhttp_disagrees(case: Case) -> bool:
    verdict = next(n for n in case.notes if n.startswith("llhttp: "))[len("llhttp: ") :]
    rejected = bool(case.expect) and case.expect[-1].isdigit()
    if verdict.startswith("error"):
        return not rejected
    messages = int(re.match(r"(\d+) message", verdict).group(1))  # type: ignore[union-attr]
    return rejected or case.expect.count("end") != messages


def test_every_disagreement_with_llhttp_is_explained() -> None:
    from_llhttp = [c for c in CASES if c.file.startswith("llhttp-")]
    disagreeing = [c for c in from_llhttp if _llhttp_disagrees(c)]
    unexplained = [c.id for c in disagreeing if not any(n.startswith("note: ") for n in c.notes)]
    assert not unexplained
    stale = [c.id for c in from_llhttp if any(n.startswith("note: ") for n in c.notes) and not _llhttp_disagrees(c)]
    assert not stale
    # The launcher is stricter than llhttp's strict mode only where the notes say so.
    assert len(disagreeing) < len(from_llhttp) // 4


@pytest.mark.parametrize("ext_len", [MAX_CHUNK_LINE - 8, 5 * 1024])
def test_a_long_chunk_extension_gets_one_answer_however_it_is_split(ext_len: int) -> None:
    """Issue 29, last row: a 5 KiB chunk extension was accepted in one write and refused in two."""
    line = b"5;x=" + b"a" * (ext_len - 4) + b"\r\n"
    raw = b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n" + line + b"hello\r\n0\r\n\r\n"
    expect = ["POST / HTTP/1.1", "body hello", "end"] if len(line) <= MAX_CHUNK_LINE else ["POST / HTTP/1.1", "400"]
    assert replay(Parser(Limits()), [raw]) == expect
    cut = raw.index(b"aaa") + 2048
    assert replay(Parser(Limits()), [raw[:cut], raw[cut:]]) == expect
    for pieces in splits(raw, random.Random(ext_len), 20):
        assert replay(Parser(Limits()), pieces) == expect


def test_a_slow_head_is_scanned_once() -> None:
    """Byte by byte, the early checks resume where they stopped (no quadratic rescans)."""
    p = Parser(Limits(max_head=8192))
    head = b"GET / HTTP/1.1\r\n" + b"X: " + b"a" * 8000
    for i in range(len(head)):
        p.receive_data(head[i : i + 1])
        assert p.next_event() is NEED_DATA
    assert p.lf_scan >= len(head) - 1


def test_a_rejected_parser_ignores_the_rest() -> None:
    p = Parser(Limits())
    p.receive_data(b"GET / HTTP/1.1\nHost: a\n\n")
    ev = p.next_event()
    assert isinstance(ev, Reject) and ev.status == 400
    p.receive_data(b"GET / HTTP/1.1\r\n\r\n")
    assert p.next_event() is ev
    assert not p.buf


def test_escape_makes_client_text_one_log_field() -> None:
    assert escape("abc-123 /x?y") == "abc-123 /x?y"
    for forged in ("a\nb", "a\rb", "a\tb", "a\x85b", "a\u2028b", "a\x00b", "\x1b[31m"):
        out = escape(forged)
        assert out.isascii() and out.isprintable(), out
        assert out != forged
    assert escape("caf\xe9") == "caf\\xe9"


# --------------------------------------------------------------------------- against h11

_TCHARS = "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_VCHARS = "".join(chr(c) for c in range(0x21, 0x7F))

token = st.text(_TCHARS, min_size=1, max_size=8)
name = st.one_of(token, st.text(_TCHARS + " :\x85(", min_size=0, max_size=8))
value = st.text(_VCHARS + " \t\x80\xe9\xff" + "\x00\x01\x7f\x0b", max_size=12)
target = st.one_of(
    st.text(_VCHARS, max_size=12).map(lambda t: "/" + t),
    st.text(_VCHARS + " \x80\x00", min_size=1, max_size=12),
)
method = st.one_of(st.sampled_from(["GET", "POST", "PUT", "OPTIONS", "get"]), token, st.text(_TCHARS + "()@ ", min_size=1, max_size=6))
version = st.sampled_from(["HTTP/1.1", "HTTP/1.0", "HTTP/1.1", "HTTP/2.0", "HTTP/1.x", "http/1.1"])
fields = st.lists(st.tuples(name, value), max_size=6)


def _mine(raw: bytes) -> Tuple[Optional[int], Optional[Head]]:
    p = Parser(Limits())
    p.receive_data(raw)
    ev = p.next_event()
    if isinstance(ev, Reject):
        return ev.status, None
    assert isinstance(ev, Head), ev
    return None, ev


def _h11(raw: bytes) -> Optional[h11.Request]:
    conn = h11.Connection(h11.SERVER)
    conn.receive_data(raw)
    try:
        ev = conn.next_event()
    except h11.RemoteProtocolError:
        return None
    assert isinstance(ev, h11.Request), ev
    return ev


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(method=method, target=target, version=version, fields=fields, host=st.sampled_from(["a", "a:80", "[::1]:8080"]))
def test_heads_parse_as_h11_parses_them(method: str, target: str, version: str, fields: List[Tuple[str, str]], host: str) -> None:
    fields = [(n, v) for n, v in fields if n.lower() not in ("host", "content-length", "transfer-encoding", "expect")]
    lines = [f"{method} {target} {version}", f"Host: {host}", *(f"{n}:{v}" for n, v in fields)]
    raw = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    status, head = _mine(raw)
    theirs = _h11(raw)

    # Where the two differ on purpose (each is a test of its own in tests/http/rfc9112.http):
    if re.search(r"[\x00-\x08\x0a-\x1f\x7f]", "\r\n".join(lines).replace("\r\n", "")):
        # RFC 9110 §5.5, RFC 9112 §2.2: a CTL (but HTAB) anywhere is 400 before any other
        # check, as when the head is incomplete; h11 takes most CTLs in values.
        assert status == 400
        return
    line_ok = re.fullmatch("[" + re.escape(_TCHARS) + r"]+ [\x21-\x7e]+ HTTP/[0-9]\.[0-9]", lines[0])
    if line_ok and version == "HTTP/2.0":
        assert status == 505  # h11 parses the head and leaves the version to the application
        return
    if line_ok and any(n[:1] in (" ", "\t") for n, _ in fields):
        assert status == 400  # RFC 9112 §5.2: obs-fold refused; h11 unfolds it
        return
    form_ok = (
        target[0] == "/"
        or (target == "*" and method == "OPTIONS")
        or re.match(r"[A-Za-z][A-Za-z0-9+.-]*:", target) is not None
    )
    if method == "CONNECT":
        return  # authority-form (RFC 9112 §3.2.3: host:port) is checked by the corpus cases
    if not form_ok:
        assert status == 400  # RFC 9112 §3.2's four forms; h11 takes any 1*VCHAR
        return

    if theirs is None:
        assert status is not None, raw
        return
    assert status is None, (status, raw)
    assert head is not None
    assert head.method.encode("latin-1") == theirs.method
    assert head.target.encode("latin-1") == theirs.target
    assert head.version == "HTTP/" + theirs.http_version.decode()
    assert [(n.encode("latin-1"), v.encode("latin-1")) for n, v in head.headers] == list(theirs.headers)


def test_a_flood_of_empty_lines_before_a_request_is_consumed_at_once() -> None:
    """RFC 9112 §2.2 lets a server skip empty lines before a request line; all of them go in one step."""
    p = Parser(Limits())
    p.receive_data(b"\r\n" * 200_000 + b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
    assert replay(p, [b""]) == ["GET / HTTP/1.1", "end"]
    assert not p.buf


# ------------------------------------------------- the same answer whatever the segmentation

_PIECES = [
    b"POST / HTTP/1.1\r\n", b"GET /x HTTP/1.0\r\n", b"Host: a\r\n", b"Content-Length: 3\r\n",
    b"Transfer-Encoding: chunked\r\n", b"Connection: close\r\n", b"Expect: 100-continue\r\n",
    b"X: a\tb\r\n", b"\r\n", b"\n", b"\r", b"\x00", b" ", b"abc", b"3\r\n", b"3;e=\"v\"\r\n", b"0\r\n",
    b"T: 1\r\n", b"ffffffffffffffffff", b"X: " + b"y" * 40 + b"\r\n", b"\xa0", b"GET / HTTP/1.1\n",
]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    pieces=st.lists(st.sampled_from(_PIECES), max_size=14),
    cuts=st.lists(st.integers(min_value=0, max_value=400), max_size=6),
    max_head=st.sampled_from([32, 64, 16384]),
)
def test_any_stream_gets_the_same_events_however_it_is_split(pieces: List[bytes], cuts: List[int], max_head: int) -> None:
    raw = b"".join(pieces)
    limits = dict(max_head=max_head, max_headers=4, max_body=8)
    whole = replay(Parser(Limits(**limits)), [raw])
    points = sorted({c % (len(raw) + 1) for c in cuts})
    split = [raw[a:b] for a, b in zip([0, *points], [*points, len(raw)])]
    assert replay(Parser(Limits(**limits)), split) == whole, split
    assert replay(Parser(Limits(**limits)), [raw[i : i + 1] for i in range(len(raw))]) == whole
