"""Where distributions come from: the indexes and find-links a build may use.

Set by the packager's flags and configuration only, never by the upload. Its own module so
that the build's options need not import pip's runner (its patterns and result types: ~1.5 ms
of every build, most of which start no pip).
"""

from __future__ import annotations

from packager.errors import redact
from packager.records import record
from packager.uvenv import index_args

TYPE_CHECKING = False  # (typing's import is ~3 ms of a build that needs it only for mypy)
if TYPE_CHECKING:
    from typing import Optional


@record
class IndexConfig:
    """Where distributions come from; set by the packager's flags/config only."""

    index_url: Optional[str] = None
    extra_index_urls: tuple[str, ...] = ()
    find_links: tuple[str, ...] = ()
    offline: bool = False

    def pip_args(self) -> list[str]:
        return index_args(self.index_url, self.extra_index_urls, self.find_links, self.offline)

    def key(self) -> dict[str, object]:
        """What the cache keys on: the indexes *without* credentials (a rotated token keeps the cache)."""
        return {"index": redact(self.index_url) if self.index_url else None,
                "extra": [redact(u) for u in self.extra_index_urls],
                "find_links": list(self.find_links), "offline": self.offline}
