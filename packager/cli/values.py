"""The values of the build's options, turned into what the pipeline takes (sizes, indexes,
the target's interpreter, the shared cache tier, slim settings), without click: the click
commands and the quick ``build`` path (packager.cli.quick) share them."""

from __future__ import annotations

import os
import re
from pathlib import Path

from packager.errors import UsageError

TYPE_CHECKING = False  # (typing's import is ~3 ms of a build that needs it only for mypy)
if TYPE_CHECKING:
    from typing import Any, Optional

    from packager.deps.slim import SlimSettings
    from packager.inspect.diff import GrowthBudget
    from packager.runtime import PythonRef


_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMG]i?B|B)?\s*$", re.IGNORECASE)


_UNITS = {"b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "kib": 2**10, "mib": 2**20, "gib": 2**30}


def parse_size(text: str, where: str = "--max-size") -> int:
    """``50MB``, ``1.5GiB``, ``300KB``, ``1024`` -> bytes."""
    m = _SIZE.match(text)
    if not m:
        raise UsageError(f"invalid size {text!r}", where=where, hint="use e.g. 50MB, 200MiB or 1GB")
    return int(float(m.group(1)) * _UNITS[(m.group(2) or "B").lower()])


def parse_growth(text: str) -> GrowthBudget:
    """``--max-growth``: ``10%`` / ``2.5%`` (of the old size) or a size such as ``2MB``."""
    from packager.inspect.diff import GrowthBudget

    t = text.strip()
    if t.endswith("%"):
        try:
            pct = float(t[:-1])
        except ValueError:
            pct = -1.0
        if not 0 <= pct < 1e6:
            raise UsageError(f"invalid growth {text!r}", where="--max-growth", hint="use e.g. 10% or 2MB")
        return GrowthBudget(text=t, percent=pct)
    return GrowthBudget(text=t, bytes=parse_size(t, "--max-growth"))


def index_config(index_url: Optional[str], extra_index_urls: tuple[str, ...],
                 wheelhouses: tuple[Path, ...], offline: bool) -> Any:
    from packager.deps.indexconfig import IndexConfig

    for w in wheelhouses:
        if not w.is_dir():
            raise UsageError(f"wheelhouse {w} is not a directory", where="--wheelhouse",
                             hint="pass a directory that holds .whl files")
    return IndexConfig(index_url=index_url, extra_index_urls=tuple(extra_index_urls),
                       find_links=tuple(str(w.resolve()) for w in wheelhouses), offline=offline)


def _target_interpreter(python: Optional[str], profile: Optional[str] = None,
                        cache_dir: Optional[Path] = None) -> PythonRef:
    """An explicit --python is checked against the target's version (3.12 for the default
    profile) while the command gets going (BuildOptions.check_python raises), or from the
    note an earlier check left in the cache's ``host/``; otherwise the target's CPython is
    looked up only if a step needs it."""
    if not python:
        return None
    from packager.cache import HOST_NOTES, default_cache_dir
    from packager.deps.profile import load_profile
    from packager.runtime import PendingPython

    try:
        notes: Optional[Path] = (cache_dir or default_cache_dir()) / HOST_NOTES
    except (RuntimeError, KeyError):  # no home directory: nothing is noted
        notes = None
    return PendingPython(python, load_profile(profile).python_version, notes)


def cache_tier(url: Optional[str], push: bool, cache_dir: Optional[Path]) -> Any:
    """The shared tier of ``--cache-url`` (its client made at the first local miss), or None."""
    if not url:
        return None
    from packager.cache import SEEN_DIR, default_cache_dir
    from packager.sharedcache import S3Tier, parse_cache_url, require_client

    parsed = parse_cache_url(url)
    require_client()
    try:
        seen: Optional[Path] = (cache_dir or default_cache_dir()) / SEEN_DIR
    except (RuntimeError, KeyError):  # no home directory: no notes, the store is asked each time
        seen = None
    timeout = os.environ.get("IGNITE_CACHE_TIMEOUT", "")
    try:
        seconds = float(timeout) if timeout else 5.0
    except ValueError:
        raise UsageError(f"IGNITE_CACHE_TIMEOUT={timeout!r} is not a number of seconds", where="IGNITE_CACHE_TIMEOUT",
                         hint="e.g. IGNITE_CACHE_TIMEOUT=5 (connect; reads get three times as long)") from None
    return S3Tier(parsed, push_enabled=push, seen_dir=seen, timeout=max(seconds, 0.1))


def finish_tier(tier: Any) -> Optional[dict[str, Any]]:
    """After a successful build: the upload, then the tier's one warning (if any); its summary for --json."""
    if tier is None:
        return None
    from packager.cli.output import info, warn

    stats = tier.push()
    if tier.warning:
        warn(tier.warning)
    else:
        info(f"shared cache {tier.url}: {stats.hits} hit(s), {stats.misses} miss(es)"
             + (f", {stats.rejected} rejected (failed verification)" if stats.rejected else "")
             + (f", uploaded {stats.uploaded} ({human(stats.uploaded_bytes)})" if tier.push_enabled else
                ", read-only"))
    return {"url": str(tier.url), "push": tier.push_enabled, "warning": tier.warning, **stats.to_dict()}


def human(n: int) -> str:
    from packager.cli.output import human_size

    return human_size(n)


def slim_settings(p: dict[str, Any]) -> SlimSettings:
    """The build's slim settings from its parameters; bad patterns fail here, before any work."""
    from packager.deps.slim import SlimSettings

    settings = SlimSettings(tests=bool(p["slim"]), drop=tuple(p["slim_drop"]), keep=tuple(p["slim_keep"]))
    settings.matcher()  # invalid patterns are usage errors before any work
    return settings
