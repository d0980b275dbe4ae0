"""HTTP/1.1 request framing without I/O: bytes in, request events out (RFC 9112, RFC 9110).

Hand-written because the launcher may import the standard library only (DESIGN.md §3): h11
and llhttp do this job, but the artifact runs on a bare image, and the stdlib's own parser
(``http.server`` on ``email.feedparser``) is lenient where smuggling starts (bare LF line
ends, ``str.strip()`` on Transfer-Encoding, unvalidated chunk extensions and trailers) and
slow.  So this module is strict and tested as data: ``tests/http/*.http`` (cases from RFC
9112/9110, llhttp's ``test/request`` corpus and http-garden's bug list) replayed whole, byte
by byte and in random splits, plus a differential test against h11 on generated heads.

Use (one :class:`Parser` per connection; the socket loop stays in server.py)::

    p = Parser(limits)
    p.receive_data(data)                    # whatever recv() returned, any split
    while True:
        ev = p.next_event()
        if ev is NEED_DATA: break           # wait for more bytes
        if type(ev) is Head: ...            # method, target, version, headers, framing
        elif type(ev) is Data: ...          # a piece of the (de-chunked) body
        elif ev is END: ...                 # end of this request; the next one follows
        else: ...                           # Reject: answer ev.status, then close

Every decision depends on the bytes alone, never on how they were split: each check below
that fires before a message is complete (bare LF in a head, a line over its limit) fires on
every prefix of a stream that would fail it whole, and on no other.  After :class:`Reject`
the parser is dead (the connection must close: RFC 9112 §11.2, a framing error leaves the
rest of the stream unframed).  Names are lower-cased; values are latin-1 ``str`` stripped of
SP/HTAB only (RFC 9110 §5.5).
"""

from __future__ import annotations

import re

TYPE_CHECKING = False
if TYPE_CHECKING:  # ``typing`` costs start-up time; annotations are strings
    from typing import Any, Dict, FrozenSet, List, Optional, Tuple, Union

    Event = Union["Head", "Data", "_End", "Reject", "_NeedData"]


class _Later:
    """A pattern compiled on its first use, for the framing few requests need.

    Compiling every pattern at import was ~1.7 ms of each cold start (``re`` compiles
    on the CPU; nothing is read from disk later), and chunked bodies, transfer-codings,
    trailers and absolute-form targets are rare. After the first use the compiled
    pattern's methods are plain instance attributes: no ``__getattr__`` again.
    """

    def __init__(self, pattern: Any) -> None:
        self.pattern = pattern

    def __getattr__(self, name: str) -> Any:
        compiled = re.compile(self.pattern)
        self.__dict__.update(match=compiled.match, fullmatch=compiled.fullmatch, search=compiled.search)
        return getattr(compiled, name)


#: RFC 9110 §5.6.2: token = 1*tchar
_TCHAR = r"[-!#$%&'*+.^_`|~0-9A-Za-z]"
_TOKEN = _TCHAR + "+"
#: RFC 9110 §5.6.4: quoted-string = DQUOTE *( qdtext / quoted-pair ) DQUOTE
_QUOTED = r'"(?:[\t \x21\x23-\x5b\x5d-\x7e\x80-\xff]|\\[\t \x21-\x7e\x80-\xff])*"'

