"""The build cache: wheels, sdist-built wheels, resolutions, installed segments.

Every entry is written to a temp file and renamed into place, so concurrent
builds sharing one cache never see a half-written file; every entry is checked
(sha256) when read, so a corrupted one is rebuilt, never shipped.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional


def default_cache_dir() -> Path:
    env = os.environ.get("IGNITE_CACHE_DIR")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "ignite-packager"


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def atomic_bytes(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


@dataclass(frozen=True)
class Cache:
    root: Path

    @property
    def wheels(self) -> Path:
        return self.root / "wheels"

    @property
    def built(self) -> Path:
        return self.root / "built"

    @property
    def resolutions(self) -> Path:
        return self.root / "resolutions"

    @property
    def segments(self) -> Path:
        return self.root / "segments"

    def ensure(self) -> Cache:
        for d in (self.wheels, self.built, self.resolutions, self.segments):
            d.mkdir(parents=True, exist_ok=True)
        return self

    def add_wheel(self, src: Path, directory: Optional[Path] = None) -> Path:
        """Move/copy a downloaded wheel into the cache atomically."""
        dest = (directory or self.wheels) / src.name
        atomic_bytes(dest, src.read_bytes())
        return dest

    def get_json(self, kind: str, key: str) -> Optional[Any]:
        path = self.root / kind / f"{key}.json"
        try:
            blob = path.read_bytes()
            doc = json.loads(blob)
            body = json.dumps(doc["data"], sort_keys=True).encode()
            if hashlib.sha256(body).hexdigest() != doc["sha256"]:
                raise ValueError("checksum mismatch")
            return doc["data"]
        except FileNotFoundError:
            return None
        except (ValueError, KeyError, TypeError):
            path.unlink(missing_ok=True)  # corrupted: drop it and recompute
            return None

    def put_json(self, kind: str, key: str, data: Any) -> None:
        body = json.dumps(data, sort_keys=True).encode()
        doc = {"sha256": hashlib.sha256(body).hexdigest(), "data": data}
        atomic_bytes(self.root / kind / f"{key}.json", json.dumps(doc, sort_keys=True).encode())


def load_blob(cache: Cache, kind: str, key: str) -> Optional[tuple[Any, bytes]]:
    """A (metadata, bytes) entry whose bytes match the sha256 recorded in its metadata.

    A missing, truncated or corrupted entry gives None (and is removed), so the
    caller recomputes it: a bad cache entry is rebuilt, never shipped.
    """
    meta = cache.get_json(kind, key)
    if meta is None:
        return None
    blob_path = cache.root / kind / f"{key}.bin"
    try:
        blob = blob_path.read_bytes()
    except FileNotFoundError:
        blob = b""
    if hashlib.sha256(blob).hexdigest() != meta.get("blob_sha256"):
        blob_path.unlink(missing_ok=True)
        (cache.root / kind / f"{key}.json").unlink(missing_ok=True)
        return None
    return meta, blob


def store_blob(cache: Cache, kind: str, key: str, meta: dict[str, Any], blob: bytes) -> None:
    """Write the bytes first, then the metadata that vouches for them (both atomically)."""
    atomic_bytes(cache.root / kind / f"{key}.bin", blob)
    cache.put_json(kind, key, {**meta, "blob_sha256": hashlib.sha256(blob).hexdigest()})


def cache_key(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()
