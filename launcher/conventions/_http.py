"""What the event-style adapters (yandex, lambda, openfaas-http) share: request text and
response status/header values, so that one rule serves all three."""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:  # ``typing`` costs ~6 ms of start-up; annotations are strings
    from typing import Any, Dict, List, Tuple

    Header = Tuple[str, str]


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