#: RFC 9112 §3: request-line = method SP request-target SP HTTP-version, one SP each;
#: method = token (RFC 9110 §9.1); HTTP-version = "HTTP/" DIGIT "." DIGIT (§2.3, case-sensitive).
#: The target is 1*VCHAR (as h11 has it): RFC 9112 §3.2's forms are checked by
#: :func:`_target_ok`; characters the URI grammar forbids but real clients send (``|``,
#: ``"``, ``{``) pass, as with nginx, h11 and llhttp.  No CTL, SP or obs-text can.
_REQUEST_LINE = re.compile("(" + _TOKEN + r") ([\x21-\x7e]+) HTTP/([0-9])\.([0-9])")
#: RFC 9112 §5: field-line = field-name ":" OWS field-value OWS, one per CRLF; field-name =
#: token (RFC 9110 §5.1), so no whitespace before the colon (§5.1: MUST 400) and no obs-fold
#: (§5.2: a line starting with SP/HTAB; rejected, the server's choice).
_FIELD_NAME = re.compile(_TOKEN)
#: RFC 9110 §5.5: field-value = *field-content: VCHAR / obs-text / SP / HTAB; no CTL, so no
#: bare CR or LF either (RFC 9112 §2.2: a bare CR MUST be refused; a bare LF line end too).
#: (Error messages only: a head's CTLs are refused first, with _BAD_HEAD_STR.)
_FIELD_VALUE = _Later(r"[\t\x20-\x7e\x80-\xff]*")
#: The same for one trailer field line (RFC 9112 §7.1.2), as bytes: no CTL but HTAB.
_TRAILER_LINE = _Later((_TOKEN + r":[\t\x20-\x7e\x80-\xff]*").encode("latin-1"))
#: RFC 9112 §7.1: chunk-size [ chunk-ext ] CRLF; chunk-size = 1*HEXDIG;
#: chunk-ext = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] ),
#: chunk-ext-name = token, chunk-ext-val = token / quoted-string.  No whitespace after the
#: size unless an extension follows (llhttp's strict mode; h11 allows it).
_CHUNK_LINE = _Later(
    (r"([0-9A-Fa-f]+)(?:[ \t]*;[ \t]*" + _TOKEN + r"(?:[ \t]*=[ \t]*(?:" + _TOKEN + "|" + _QUOTED + "))?)*").encode("latin-1")
)
_HEX_DIGITS = _Later(rb"[0-9A-Fa-f]+")
#: RFC 9112 §6.1 / RFC 9110 §10.1.4: transfer-coding = token *( OWS ";" OWS transfer-parameter )
_CODING = _Later(_TOKEN + r"(?:[ \t]*;[ \t]*" + _TOKEN + r"[ \t]*=[ \t]*(?:" + _TOKEN + "|" + _QUOTED + "))*")
#: RFC 9112 §3.2 / RFC 3986 §3.2.2: Host = uri-host [ ":" port ], uri-host = IP-literal /
#: IPv4address / reg-name (percent-encoded octets allowed). Empty is valid (§3.2: no authority).
_HOST = re.compile(r"(?:\[[0-9A-Za-z:._~!$&'()*+,;=-]+\]|[0-9A-Za-z._~!$&'()*+,;=%-]*)(?::[0-9]*)?")
#: RFC 9112 §3.2.2: absolute-form = absolute-URI (RFC 3986 §4.3: scheme ":" hier-part)
_ABSOLUTE = _Later(r"[A-Za-z][A-Za-z0-9+.-]*:")

#: A byte no request head contains: a CTL but HTAB, a bare CR, a bare LF (early refusals only)
_BAD_HEAD = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]|\r(?!\n)|(?<!\r)\n")
_BAD_HEAD_STR = _Later(_BAD_HEAD.pattern.decode("latin-1"))
#: Field names seen valid (the same few on every request): skips the regex. Bounded.
_NAMES_OK: Dict[str, None] = {}
_EMPTY_LINES = re.compile(rb"(?:\r\n)*")
#: Request lines seen valid -> (method, target, is HTTP/1.0): most requests repeat a few. Bounded.
_LINES_OK: Dict[str, Tuple[str, str, bool]] = {}
#: Host values seen valid (most connections send the same few): skips the regex. Bounded.
_HOSTS_OK: Dict[str, None] = {}

#: A chunk-size line (with its extensions and CRLF) may be this long; longer is refused (400)
#: wherever the bytes are split (issue 29: a 5 KiB extension was accepted in one write only).
MAX_CHUNK_LINE = 4096

