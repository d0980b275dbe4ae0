"""The build cache: wheels, sdist-built wheels, resolutions, installed segments.

Every entry is written to a temp file and renamed into place, so concurrent
builds sharing one cache never see a half-written file; every entry is checked
(sha256) when read, so a corrupted one is rebuilt, never shipped.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import tempfile
import threading
from pathlib import Path

from packager.cachedir import HOST_NOTES as HOST_NOTES  # (where the pipeline imports them from)
from packager.cachedir import default_cache_dir as default_cache_dir
from packager.records import field, record

TYPE_CHECKING = False  # (typing's import is ~3 ms of a build that needs it only for mypy)
if TYPE_CHECKING:
    from typing import Any, Optional, Protocol, Union

#: Beside each wheel the cache built from an sdist (``built/``): the sdist's sha256, then the wheel's.
SDIST_SIDECAR = ".sdist-sha256"
#: artifacts' sha256 by their parts' (:class:`ArtifactDigests`), pruned by age (packager.cacheadmin)
ARTIFACT_DIGESTS = f"{HOST_NOTES}/artifact-sha256"
#: notes on what a shared store holds (packager.sharedcache), pruned by age (packager.cacheadmin)
SEEN_DIR = "shared-seen"


def _hex64(text: str) -> Optional[str]:
    return text if len(text) == 64 and all(c in "0123456789abcdef" for c in text) else None


def read_sidecar(wheel: Path) -> tuple[Optional[str], Optional[str]]:
    """(sdist sha256, wheel sha256) recorded beside a wheel built from an sdist; None for what is missing
    or unreadable (a sidecar of an older version holds the sdist's alone)."""
    try:
        lines = wheel.with_name(wheel.name + SDIST_SIDECAR).read_text("ascii").split()
    except (OSError, UnicodeDecodeError):
        return None, None
    return (_hex64(lines[0]) if lines else None), (_hex64(lines[1]) if len(lines) > 1 else None)


def write_sidecar(wheel: Path, sdist_sha256: str, wheel_sha256: str) -> None:
    atomic_bytes(wheel.with_name(wheel.name + SDIST_SIDECAR), f"{sdist_sha256}\n{wheel_sha256}\n".encode())


def discard(path: Path) -> None:
    """Remove a bad cache entry, whatever it has become (a file, a directory, a link)."""
    if path.is_dir() and not path.is_symlink():
        import shutil

        shutil.rmtree(path, ignore_errors=True)
    else:
        try:
            path.unlink()
        except FileNotFoundError:
            pass


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _stamp(st: os.stat_result) -> str:
    return f"{st.st_size}:{st.st_mtime_ns}:{st.st_ctime_ns}:{st.st_ino}"


def sha256_note(root: Path, path: Path) -> Path:
    """Where the cache at *root* notes the sha256 of its file *path* (see :func:`noted_sha256`)."""
    return root / HOST_NOTES / "sha256" / hashlib.sha256(os.fsencode(path)).hexdigest()[:32]


def _noted(cache: Cache, path: Path, stamp: str) -> Optional[str]:
    """The sha256 noted for *path* at *stamp*, if that is its note."""
    try:
        noted_stamp, _, digest = sha256_note(cache.root, path).read_text("ascii").partition(" ")
        return digest if noted_stamp == stamp and _hex64(digest) else None
    except (OSError, ValueError):
        return None


def _note(cache: Cache, path: Path, stamp: str, digest: str) -> None:
    try:
        atomic_bytes(sha256_note(cache.root, path), f"{stamp} {digest}".encode("ascii"))
    except OSError:  # a read-only cache: hashed again next time
        pass


def noted_sha256(cache: Cache, path: Path) -> str:
    """:func:`sha256_file` of a file of *cache*, noted in ``host/sha256/`` with its stat stamp
    (size, mtime, ctime, inode) and taken from the note while the stamp holds.

    A warm build hashed every cached wheel to find its segment (S2: 45 MB, ~30 ms). Any
    write to the file, or its replacement, changes its ctime (which no tool can set back),
    so a corrupted or replaced wheel is hashed again and found out. A file that changed
    while it was hashed is not noted.
    """
    stamp = _stamp(os.stat(path))
    digest = _noted(cache, path, stamp)
    if digest is None:
        digest = sha256_file(path)
        if _stamp(os.stat(path)) == stamp:
            _note(cache, path, stamp, digest)
    return digest


def json_entry_data(blob: bytes) -> Any:
    """The data of a JSON entry as :meth:`Cache.put_json` writes it, if the digest of its data holds.

    Raises ValueError for anything else (not JSON, not such a document, nested too deep to
    read, or changed since it was written). The one check of the local read, the shared
    tier's fetch and the upload's self-check (packager.sharedcache), so they never disagree.
    """
    try:
        doc = json.loads(blob)
        data = doc["data"]
        body = json.dumps(data, sort_keys=True).encode()
        digest = doc["sha256"]
    except (ValueError, KeyError, TypeError, RecursionError) as exc:
        raise ValueError(f"not a JSON cache entry: {type(exc).__name__}") from None
    if hashlib.sha256(body).hexdigest() != digest:
        raise ValueError("checksum mismatch")
    return data


def atomic_bytes(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        try:
            os.replace(tmp, path)
        except IsADirectoryError:  # an entry replaced by a directory: repaired, not broken for good
            discard(path)
            os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


if TYPE_CHECKING:  # (only ever a type: the tier in packager.sharedcache is checked against it by mypy)
    class Tier(Protocol):
        """A second cache tier behind the local one (packager.sharedcache: S3-compatible storage).

        *rel* is an entry's path relative to the cache root (``resolutions/KEY.json``); wheels
        use content-addressed keys (:func:`wheel_object_key`). A tier never raises: an
        unreachable store answers None/[] (its one warning is the tier's to report), and every
        object it gives is verified by the caller before use.
        """

        def fetch(self, rel: str) -> Optional[bytes]: ...

        def listing(self, prefix: str) -> list[str]: ...

        def record(self, rel: str, path: Path, computed: bool) -> None:
            """*path* holds *rel*'s bytes, computed by this build (upload it) or read from the local
            cache (upload it if the store lacks it); the upload runs after the build succeeded."""

        def rejected(self, rel: str) -> None:
            """*rel* was fetched and failed verification (counted; the build's own copy replaces it)."""


def wheel_object_key(kind: str, name: str, version: str, filename: str, sha256: str,
                     sdist_sha256: Optional[str] = None) -> str:
    """A wheel's key in a tier: content-addressed (its sha256; a built wheel's also its sdist's),
    under its project and version so a fetch can list the candidates for a pin."""
    from packaging.utils import canonicalize_name, canonicalize_version

    base = f"{kind}/{canonicalize_name(name)}/{canonicalize_version(version)}/{sha256}"
    return f"{base}/{sdist_sha256}/{filename}" if sdist_sha256 else f"{base}/{filename}"


@record
class Cache:
    root: Path
    #: Why the cache asked for could not be used ("" when it is): the build then uses a private
    #: temporary one, removed at exit, and says so once (see :func:`open_cache`).
    degraded: str = ""

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

    def check_usable(self) -> None:
        """Raise OSError unless every directory of the cache can be made, listed, written and read."""
        self.ensure()
        for d in (self.root, self.wheels, self.built, self.resolutions, self.segments):
            with os.scandir(d) as entries:  # another user's entries (0600) cannot be read: unusable
                for entry, _ in zip(entries, range(16)):
                    if entry.is_file(follow_symlinks=False) and not os.access(entry.path, os.R_OK):
                        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), entry.path)
            fd, probe = tempfile.mkstemp(prefix=".ignite-probe-", dir=d)
            os.close(fd)
            os.unlink(probe)


    def add_wheel(self, src: Path, directory: Optional[Path] = None) -> Path:
        """Move/copy a downloaded wheel into the cache atomically."""
        dest = (directory or self.wheels) / src.name
        atomic_bytes(dest, src.read_bytes())
        return dest

    def get_json(self, kind: str, key: str) -> Optional[Any]:
        path = self.root / kind / f"{key}.json"
        try:
            data = json_entry_data(path.read_bytes())
            if self.tier is not None:
                self.tier.record(f"{kind}/{key}.json", path, False)
            return data
        except FileNotFoundError:  # a local miss: the shared tier, before recomputing
            return self._tier_json(kind, key)
        except (ValueError, IsADirectoryError):
            discard(path)  # corrupted, or a directory where the entry was: drop it and recompute
            return None
        except OSError:
            return None  # unreadable here (another user's entry): recomputed, left alone

    def put_json(self, kind: str, key: str, data: Any) -> None:
        body = json.dumps(data, sort_keys=True).encode()
        doc = {"sha256": hashlib.sha256(body).hexdigest(), "data": data}
        atomic_bytes(self.root / kind / f"{key}.json", json.dumps(doc, sort_keys=True).encode())
        if self.tier is not None:
            self.tier.record(f"{kind}/{key}.json", self.root / kind / f"{key}.json", True)

    def _tier_json(self, kind: str, key: str) -> Optional[Any]:
        """A local miss looked up in the tier: used (and kept locally) only if its digest holds."""
        if self.tier is None:
            return None
        rel = f"{kind}/{key}.json"
        blob = self.tier.fetch(rel)
        if blob is None:
            return None
        try:
            data = json_entry_data(blob)
        except ValueError:
            self.tier.rejected(rel)
            return None
        try:
            atomic_bytes(self.root / rel, blob)
        except OSError:  # a read-only local cache: the entry still serves this build
            pass
        return data

    def _tier_blob(self, kind: str, key: str, sha256: Any) -> Optional[bytes]:
        """A blob missing locally, from the tier, if its bytes match *sha256* (else None)."""
        if self.tier is None:
            return None
        rel = f"{kind}/{key}.bin"
        blob = self.tier.fetch(rel)
        if blob is None:
            return None
        if hashlib.sha256(blob).hexdigest() != sha256:
            self.tier.rejected(rel)
            return None
        try:
            atomic_bytes(self.root / rel, blob)
        except OSError:
            pass
        return blob

    #: the shared tier behind this directory (``--cache-url``), None for the local cache alone
    #: (declared last, apart from the other fields: an addition, not a change of the class)
    tier: Optional[Tier] = field(default=None, compare=False)


