"""Download: the files the resolver chose, fetched directly by URL and in parallel (pip download is
the fallback for anything unusual), with the TLS context pip on this machine would use.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import os
import socket
import threading
import urllib.parse
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

from packager import __version__
from packager.deps.indexconfig import IndexConfig
from packager.deps.indexes import configured_index_urls, credentials_for
from packager.deps.resolve import Pin

if TYPE_CHECKING:
    import ssl
    import urllib.request

# ssl and urllib.request (with http.client and email: ~25 ms of import) are imported where a
# download starts: a warm build, whose wheels are all in the cache, never needs them.


def warm_up() -> None:
    """Make the TLS context and import the HTTP client in the background while the resolver
    runs: loading the CA bundle (~20 ms) and urllib.request with http.client, email and the
    idna codec (~10 ms) would otherwise sit between resolution and the first download."""
    # Not a daemon (said explicitly: it is started from the early-resolution thread, which is
    # one, and a thread inherits that): a process that ends meanwhile (a failed resolution)
    # waits the few ms for it. As a daemon, exit() ran OpenSSL's cleanup under it: SIGSEGV.
    threading.Thread(target=_ready_to_download, name="ignite-tls-warm-up", daemon=False).start()


def _ready_to_download() -> None:
    _ssl_context()
    import urllib.request  # noqa: F401  (the download threads' imports, made here)

    "files.host".encode("idna")  # http.client encodes each host name with it


def _ssl_context() -> ssl.SSLContext:
    """Trust what pip on this machine trusts: PIP_CERT, then the usual CA bundle variables."""
    for var in ("PIP_CERT", "REQUESTS_CA_BUNDLE", "SSL_CERT_FILE"):
        path = os.environ.get(var)
        if path and os.path.isfile(path):
            return _context_for(path, os.stat(path).st_mtime_ns)
    return _context_for(None, 0)


@functools.cache
def _context_for(cafile: Optional[str], mtime_ns: int) -> ssl.SSLContext:
    """One context per CA bundle (and version of it) for the process's life."""
    import ssl

    return ssl.create_default_context(cafile=cafile) if cafile else ssl.create_default_context()


class SharedLookups:
    """Each host's addresses, looked up once for all the download threads of one build.

    urllib looks the host up again for every file. A closure's 20-100 wheels all come from one
    files host, and 8 concurrent lookups are where a lost DNS reply shows: on this machine's
    resolver, 8 parallel lookups of one name stalled for the resolver's 5 s retry in ~40% of
    rounds (a single lookup in ~2.5%), which made cold builds of 20 wheels take 6 s instead of
    1.3 s. One lookup per host per build, waited for by the other threads, is what pip and uv do
    (they keep pooled connections). Proxies, redirects and TLS stay urllib's.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._found: dict[tuple[str, int], list[tuple[Any, ...]]] = {}
        self.lookups = 0

    def addresses(self, host: str, port: int) -> list[tuple[Any, ...]]:
        with self._lock:  # the first thread looks up; the others wait for its answer
            found = self._found.get((host, port))
            if found is None:
                self.lookups += 1
                found = socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM)
                self._found[(host, port)] = found
        return found

    def connect(self, address: tuple[str, int], timeout: Any = None,
                source_address: Optional[tuple[str, int]] = None) -> socket.socket:
        """socket.create_connection's loop over the addresses, with the shared lookup."""
        host, port = address
        error: Optional[OSError] = None
        for family, kind, proto, _name, sockaddr in self.addresses(host, port):
            sock = socket.socket(family, kind, proto)
            try:
                if isinstance(timeout, (int, float)):
                    sock.settimeout(timeout)
                if source_address:
                    sock.bind(source_address)
                sock.connect(sockaddr)
                return sock
            except OSError as exc:
                error = exc
                sock.close()
        raise error or OSError(f"no address for {host}")