_SPECIAL = frozenset(("content-length", "transfer-encoding", "connection", "expect", "host"))


def escape(text: str) -> str:
    """*text* for a log line: printable ASCII as is, any other character as ``\\xNN``/``\\uNNNN``.

    Whatever a client sent can then neither end a log line, start one, nor fake a field
    separator (HTAB).
    """
    if text.isascii() and text.isprintable():
        return text
    return "".join(c if " " <= c <= "~" else c.encode("unicode_escape").decode("ascii") for c in text)


def _show(raw: Union[str, bytes, bytearray]) -> str:
    """A quoted, escaped excerpt of client bytes for an error message (and the log)."""
    if not isinstance(raw, str):
        raw = bytes(raw).decode("latin-1")
    return "'" + escape(raw[:64]) + ("'..." if len(raw) > 64 else "'")


class Limits:
    """The sizes a request may reach (IGNITE_MAX_HEADER_BYTES, _MAX_HEADERS, _MAX_BODY_BYTES)."""

    __slots__ = ("max_body", "max_head", "max_headers", "special", "watch")

    def __init__(
        self,
        max_head: int = 16 * 1024,
        max_headers: int = 100,
        max_body: int = 10 * 1024 * 1024,
        watch: FrozenSet[str] = frozenset(),
    ) -> None:
        self.max_head = max_head  # request line + fields + the empty line, in bytes (431 past it)
        self.max_headers = max_headers  # field lines in a head, or in a trailer section (431)
        self.max_body = max_body  # declared or de-chunked body bytes (413)
        #: lower-case field names whose last value :attr:`Head.watched` reports (no second scan)
        self.watch = watch
        self.special = _SPECIAL | watch  # the fields the head loop looks at


class Head:
    """A request head: the first event of every request."""

    __slots__ = (
        "chunked",
        "content_length",
        "expect_continue",
        "headers",
        "keep_alive",
        "method",
        "target",
        "version",
        "watched",
    )

    def __init__(
        self,
        method: str,
        target: str,
        version: str,
        headers: List[Tuple[str, str]],
        keep_alive: bool = True,
        expect_continue: bool = False,
        content_length: int = 0,
        watched: Optional[Dict[str, str]] = None,
    ) -> None:
        self.method = method
        self.target = target
        self.version = version  # "HTTP/1.1" or "HTTP/1.0"
        self.headers = headers  # (lower-case name, value) in arrival order
        self.keep_alive = keep_alive  # the connection may carry another request after this one
        self.expect_continue = expect_continue  # "Expect: 100-continue" on HTTP/1.1, a body to come
        self.content_length = content_length  # body bytes, -1 when chunked
        self.chunked = content_length < 0
        self.watched = watched  # Limits.watch names seen -> last value

    def __repr__(self) -> str:
        return f"Head({self.method} {self.target} {self.version})"


class Data:
    """A piece of the request body (de-chunked); pieces follow the bytes as they arrive."""

    __slots__ = ("data",)

    def __init__(self, data: bytes) -> None:
        self.data = data

    def __repr__(self) -> str:
        return f"Data({self.data!r})"


class _End:
    __slots__ = ()

    def __repr__(self) -> str:
        return "END"


class _NeedData:
    __slots__ = ()

    def __repr__(self) -> str:
        return "NEED_DATA"


#: The request is complete (trailer fields, if any, were checked and dropped: RFC 9110 §6.5.1).
END = _End()
#: Nothing more can be parsed until :meth:`Parser.receive_data` brings more bytes.
NEED_DATA = _NeedData()