_OPENED: dict[Optional[Path], Cache] = {}
_OPENING = threading.Lock()


def open_cache(root: Optional[Path]) -> Cache:
    """The cache at *root* (None: the default), or, when it cannot be used (read-only, another
    user's, no home directory to put it in), a private temporary one with ``degraded`` saying why.

    Decided once per root and process (~1.5 ms), so a build warns once; the temporary cache is
    removed at exit.
    """
    with _OPENING:  # (a build's threads ask at once: its resolver's, its launcher segment's)
        if root not in _OPENED:
            _OPENED[root] = _open(root)
        return _OPENED[root]


def _open(root: Optional[Path]) -> Cache:
    try:
        path = root if root is not None else default_cache_dir()
    except (RuntimeError, KeyError):  # an arbitrary uid without HOME (containers)
        why = "no home directory to keep the cache in (HOME is unset and the user has none)"
        cache = _temporary(why, "set IGNITE_CACHE_DIR or pass --cache-dir to keep one")
    else:
        cache = Cache(Path(path))
        try:
            cache.check_usable()
        except OSError as exc:
            where = exc.filename if isinstance(exc.filename, str) else str(path)
            words = f"{os.strerror(exc.errno)}" if exc.errno else str(exc)
            cache = _temporary(f"the cache {where} cannot be used: {words}",
                               "pass --cache-dir (or IGNITE_CACHE_DIR) with a directory this user may write")
    return cache


