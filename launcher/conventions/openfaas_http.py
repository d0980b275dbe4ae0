"""OpenFaaS python3-http template (``--convention openfaas-http``): ``handle(event, context)``.

Mirrors the official template's ``index.py`` (openfaas/python-flask-template,
``template/python3-http``), whose Flask server the launcher replaces:

Request -> ``event`` with ``body`` (the raw bytes, Flask's ``request.get_data()``),
``headers`` (case-insensitive lookups, ``.get``, ``in``, like Flask's headers),
``method``, ``query`` (``event.query['name']`` is the first value,
``.getlist(name)`` all of them, like Flask's ``request.args``) and ``path``; a
missing key read with ``[]`` raises werkzeug's ``BadRequestKeyError`` (a KeyError)
which, uncaught, is a 400 as under Flask;
``context.hostname`` from ``HOSTNAME`` (``localhost`` when unset).

Return -> response, as ``format_response`` does: ``None`` is an empty 200; a dict
gives ``statusCode`` (default 200), ``body`` (a dict or list as JSON, missing as
"", anything else ``str()`` as ``text/html; charset=utf-8``, bytes as they are) and
``headers`` (a dict or a list of pairs).  A non-dict return is what Flask accepts
from a view: a str (text/html), bytes, a list (JSON) or a ``(body, status[,
headers])`` tuple.  ``async def handle`` is awaited (the template itself only
calls ``handle`` synchronously).  Exceptions are the core's 500 ``{error, type,
traceback}``.
"""

from __future__ import annotations

import os

from ..protocol import CT_JSON, BadRequest, Request, Response, dumps, make_invoke, with_content_type
from ._http import canonical, query_pairs, status_code, utf8_text

TYPE_CHECKING = False
if TYPE_CHECKING:  # ``typing`` costs ~6 ms of start-up; annotations are strings
    from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

    from ..protocol import Invoke
    Header = Tuple[str, str]

#: The methods the template's Flask routes accept.
METHODS = ("GET", "PUT", "POST", "PATCH", "DELETE")

CT_HTML: Header = ("Content-Type", "text/html; charset=utf-8")


_CANONICAL: Dict[str, str] = {}


def _canonical(name: str) -> str:
    """``canonical(name)``, memoised: header names repeat across requests."""
    c = _CANONICAL.get(name)
    if c is None:
        c = canonical(name)
        if len(_CANONICAL) < 512:
            _CANONICAL[name] = c
    return c


class BadRequestKeyError(KeyError, BadRequest):
    """werkzeug's: a missing header or query key read with ``[]``; Flask answers 400
    (the invoker's answer to a :class:`~..protocol.BadRequest`, here naming the key)."""

    def __init__(self, where: str, key: Any) -> None:
        super().__init__(key)
        self.where = where
        self.key = key

    def __str__(self) -> str:
        return f"the request has no {self.where} {self.key!r}"


class Headers:
    """Request headers with Flask's reading API: case-insensitive, first value wins."""

    def __init__(self, pairs: List[Tuple[str, str]]) -> None:
        self._pairs = [(_canonical(k), v) for k, v in pairs]

    def get(self, key: str, default: Any = None) -> Any:
        key = key.lower()
        for k, v in self._pairs:
            if k.lower() == key:
                return v
        return default

    def getlist(self, key: str) -> List[str]:
        key = key.lower()
        return [v for k, v in self._pairs if k.lower() == key]

    def __getitem__(self, key: str) -> str:
        value = self.get(key)
        if value is None:
            raise BadRequestKeyError("header", key)
        return str(value)

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self.get(key) is not None

    def __iter__(self) -> Iterator[Tuple[str, str]]:  # werkzeug's Headers iterate (name, value) pairs
        return iter(self._pairs)

    def __len__(self) -> int:
        return len(self._pairs)

    def keys(self) -> List[str]:
        return list(dict.fromkeys(k for k, _ in self._pairs))

    def items(self) -> List[Tuple[str, str]]:
        return list(self._pairs)

    def to_dict(self) -> Dict[str, str]:
        out: Dict[str, str] = {}
        for k, v in self._pairs:
            out.setdefault(k, v)
        return out

    def __repr__(self) -> str:
        return f"Headers({self._pairs!r})"