class Reject(Exception):
    """The request is refused with *status* (a 4xx/5xx); the connection must close after it."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message

    def __repr__(self) -> str:
        return f"Reject({self.status}, {self.message!r})"


# parser states
_HEAD = 0
_BODY = 1  # Content-Length body; ``need`` bytes to go
_CHUNK_SIZE = 2
_CHUNK_DATA = 3  # ``need`` bytes of this chunk to go
_CHUNK_CRLF = 4
_TRAILER = 5
_END_PENDING = 6  # the body is complete: next_event() says END
_CLOSED = 7  # the last request on this connection ended (no keep-alive): nothing more is read
_DEAD = 8  # rejected


class Parser:
    """The HTTP/1.1 request side of one connection: all framing state lives here."""

    __slots__ = (
        "body_size",
        "buf",
        "keep_alive",
        "length",
        "lf_scan",
        "limits",
        "need",
        "reject",
        "scan",
        "state",
        "trailer",
    )

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        #: Bytes received and not parsed yet. The object never changes (only its contents),
        #: so the server may keep a reference to it (its length, or clear it when lingering).
        self.buf = bytearray()
        self.state = _HEAD
        self.scan = 0  # where the search for the end of the head resumes
        self.lf_scan = 0  # where the search for a bad byte in an incomplete head resumes
        self.need = 0  # bytes of the Content-Length body (or of the chunk) not returned yet
        self.length = 0  # the Content-Length of the request in progress (0: none or chunked)
        self.body_size = 0  # de-chunked bytes so far
        self.trailer = 0  # trailer bytes so far (counted against max_head), then field lines
        self.keep_alive = True
        self.reject: Optional[Reject] = None

    def receive_data(self, data: bytes) -> None:
        self.buf += data

    def body_buffered(self) -> bool:
        """Right after a Content-Length head: is the whole body received already?

        (The server then skips ``100 Continue``: RFC 9110 §10.1.1 lets it.)
        """
        return self.state == _BODY and len(self.buf) >= self.need

    def in_message(self) -> bool:
        """A head was returned and its END not yet: the body is still arriving."""
        return _BODY <= self.state <= _END_PENDING

    def next_event(self) -> Event:
        state = self.state
        try:
            if state == _HEAD:
                return self._head()
            if state == _BODY:
                buf = self.buf
                n = len(buf)
                if not n:
                    return NEED_DATA
                need = self.need
                if n >= need:
                    data = bytes(buf[:need])
                    del buf[:need]
                    self.state = _END_PENDING
                else:
                    data = bytes(buf)
                    buf.clear()
                    self.need = need - n
                return Data(data)
            if state == _END_PENDING:
                self.state = _HEAD if self.keep_alive else _CLOSED
                return END
            if state == _CLOSED:
                self.buf.clear()  # after the last request: never parsed
                return NEED_DATA
            if state == _DEAD:
                self.buf.clear()
                assert self.reject is not None
                return self.reject
            return self._chunked()
        except Reject as exc:
            self.state = _DEAD
            self.reject = exc
            self.buf.clear()
            return exc

    # --- the head ------------------------------------------------------------------

    def _bad_byte(self, limit: int) -> int:
        """The offset of the first byte in ``buf[:limit]`` no head may contain, or -1.

        That is a CTL other than HTAB, a CR not followed by LF or an LF not preceded by CR
        (RFC 9112 §2.2, RFC 9110 §5.5). A CR that is the last byte received is undecided yet.
        Resumes where the last call stopped: a head sent byte by byte is scanned once.
        """
        buf = self.buf
        n = len(buf)
        upto = n if n <= limit else limit + 1
        m = _BAD_HEAD.search(buf, self.lf_scan, upto)
        if m is None:
            self.lf_scan = upto
            return -1
        t = m.start()
        if t >= limit or (t == n - 1 and buf[t] == 13):
            self.lf_scan = t
            return -1
        return t

    def _head(self) -> Event:
        buf = self.buf
        if not buf:
            return NEED_DATA
        if buf[0] == 13:
            # RFC 9112 §2.2: a server SHOULD ignore at least one empty line (CRLF) received
            # before the request-line. Only CRLF: a bare LF or CR falls to the checks below.
            # (All of them in one deletion: a flood of CRLFs costs no quadratic memmove.)
            del buf[: _EMPTY_LINES.match(buf).end()]  # type: ignore[union-attr]
            if not buf or buf == b"\r":
                return NEED_DATA
        limit = self.limits.max_head
        end = buf.find(b"\r\n\r\n", self.scan)
        if end < 0 or end + 4 > limit:
            # Incomplete (or too long): answer now if it can only fail. A bare LF or CR, or
            # another CTL (RFC 9112 §2.2, RFC 9110 §5.5) is refused at once (400, not after the
            # header time-out: LF-only heads); a head over IGNITE_MAX_HEADER_BYTES is 431
            # (RFC 6585 §5). A bad byte decides first when it lies within the limit, so the
            # answer does not depend on the split.
            n = len(buf)
            bad = self._bad_byte(limit)
            if bad >= 0 and (end < 0 or bad < end):
                raise Reject(400, _ctl_message(bytes(buf[: bad + 2])) or "control character in the request head")
            if end >= 0 or n > limit:
                raise Reject(431, f"request head exceeds IGNITE_MAX_HEADER_BYTES={limit}")
            self.scan = n - 3 if n > 3 else 0
            return NEED_DATA
        head = buf[:end].decode("latin-1")
        del buf[: end + 4]
        self.scan = 0
        self.lf_scan = 0
        # First of all checks, as for an incomplete head (so no split changes the answer): no
        # CTL but HTAB, no bare CR or LF (RFC 9112 §2.2, RFC 9110 §5.5). str.isprintable() is
        # one C pass; only a head with HTAB or obs-text (or a fault) needs the regex.
        if not head.replace("\r\n", " ").isprintable() and _BAD_HEAD_STR.search(head) is not None:
            raise Reject(400, _ctl_message(head.encode("latin-1")) or "control character in the request head")
        lines = head.split("\r\n")
        line = lines[0]
        known = _LINES_OK.get(line)
        if known is None:
            known = _request_line(line, head)
        method, target, v10 = known
        limits = self.limits
        if len(lines) - 1 > limits.max_headers:
            raise Reject(431, f"more than IGNITE_MAX_HEADERS={limits.max_headers} header fields")
        headers: List[Tuple[str, str]] = []
        add = headers.append
        special = limits.special
        watched: Optional[Dict[str, str]] = None
        keep = not v10  # RFC 9112 §9.3: 1.1 persists unless "close"; 1.0 only with "keep-alive"
        cl = -1
        te: Optional[List[str]] = None
        expect = False
        hosts = 0
        for field in lines[1:]:
            name, sep, value = field.partition(":")
            if not sep or (name not in _NAMES_OK and not _new_name(name)):
                raise Reject(400, _field_error(head.encode("latin-1"), lines))
            key = name.lower()
            v = value.strip(" \t")  # RFC 9110 §5.5: OWS is SP / HTAB, nothing else (no CTL: above)
            add((key, v))
            if key in special:
                if key == "content-length":
                    # RFC 9112 §6.3 (5) / RFC 9110 §8.6: 1*DIGIT; differing values are an
                    # unrecoverable error. A list ("5, 5") is refused too (§8.6 allows it), and
                    # so is a second line, even with the same value: two lines are that list
                    # (RFC 9110 §5.3), and llhttp and nginx refuse them.
                    if not (v.isdigit() and v.isascii()):
                        raise Reject(400, f"invalid Content-Length {_show(v)} (digits only: RFC 9110 §8.6)")
                    if cl >= 0:
                        raise Reject(400, "two Content-Length lines (RFC 9112 §6.3, RFC 9110 §8.6)")
                    if len(v) > 18:  # beyond any limit; int() of 5000 digits raises
                        v = v.lstrip("0") or "0"
                    cl = int(v) if len(v) <= 18 else 1 << 62
                elif key == "transfer-encoding":
                    if te is None:
                        te = []
                    te.append(v)
                elif key == "connection":
                    # RFC 9110 §7.6.1: Connection = #connection-option (case-insensitive tokens)
                    for token in v.lower().split(","):
                        token = token.strip(" \t")
                        if token == "close":
                            keep = False
                        elif token == "keep-alive" and v10:
                            keep = True
                elif key == "expect":
                    # RFC 9110 §10.1.1: 100-continue is the only expectation; any other is 417.
                    # An HTTP/1.0 request's 100-continue MUST be ignored.
                    if v.lower() != "100-continue":
                        raise Reject(417, f"unsupported Expect: {_show(v)} (only 100-continue)")
                    expect = not v10
                elif key != "host":  # one of Limits.watch
                    if watched is None:
                        watched = {}
                    watched[key] = v
                else:
                    # RFC 9112 §3.2: more than one Host, or an invalid one, MUST be 400.
                    # (A missing Host on HTTP/1.1 is let through: one function is served,
                    # nothing is routed by it, and probes and test clients omit it.)
                    hosts += 1
                    if hosts > 1:
                        raise Reject(400, "more than one Host header field (RFC 9112 §3.2)")
                    if v not in _HOSTS_OK:
                        if _HOST.fullmatch(v) is None:
                            raise Reject(400, f"invalid Host {_show(v)} (RFC 9112 §3.2)")
                        if len(_HOSTS_OK) < 64 and len(v) <= 256:
                            _HOSTS_OK[v] = None
        if te is not None:
            _check_codings(te, cl)
            cl = -1
            if v10:
                # RFC 9112 §6.1: Transfer-Encoding in an HTTP/1.0 message: treat the framing as
                # faulty and close the connection after processing it.
                keep = False
            self.state = _CHUNK_SIZE
            self.length = 0
            self.body_size = 0
            self.trailer = 0
        elif cl > 0:
            if cl > limits.max_body:
                raise Reject(413, f"body of {cl} bytes exceeds IGNITE_MAX_BODY_BYTES={limits.max_body}")
            self.state = _BODY
            self.need = self.length = cl
        else:
            # RFC 9112 §6.3 (6): a request with neither has no body.
            self.state = _END_PENDING
            self.length = cl = 0
            expect = False
        self.keep_alive = keep
        return Head(method, target, "HTTP/1.0" if v10 else "HTTP/1.1", headers, keep, expect, cl, watched)

    # --- chunked bodies (RFC 9112 §7.1) -----------------------------------------------

    def _line(self, limit: int, what: str, status: int) -> int:
        """The end (offset of the LF) of the CRLF line at the front of ``buf``; -1: wait.

        A line longer than *limit* (CRLF included) is refused with *status* whether or not
        its end arrived yet (the length decides before the terminator, so no split changes
        the answer); then a bare LF is refused (RFC 9112 §2.2).
        """
        buf = self.buf
        i = buf.find(b"\n", 0, limit)
        if i < 0:
            if len(buf) >= limit:
                raise Reject(status, f"{what} longer than {limit} bytes")
            return -1
        if i == 0 or buf[i - 1] != 13:
            raise Reject(400, f"bare LF in the {what} (lines end with CRLF: RFC 9112 §7.1)")
        return i

    def _chunked(self) -> Event:
        buf = self.buf
        while True:
            state = self.state
            if state == _CHUNK_SIZE:
                i = self._line(MAX_CHUNK_LINE, "chunk size line", 400)
                if i < 0:
                    m = _HEX_DIGITS.match(buf)
                    if m is not None and len(m.group().lstrip(b"0")) > 15:
                        # RFC 9112 §7.1: sizes that overflow are refused, as soon as they do
                        raise Reject(400, "chunk size too large")
                    return NEED_DATA
                line = bytes(buf[: i - 1])
                m = _CHUNK_LINE.fullmatch(line)
                if m is None:
                    raise Reject(400, f"invalid chunk size line {_show(line)} (RFC 9112 §7.1)")
                digits = m.group(1).lstrip(b"0")
                if len(digits) > 15:
                    raise Reject(400, "chunk size too large")
                size = int(digits or b"0", 16)
                del buf[: i + 1]
                if size == 0:
                    # RFC 9112 §7.1: last-chunk, then trailer-section and the final CRLF
                    self.state = _TRAILER
                    self.trailer = 0
                    self.need = 0
                    continue
                self.body_size += size
                if self.body_size > self.limits.max_body:
                    raise Reject(413, f"chunked body exceeds IGNITE_MAX_BODY_BYTES={self.limits.max_body}")
                self.need = size
                self.state = _CHUNK_DATA
            elif state == _CHUNK_DATA:
                n = len(buf)
                if not n:
                    return NEED_DATA
                need = self.need
                if n >= need:
                    data = bytes(buf[:need])
                    del buf[:need]
                    self.state = _CHUNK_CRLF
                else:
                    data = bytes(buf)
                    buf.clear()
                    self.need = need - n
                return Data(data)
            elif state == _CHUNK_CRLF:
                # RFC 9112 §7.1: chunk-data CRLF, exactly; decided byte by byte
                if not buf:
                    return NEED_DATA
                if buf[0] != 13 or (len(buf) > 1 and buf[1] != 10):
                    raise Reject(400, "chunk data not followed by CRLF (RFC 9112 §7.1)")
                if len(buf) < 2:
                    return NEED_DATA
                del buf[:2]
                self.state = _CHUNK_SIZE
            else:  # _TRAILER: field lines, then an empty line (RFC 9112 §7.1.2)
                limit = self.limits.max_head
                i = self._line(limit - self.trailer, "trailer section", 431)
                if i < 0:
                    return NEED_DATA
                if i == 1:
                    del buf[:2]
                    self.state = _HEAD if self.keep_alive else _CLOSED
                    return END
                line = bytes(buf[: i - 1])
                if _TRAILER_LINE.fullmatch(line) is None:
                    raise Reject(400, f"invalid trailer field {_show(line)} (RFC 9112 §7.1.2)")
                del buf[: i + 1]
                self.trailer += i + 1
                self.need += 1
                if self.need > self.limits.max_headers:
                    raise Reject(431, f"more than IGNITE_MAX_HEADERS={self.limits.max_headers} trailer fields")


# --- the checks of a head, out of the fast path -----------------------------------------------


def _new_name(name: str) -> bool:
    """Is *name* a field-name (a token: RFC 9110 §5.1)? Remembered if so (bounded)."""
    if _FIELD_NAME.fullmatch(name) is None:
        return False
    if len(_NAMES_OK) < 512 and len(name) <= 64:
        _NAMES_OK[name] = None
    return True


def _request_line(line: str, head: str) -> Tuple[str, str, bool]:
    """Check a request line (RFC 9112 §3): (method, target, is HTTP/1.0), or raise Reject."""
    m = _REQUEST_LINE.fullmatch(line)
    if m is None:
        raise Reject(*_request_line_error(head.encode("latin-1"), line))
    method, target, major, minor = m.groups()
    if major != "1" or (minor != "1" and minor != "0"):
        # RFC 9110 §15.6.6: 505 for a major version not supported; 1.x other than 1.0
        # and 1.1 does not exist (and llhttp refuses it too).
        raise Reject(505, f"HTTP/{major}.{minor} is not supported; use HTTP/1.1 or HTTP/1.0")
    if not _target_ok(method, target):
        raise Reject(400, f"malformed request target {_show(target)} (RFC 9112 §3.2)")
    known = (method, target, minor == "0")
    if len(_LINES_OK) < 256 and len(line) <= 256:
        _LINES_OK[line] = known
    return known


def _target_ok(method: str, target: str) -> bool:
    """RFC 9112 §3.2: origin-form, absolute-form, authority-form for CONNECT only (§3.2.3),
    asterisk-form for OPTIONS only (§3.2.4)."""
    if target[0] == "/":
        return True
    if target == "*":
        return method == "OPTIONS"
    if method == "CONNECT":
        return _HOST.fullmatch(target) is not None and ":" in target
    return _ABSOLUTE.match(target) is not None


def split_target(target: str) -> Tuple[str, str]:
    """(path, query) of a request target: the path of an absolute-form target (RFC 9112 §3.3)."""
    if target[0] != "/":
        if "://" in target:  # absolute-form: drop scheme and authority
            rest = target.split("://", 1)[1]
            slash = rest.find("/")
            target = rest[slash:] if slash >= 0 else "/"
        elif target == "*":
            return "*", ""
    path, _, query = target.partition("?")
    return path, query


def _check_codings(values: List[str], cl: int) -> None:
    """RFC 9112 §6.1 / §6.3: the Transfer-Encoding list must end with chunked, once."""
    if cl >= 0:
        # RFC 9112 §6.3 (3): both is "ought to be handled as an error" (smuggling, §11.2);
        # an empty Transfer-Encoding next to Content-Length too (issue 29).
        raise Reject(400, "both Transfer-Encoding and Content-Length (RFC 9112 §6.3)")
    joined = ",".join(values)
    # RFC 9110 §5.6.1: empty list elements are ignored; at least one must remain (1#).
    codings = [c.strip(" \t") for c in joined.split(",")]
    codings = [c for c in codings if c]
    if not codings:
        raise Reject(400, "empty Transfer-Encoding (RFC 9112 §6.1)")
    for c in codings:
        if _CODING.fullmatch(c) is None:
            raise Reject(400, f"invalid transfer coding {_show(c)} (RFC 9112 §6.1)")
    names = [c.lower() for c in codings]
    if names[-1] != "chunked":
        # RFC 9112 §6.3 (4): chunked not final -> length unknown: MUST 400 and close
        raise Reject(400, f"Transfer-Encoding {_show(joined)} does not end with chunked (RFC 9112 §6.3)")
    if names.count("chunked") > 1:
        raise Reject(400, "chunked applied more than once (RFC 9112 §7)")
    if len(names) > 1:
        # RFC 9112 §6.1: a transfer coding the server does not understand: 501
        raise Reject(501, f"unsupported Transfer-Encoding {_show(joined)}; only chunked")


def _ctl_message(raw: bytes) -> Optional[str]:
    for i, b in enumerate(raw):
        if b == 13 and raw[i + 1 : i + 2] == b"\n":
            continue
        if b == 10 and i and raw[i - 1] == 13:
            continue
        if (b < 0x20 and b != 9) or b == 0x7F:
            what = {10: "bare LF", 13: "bare CR"}.get(b, f"control character 0x{b:02x}")
            line = raw.count(b"\r\n", 0, i) + 1
            return f"{what} in line {line} of the request head (RFC 9112 §2.2, RFC 9110 §5.5)"
    return None


def _request_line_error(raw: bytes, line: str) -> Tuple[int, str]:
    ctl = _ctl_message(raw)
    if ctl is not None:
        return 400, ctl
    return 400, f"malformed request line {_show(line)} (method SP request-target SP HTTP-version: RFC 9112 §3)"


def _field_error(raw: bytes, lines: List[str]) -> str:
    ctl = _ctl_message(raw)
    if ctl is not None:
        return ctl
    for n, line in enumerate(lines[1:], 2):
        name, sep, value = line.partition(":")
        if not sep or _FIELD_NAME.fullmatch(name) is None or _FIELD_VALUE.fullmatch(value) is None:
            if line[:1] in (" ", "\t"):
                return f"obsolete line folding in line {n} (RFC 9112 §5.2)"
            return f"malformed header line {n}: {_show(line)} (field-name \":\" field-value: RFC 9112 §5)"
    return "malformed header line"  # pragma: no cover
