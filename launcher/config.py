"""Settings read once from the environment, each with a documented default.

See docs/launcher.md for the reasoning behind every default.
"""

from __future__ import annotations

import os

from .log import INFO, parse_level

TYPE_CHECKING = False
if TYPE_CHECKING:  # ``typing`` costs ~6 ms of start-up; annotations are strings
    from typing import List, Mapping, Optional


#: Worker threads (= in-flight invocations) for a synchronous handler when
#: IGNITE_CONCURRENCY is unset.  Python threads only overlap while a handler
#: waits on I/O (the GIL serialises CPU work), so a small pool covers the
#: typical "call another service" handler without paying for GIL contention
#: and per-thread memory; the platform scales out by adding instances.
DEFAULT_SYNC_CONCURRENCY = 8
#: In-flight invocations for an ``async def`` handler when unset: coroutines
#: are cheap, so the cap only protects memory and downstream services.
DEFAULT_ASYNC_CONCURRENCY = 64


class Settings:
    """All knobs of the launcher.  Plain class (``dataclasses`` costs import time)."""

    __slots__ = (
        "body_budget_bytes",
        "body_timeout_s",
        "concurrency",
        "drain_s",
        "entry_fn",
        "entry_module",
        "function_id",
        "header_timeout_s",
        "host",
        "inline",
        "keepalive_s",
        "log_level",
        "max_body_bytes",
        "max_connections",
        "max_header_bytes",
        "max_headers",
        "organization_id",
        "port",
        "queue",
        "startup_timeout_s",
        "stuck_health_s",
        "timeout_s",
        "warnings",
    )

    def __init__(self) -> None:
        self.port = 8080
        self.host = "0.0.0.0"
        self.function_id = ""
        self.organization_id = ""
        self.entry_module: Optional[str] = None
        self.entry_fn: Optional[str] = None
        self.concurrency = 0  # 0: pick DEFAULT_SYNC/ASYNC_CONCURRENCY once the handler is known
        #: A platform may send as many requests at once as its own concurrency setting allows
        #: (256, 1,000): with 128, a burst of 256 got ~30% 503s at once (issue 36's bench). The
        #: memory of waiting requests is bounded by body_budget_bytes, not by this number.
        self.queue = 1024
        self.max_body_bytes = 10 * 1024 * 1024
        self.max_header_bytes = 16 * 1024
        self.max_headers = 100
        self.timeout_s = 300.0
        self.startup_timeout_s = 120.0
        self.header_timeout_s = 10.0
        self.body_timeout_s = 60.0
        self.keepalive_s = 75.0
        self.drain_s = 25.0
        self.max_connections = 4096
        #: request bodies being received, all connections together (beyond: 503)
        self.body_budget_bytes = 64 * 1024 * 1024
        #: every worker stuck past IGNITE_TIMEOUT_S this long: /_/health turns 503 too
        self.stuck_health_s = 60.0
        #: a sync handler alone in flight runs on the I/O thread (server.Server._dispatch)
        self.inline = True
        self.log_level = INFO
        self.warnings: List[str] = []


def _int(env: Mapping[str, str], s: Settings, name: str, default: int, lo: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        s.warnings.append(f"{name}={raw!r} is not an integer; using {default}")
        return default
    if value < lo:
        s.warnings.append(f"{name}={raw!r} is below {lo}; using {default}")
        return default
    return value


def _float(env: Mapping[str, str], s: Settings, name: str, default: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        s.warnings.append(f"{name}={raw!r} is not a number; using {default:g}")
        return default
    if not value >= 0:  # also rejects NaN
        s.warnings.append(f"{name}={raw!r} is negative; using {default:g}")
        return default
    return value


def load(env: Optional[Mapping[str, str]] = None) -> Settings:
    """Read the settings from *env* (default: ``os.environ``).  Bad values warn, never crash."""
    if env is None:
        env = os.environ
    s = Settings()
    s.port = _int(env, s, "PORT", s.port, 0)
    if s.port > 65535:
        s.warnings.append(f"PORT={s.port} is out of range; using 8080")
        s.port = 8080
    s.host = env.get("IGNITE_HOST", "").strip() or s.host
    s.function_id = env.get("IGNITE_FUNCTION_ID", "")
    s.organization_id = env.get("IGNITE_ORGANIZATION_ID", "")
    s.entry_module = env.get("IGNITE_ENTRY_MODULE", "").strip() or None
    s.entry_fn = env.get("IGNITE_ENTRY_FN", "").strip() or None
    s.concurrency = _int(env, s, "IGNITE_CONCURRENCY", 0, 1)
    s.queue = _int(env, s, "IGNITE_QUEUE", s.queue, 0)
    s.max_body_bytes = _int(env, s, "IGNITE_MAX_BODY_BYTES", s.max_body_bytes, 0)
    s.max_header_bytes = _int(env, s, "IGNITE_MAX_HEADER_BYTES", s.max_header_bytes, 256)
    s.max_headers = _int(env, s, "IGNITE_MAX_HEADERS", s.max_headers, 1)
    s.timeout_s = _float(env, s, "IGNITE_TIMEOUT_S", s.timeout_s)
    s.startup_timeout_s = _float(env, s, "IGNITE_STARTUP_TIMEOUT_S", s.startup_timeout_s)
    s.header_timeout_s = _float(env, s, "IGNITE_HEADER_TIMEOUT_S", s.header_timeout_s)
    s.body_timeout_s = _float(env, s, "IGNITE_BODY_TIMEOUT_S", s.body_timeout_s)
    s.keepalive_s = _float(env, s, "IGNITE_KEEPALIVE_S", s.keepalive_s)
    s.drain_s = _float(env, s, "IGNITE_DRAIN_S", s.drain_s)
    s.max_connections = _int(env, s, "IGNITE_MAX_CONNECTIONS", s.max_connections, 1)
    s.body_budget_bytes = _int(env, s, "IGNITE_BODY_BUDGET_BYTES", s.body_budget_bytes, 0)
    if s.body_budget_bytes < s.max_body_bytes:  # one body of the largest size always fits
        if env.get("IGNITE_BODY_BUDGET_BYTES", "").strip():
            s.warnings.append(
                f"IGNITE_BODY_BUDGET_BYTES={s.body_budget_bytes} is below IGNITE_MAX_BODY_BYTES; using {s.max_body_bytes}"
            )
        s.body_budget_bytes = s.max_body_bytes
    s.stuck_health_s = _float(env, s, "IGNITE_STUCK_HEALTH_S", s.stuck_health_s)
    inline = env.get("IGNITE_INLINE", "").strip().lower()
    if inline in ("0", "false", "no", "off"):
        s.inline = False
    elif inline not in ("", "1", "true", "yes", "on"):
        s.warnings.append(f"IGNITE_INLINE={inline!r} is not 0 or 1; using 1")
    s.log_level = parse_level(env.get("IGNITE_LOG_LEVEL", "") or "info")
    return s