class Query(dict):  # type: ignore[type-arg]
    """``request.args``: a dict of first values, plus ``getlist``."""

    def __init__(self, pairs: List[Tuple[str, str]]) -> None:
        super().__init__()
        self._lists: Dict[str, List[str]] = {}
        for k, v in pairs:
            self._lists.setdefault(k, []).append(v)
            if k not in self:
                self[k] = v

    def __getitem__(self, key: str) -> str:
        try:
            value: str = dict.__getitem__(self, key)
            return value
        except KeyError:
            raise BadRequestKeyError("query parameter", key) from None

    def getlist(self, key: str) -> List[str]:
        return list(self._lists.get(key, []))

    def to_dict(self, flat: bool = True) -> Dict[str, Any]:
        return dict(self) if flat else {k: list(v) for k, v in self._lists.items()}


class Event:
    """``index.py``'s ``Event``; ``headers`` and ``query`` are built on first use (as werkzeug's are)."""

    def __init__(self, req: Request) -> None:
        self.body: bytes = req.body
        self.method: str = req.method
        self.path: str = utf8_text(req.path)
        self._req = req
        self._headers: Optional[Headers] = None
        self._query: Optional[Query] = None

    @property
    def headers(self) -> Headers:
        if self._headers is None:
            self._headers = Headers([(k, utf8_text(v)) for k, v in self._req.headers])
        return self._headers

    @headers.setter
    def headers(self, value: Headers) -> None:
        self._headers = value

    @property
    def query(self) -> Query:
        if self._query is None:
            self._query = Query([(k.decode("utf-8", "replace"), v.decode("utf-8", "replace"))
                                 for k, v in query_pairs(self._req.query)])
        return self._query

    @query.setter
    def query(self, value: Query) -> None:
        self._query = value


class Context:
    def __init__(self, hostname: str) -> None:
        self.hostname = hostname


def _headers(value: Any) -> List[Header]:
    if not value:
        return []
    items = value.items() if isinstance(value, dict) else value
    out: List[Header] = []
    for item in items:
        k, v = item
        out.append((str(k), v if isinstance(v, str) else str(v)))
    return out


def _body(body: Any) -> Tuple[bytes, Header]:
    if isinstance(body, (dict, list)):
        return dumps(body), CT_JSON
    if isinstance(body, (bytes, bytearray)):
        return bytes(body), CT_HTML
    return str(body).encode("utf-8"), CT_HTML


def encode(result: Any) -> Response:
    """The template's ``format_response`` plus what Flask does with the value."""
    if result is None:
        return with_content_type(200, [], b"", CT_HTML)
    if isinstance(result, dict):
        status = status_code(result.get("statusCode", 200))
        data, ct = _body(result["body"]) if "body" in result else (b"", CT_HTML)
        return with_content_type(status, _headers(result.get("headers")), data, ct)
    if isinstance(result, tuple) and 2 <= len(result) <= 3:
        data, ct = _body(result[0])
        headers = _headers(result[2]) if len(result) == 3 else []
        return with_content_type(status_code(result[1]), headers, data, ct)
    if isinstance(result, (str, bytes, bytearray, list)):
        data, ct = _body(result)
        return with_content_type(200, [], data, ct)
    raise TypeError(
        f"handle returned {type(result).__name__}; return a dict with statusCode, body and headers"
    )


def make_invoker(fn: Callable[..., Any]) -> Invoke:
    """Wrap ``fn(event, context)`` into ``invoke(Request) -> Response`` (async when *fn* is)."""
    hostname = os.getenv("HOSTNAME", "localhost")  # index.py reads it per request; it does not change

    def call(req: Request) -> Any:
        return fn(Event(req), Context(hostname))

    return make_invoke(fn, call, encode)