def _opener(context: ssl.SSLContext, lookups: SharedLookups) -> urllib.request.OpenerDirector:
    """urllib's opener (proxies from the environment, redirects) whose connections share ``lookups``."""
    import http.client
    import urllib.request

    def shared(cls: type[http.client.HTTPConnection]) -> Callable[..., http.client.HTTPConnection]:
        def make(host: str, **kwargs: Any) -> http.client.HTTPConnection:
            conn = cls(host, **kwargs)
            # http.client's hook for opening the socket (every version we support has it;
            # tests/test_dependencies.py counts the lookups, so a change there fails a test).
            conn._create_connection = lookups.connect  # type: ignore[attr-defined]
            return conn
        return make

    class HTTPS(urllib.request.HTTPSHandler):
        def https_open(self, req: urllib.request.Request) -> Any:
            return self.do_open(shared(http.client.HTTPSConnection), req, context=context)

    class HTTP(urllib.request.HTTPHandler):
        def http_open(self, req: urllib.request.Request) -> Any:
            return self.do_open(shared(http.client.HTTPConnection), req)

    return urllib.request.build_opener(HTTPS(context=context), HTTP())


def _download_one(pin: Pin, dest: Path, opener: urllib.request.OpenerDirector,
                  index_urls: Sequence[str], suffixes: tuple[str, ...]) -> Optional[Path]:
    """Download the file the resolver chose; None on any failure (pip download is the fallback).

    Basic-auth credentials for the file's host (an index URL's userinfo, or
    netrc) are sent as an unredirected header: a redirect to another host never
    carries them.
    """
    url = pin.url.split("#", 1)[0]
    parts = urllib.parse.urlsplit(url)
    if parts.username is not None or parts.password is not None:
        return None  # a URL carrying credentials is pip's to handle (never logged, never cached)
    name = urllib.parse.unquote(url.rsplit("/", 1)[-1])
    if not name.endswith(suffixes) or "/" in name or name.startswith("."):
        return None
    from urllib.request import Request

    try:
        req = Request(url, headers={"User-Agent": f"ignite-pack/{__version__}"})
        creds = credentials_for(url, index_urls) if parts.scheme in ("http", "https") else None
        if creds:
            token = base64.b64encode(f"{creds[0]}:{creds[1]}".encode()).decode("ascii")
            req.add_unredirected_header("Authorization", f"Basic {token}")
        with opener.open(req, timeout=120) as resp:
            data = resp.read()
    except (OSError, ValueError):
        return None
    digest = hashlib.sha256(data).hexdigest()
    if pin.hashes and f"sha256:{digest}" not in pin.hashes:
        return None
    path = dest / name
    path.write_bytes(data)
    return path


def download_direct(pins: Sequence[Pin], dest: Path, index: Optional[IndexConfig] = None,
                    landed: Optional[Callable[[Pin, Path], None]] = None,
                    lookups: Optional[SharedLookups] = None, suffixes: tuple[str, ...] = (".whl",)) -> list[Pin]:
    """Download pins that carry the resolver's URL, in parallel; return the pins still missing.

    pip downloads one file at a time and costs another interpreter start; the
    resolver already chose each file, so its URL is enough. A private index
    works here too: credentials for the file's host come from the configured
    index URLs or netrc. Anything unusual (no URL, an HTTP error, a hash
    mismatch) is left to pip download.
    """
    def direct_ok(p: Pin) -> bool:
        return urllib.parse.urlsplit(p.url).scheme in ("https", "http", "file")

    direct = [p for p in pins if direct_ok(p)]
    if not direct:
        return list(pins)
    dest.mkdir(parents=True, exist_ok=True)
    opener = _opener(_ssl_context(), lookups or SharedLookups())
    index_urls = configured_index_urls(index or IndexConfig())

    def one(p: Pin) -> Optional[Path]:
        path = _download_one(p, dest, opener, index_urls, suffixes)
        if path is not None and landed is not None:
            landed(p, path)  # each file as it lands: the next stage need not wait for the slowest
        return path

    with ThreadPoolExecutor(max_workers=min(8, len(direct))) as pool:
        got = dict(zip([p.name for p in direct], pool.map(one, direct)))
    return [p for p in pins if got.get(p.name) is None]