def _temporary(why: str, fix: str) -> Cache:
    import atexit
    import shutil

    tmp = Path(tempfile.mkdtemp(prefix="ignite-cache-"))
    atexit.register(shutil.rmtree, tmp, True)
    return Cache(tmp, degraded=f"{why}; building without it (nothing is reused or kept): {fix}").ensure()


@record
class VouchedFile:
    """A cache file whose bytes are vouched for (their sha256 noted at its stat *stamp*), left on disk.

    The artifact copies it with the kernel (:func:`packager.artifact.tarball.atomic_write`):
    a warm S2 build read its 46 MB of cached segments into memory only to write them out
    again (~45 ms of read and ~12 ms of write of its ~340 ms).
    """

    path: Path
    size: int
    sha256: str
    stamp: str

    def open(self) -> int:
        """A descriptor of the file, if it is still the one vouched for; else OSError (ESTALE)."""
        fd = os.open(self.path, os.O_RDONLY)
        if not self.still(fd):
            os.close(fd)
            raise OSError(errno.ESTALE, "the cache entry changed after it was checked", str(self.path))
        return fd

    def still(self, fd: int) -> bool:
        """Whether the open file *fd* is still as vouched for (any write changes its ctime)."""
        return _stamp(os.fstat(fd)) == self.stamp

    def read(self) -> bytes:
        """Its bytes, checked against the sha256 vouched for (ESTALE when they no longer match)."""
        data = self.path.read_bytes()
        if len(data) != self.size or hashlib.sha256(data).hexdigest() != self.sha256:
            raise OSError(errno.ESTALE, "the cache entry changed after it was checked", str(self.path))
        return data


