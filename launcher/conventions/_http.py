"""What several adapters share, so that one rule serves them all: request text (header
names, query pairs), response status/header values, the request-time format, and the
function's limits (memory, timeout).  Not an adapter: it installs nothing and imports
no adapter (``.importlinter``: adapters never import each other)."""

from __future__ import annotations

import os
import time
from urllib.parse import parse_qsl

TYPE_CHECKING = False
if TYPE_CHECKING:  # ``typing`` costs ~6 ms of start-up; annotations are strings
    from typing import Any, Dict, List, Optional, Tuple

    Header = Tuple[str, str]

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def canonical(name: str) -> str:
    """``content-type`` -> ``Content-Type`` (the form HTTP servers hand to nuclio/Yandex)."""
    return "-".join(p[:1].upper() + p[1:] for p in name.split("-"))



def query_pairs(query: str) -> List[Tuple[bytes, bytes]]:
    """Percent-decoded ``(name, value)`` byte pairs of the raw query string, in order."""
    # The core hands the target over decoded as latin-1; percent-escapes decoded as
    # latin-1 too, so every pair re-encodes to exactly the bytes that were sent.
    pairs = parse_qsl(query, keep_blank_values=True, encoding="latin-1", errors="replace")
    return [(k.encode("latin-1", "replace"), v.encode("latin-1", "replace")) for k, v in pairs]


def request_time(epoch: float) -> str:
    """``13/Jul/2022:11:58:59 +0000`` (the requestTime format of Yandex and API Gateway, UTC, locale-free)."""
    t = time.gmtime(epoch)
    return f"{t.tm_mday:02d}/{_MONTHS[t.tm_mon - 1]}/{t.tm_year}:{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} +0000"


def memory_limit_mb() -> Optional[int]:
    """The container's memory limit (cgroup v2, then v1) in MiB, or None when unlimited/unknown."""
    for path in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            with open(path, encoding="ascii") as f:
                text = f.read().strip()
        except (OSError, ValueError):
            continue
        if text.isdigit() and int(text) < 1 << 60:
            return int(text) // (1024 * 1024)
        return None
    return None


def timeout_s() -> float:
    """``IGNITE_TIMEOUT_S`` (the handler's time limit), 300 when unset or invalid."""
    try:
        value = float(os.environ.get("IGNITE_TIMEOUT_S", "") or 300.0)
    except ValueError:
        return 300.0
    return value if value > 0 else 300.0


def utf8_text(raw: str) -> str:
    """A latin-1 str from the core -> the UTF-8 text the client sent."""
    return raw if raw.isascii() else raw.encode("latin-1", "replace").decode("utf-8", "replace")


def status_code(value: Any) -> int:
    """A handler's ``statusCode`` (an int, or a string of digits) checked to be 100..599."""
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 100 <= value <= 599:
        raise ValueError(f"statusCode must be an integer 100..599, not {value!r}")
    return value


def header_value(value: Any) -> str:
    """A response header value as text (``True`` -> ``true``, as JSON would write it)."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def proxy_headers(result: Dict[str, Any], multi: bool) -> List[Header]:
    """A proxy-style response's headers: ``multiValueHeaders`` (when *multi*), then the
    ``headers`` whose names those did not already give."""
    headers: List[Header] = []
    if multi:
        for key, values in (result.get("multiValueHeaders") or {}).items():
            for value in values if isinstance(values, (list, tuple)) else [values]:
                headers.append((str(key), header_value(value)))
    multi_names = {k.lower() for k, _ in headers}
    for key, value in (result.get("headers") or {}).items():
        if str(key).lower() not in multi_names:
            headers.append((str(key), header_value(value)))
    return headers
