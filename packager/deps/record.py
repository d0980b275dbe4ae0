"""The resolution record: what a resolver backend answers, and exactly what the cache stores.

Both backends (pip's ``--report``, uv's ``pylock.toml``) are turned into one
:class:`ResolutionRecord`; :func:`packager.deps.resolve.resolve` reads nothing else.
``to_json`` is the cache entry (``resolutions/KEY.json``), ``from_json`` reads it back
and refuses anything that is not one (an entry of an older format, a damaged one):
the caller then resolves again, it never misreads.
"""

from __future__ import annotations

import urllib.parse
from pathlib import Path
from typing import Any, Optional

from packaging.utils import NormalizedName, canonicalize_name

from packager.cache import Cache, read_sidecar
from packager.records import record, replace

#: Bumped when :meth:`ResolutionRecord.to_json`'s format changes (2: cache files by key, never by
#: path; 3: the typed record). It is part of the cache key: an older entry is recomputed, never misread.
RESOLUTION_FORMAT = 3


@record
class ResolvedDist:
    """One distribution of the resolver's answer, at one version."""

    name: NormalizedName
    version: str
    #: a requirement of the user's (not only pulled in by one)
    requested: bool = False
    #: "sha256:…" of the file the resolver chose (and of the sdist a cache-built wheel came from)
    hashes: tuple[str, ...] = ()
    #: where the resolver found the file ("" when it is the cache's own, see ``cache``)
    url: str = ""
    #: the file's key in the cache (``built/x.whl``) when the resolver found it there
    cache: str = ""
    #: the sha256 of the sdist the cache built this wheel from ("" for a published wheel)
    from_sdist: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "version": self.version, "requested": self.requested,
                "hashes": list(self.hashes), "url": self.url, "cache": self.cache, "from_sdist": self.from_sdist}

    @classmethod
    def from_json(cls, data: Any) -> ResolvedDist:
        """Raises ValueError/KeyError/TypeError when *data* is not one."""
        name, version = data["name"], data["version"]
        hashes = data["hashes"]
        strings = (name, version, data["url"], data["cache"], data["from_sdist"], *hashes)
        if not isinstance(hashes, list) or not all(isinstance(s, str) for s in strings) \
                or not isinstance(data["requested"], bool) or canonicalize_name(name) != name:
            raise ValueError(f"not a resolved distribution: {data!r}")
        return cls(canonicalize_name(name), version, data["requested"], tuple(hashes), data["url"],
                   data["cache"], data["from_sdist"])


@record
class ResolutionRecord:
    """A resolver's whole answer for a target: the distributions, its warnings, what had to move."""

    dists: tuple[ResolvedDist, ...]
    #: the resolver's warnings (pip's), already redacted
    warnings: tuple[str, ...] = ()
    #: preinstalled packages that moved along with a --vendor-anyway one -> the chain that forced it
    moved: tuple[tuple[str, str], ...] = ()
    #: the backend that answered ("pip" or "uv")
    resolver: str = "pip"

    @property
    def moved_map(self) -> dict[str, str]:
        return dict(self.moved)

    def to_json(self) -> dict[str, Any]:
        return {"format": RESOLUTION_FORMAT, "resolver": self.resolver,
                "dists": [d.to_json() for d in self.dists], "warnings": list(self.warnings),
                "moved": [list(m) for m in self.moved]}

    @classmethod
    def from_json(cls, data: Any) -> Optional[ResolutionRecord]:
        """The record a cache entry holds, or None when it holds no valid one (resolve again)."""
        try:
            if data["format"] != RESOLUTION_FORMAT:
                return None
            dists = tuple(ResolvedDist.from_json(d) for d in data["dists"])
            warnings, moved = data["warnings"], data["moved"]
            if not all(isinstance(w, str) for w in warnings) or not isinstance(data["resolver"], str) \
                    or not all(len(m) == 2 and all(isinstance(s, str) for s in m) for m in moved):
                return None
            return cls(dists, tuple(warnings), tuple((m[0], m[1]) for m in moved), data["resolver"])
        except (KeyError, TypeError, ValueError):
            return None

    def by_cache_key(self, cache: Cache) -> ResolutionRecord:
        """The record naming files of the cache by their key (``built/x.whl``), never by path.

        The resolver reports a wheel the cache built from an sdist as ``file:///…/cache/built/x.whl``:
        stored as such, a copied or moved cache would read the old location. The sdist's hash (its
        sidecar) is kept with the pin, so a lost or corrupted wheel is rebuilt from that sdist.
        """
        root = cache.root.resolve()
        dists: list[ResolvedDist] = []
        for d in self.dists:
            if not d.url.startswith("file:"):
                dists.append(d)
                continue
            path = Path(urllib.parse.unquote(urllib.parse.urlsplit(d.url).path)).resolve()
            try:
                key = path.relative_to(root).as_posix()
            except ValueError:
                dists.append(d)  # a wheelhouse of the user's: its path is the user's to keep
                continue
            d = replace(d, url="", cache=key)
            sdist = read_sidecar(path)[0] if key.startswith("built/") else None
            if sdist:
                d = replace(d, from_sdist=sdist, hashes=tuple(sorted({*d.hashes, f"sha256:{sdist}"})))
            dists.append(d)
        return replace(self, dists=tuple(dists))