def load_blob(cache: Cache, kind: str, key: str) -> Optional[tuple[Any, bytes]]:
    """A (metadata, bytes) entry whose bytes match the sha256 recorded in its metadata.

    A missing, truncated or corrupted entry gives None (and is removed), so the
    caller recomputes it: a bad cache entry is rebuilt, never shipped.
    """
    return _load_blob(cache, kind, key, lazily=False)  # type: ignore[return-value]  # (lazily=False: bytes)


def load_blob_lazily(cache: Cache, kind: str, key: str) -> Optional[tuple[Any, Union[bytes, VouchedFile]]]:
    """:func:`load_blob`, but an entry whose noted sha256 holds for its stamp is not read: a
    :class:`VouchedFile` stands for its bytes. Otherwise (never noted, or changed) it is read
    and checked as by :func:`load_blob`."""
    return _load_blob(cache, kind, key, lazily=True)


def _load_blob(cache: Cache, kind: str, key: str, lazily: bool) -> Optional[tuple[Any, Union[bytes, VouchedFile]]]:
    meta = cache.get_json(kind, key)
    if meta is None:
        return None
    blob_path = cache.root / kind / f"{key}.bin"
    # The bytes' sha256, noted by stat stamp as for wheels (noted_sha256): a warm S2 build read
    # and hashed 45 MB of segments for it (~25 ms), then hashed them again in the artifact.
    want = meta.get("blob_sha256")
    stamp = ""
    try:
        st = os.stat(blob_path)
        before = _stamp(st)
        if lazily and want and _noted(cache, blob_path, before) == want:
            _record_use(cache, kind, key)
            return meta, VouchedFile(blob_path, st.st_size, str(want), before)
        blob = blob_path.read_bytes()
        stamp = before if _stamp(os.stat(blob_path)) == before else ""
    except FileNotFoundError:  # the shared tier's copy, kept locally when its bytes match
        blob = cache._tier_blob(kind, key, want) or b""
    except IsADirectoryError:
        discard(blob_path)
        blob = b""
    except OSError:
        return None
    if not (stamp and want and _noted(cache, blob_path, stamp) == want):
        if hashlib.sha256(blob).hexdigest() != want:
            discard(blob_path)
            discard(cache.root / kind / f"{key}.json")
            return None
        if stamp:
            _note(cache, blob_path, stamp, str(want))
    _record_use(cache, kind, key)
    return meta, blob


def _record_use(cache: Cache, kind: str, key: str) -> None:
    """Tell the shared tier (if any) that this build used the entry."""
    if cache.tier is not None:
        cache.tier.record(f"{kind}/{key}.bin", cache.root / kind / f"{key}.bin", False)
        cache.tier.record(f"{kind}/{key}.json", cache.root / kind / f"{key}.json", False)


def store_blob(cache: Cache, kind: str, key: str, meta: dict[str, Any], blob: bytes) -> str:
    """Write the bytes first, then the metadata that vouches for them (both atomically); their sha256."""
    path = cache.root / kind / f"{key}.bin"
    atomic_bytes(path, blob)
    if cache.tier is not None:
        cache.tier.record(f"{kind}/{key}.bin", path, True)
    digest = hashlib.sha256(blob).hexdigest()
    _note(cache, path, _stamp(os.stat(path)), digest)  # the next build need not hash it (load_blob)
    cache.put_json(kind, key, {**meta, "blob_sha256": digest})
    return digest


class ArtifactDigests:
    """The sha256 of artifacts made of parts already hashed, by the digests of those parts.

    A pure function's memo (a part's sha256 stands for its bytes), so a warm build that writes
    what an earlier one wrote copies its cached segments without reading them at all (hashing
    S2's 46 MB artifact was ~27 ms). Host notes: never shared, removed with the cache.
    """

    def __init__(self, cache: Cache) -> None:
        self.dir = cache.root / ARTIFACT_DIGESTS

    def get(self, key: str) -> Optional[str]:
        try:
            return _hex64((self.dir / key).read_text("ascii"))
        except (OSError, ValueError):
            return None

    def put(self, key: str, digest: str) -> None:
        try:
            atomic_bytes(self.dir / key, digest.encode("ascii"))
        except OSError:  # a read-only cache: hashed again next time
            pass


def cache_key(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()
