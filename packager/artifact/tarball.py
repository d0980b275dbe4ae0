"""The artifact: a deterministic tar.gz, written atomically, and read back safely.

Bytes are a pure function of the entries: fixed mtime, uid/gid 0, empty owner
names, modes 0644/0755, PAX format, no directory members, and gzip members
written by hand (mtime 0, no file name, OS byte 255) at a fixed level.

The tar stream is cut into *segments* (manifest, source, launcher, one per
vendored distribution, end-of-archive), each deflated on its own and joined
into one gzip member (see :func:`deflate_segment`): a segment's compressed
bytes depend only on its own entries, so it can be cached and compressed in
parallel without changing a single output byte.
"""

from __future__ import annotations

import hashlib
import os
import struct
import tarfile
import tempfile
import threading
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import nullcontext
from pathlib import Path

from packager.artifact import DEFAULT_LEVEL
from packager.artifact.deflate import compressor, deflate_raw
from packager.artifact.manifest import MANIFEST_NAME, FileRecord, Manifest
from packager.cache import VouchedFile
from packager.errors import ArtifactError, VerifyError
from packager.records import field, record

TYPE_CHECKING = False  # (typing's import is ~3 ms of a build that needs it only for mypy)
if TYPE_CHECKING:  # (concurrent.futures and the logging it imports: only for large segments)
    from concurrent.futures import Executor
    from typing import Optional, Protocol, Union

    Part = Union[bytes, VouchedFile]

#: 1980-01-01T00:00:00Z: the default mtime of every member (SOURCE_DATE_EPOCH overrides).
DEFAULT_MTIME = 315532800
_BLOCK = 512
_RECORD = 20 * _BLOCK


@record
class Entry:
    """A regular file destined for the artifact."""

    path: str
    data: bytes
    mode: int = 0o644
    #: the sha256 of *data* when the stage that made it already hashed it (packager.deps.install)
    digest: Optional[bytes] = field(default=None, compare=False, repr=False)

    def record(self) -> FileRecord:
        sha = self.digest.hex() if self.digest is not None else hashlib.sha256(self.data).hexdigest()
        return FileRecord(self.path, len(self.data), self.mode, sha)


def source_date_epoch(env: Optional[dict[str, str]] = None) -> int:
    """The mtime for every member: SOURCE_DATE_EPOCH when set and valid, else 1980-01-01."""
    raw = (env if env is not None else os.environ).get("SOURCE_DATE_EPOCH", "").strip()
    if not raw:
        return DEFAULT_MTIME
    try:
        value = int(raw)
    except ValueError:
        raise ArtifactError(
            f"SOURCE_DATE_EPOCH={raw!r} is not an integer", where="SOURCE_DATE_EPOCH",
            hint="set it to a Unix timestamp, e.g. $(git log -1 --format=%ct)",
        ) from None
    if value < 0 or value >= 8**11:
        raise ArtifactError(
            f"SOURCE_DATE_EPOCH={raw} is out of range", where="SOURCE_DATE_EPOCH",
            hint="use a Unix timestamp between 0 and 8589934591",
        )
    return value


def tar_bytes(entries: Iterable[Entry], mtime: int) -> bytes:
    """The tar encoding of *entries* (no end-of-archive marker)."""
    out = bytearray()
    for e in entries:
        info = tarfile.TarInfo(e.path)
        info.size = len(e.data)
        info.mode = e.mode
        info.mtime = mtime
        info.uid = info.gid = 0
        info.uname = info.gname = ""
        info.type = tarfile.REGTYPE
        out += info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")
        out += e.data
        pad = -len(e.data) % _BLOCK
        out += b"\0" * pad
    return bytes(out)


GZIP_HEADER = b"\x1f\x8b\x08\x00" + struct.pack("<I", 0) + b"\x00\xff"  # mtime 0, no name, OS unknown


def deflate_segment(data: Union[bytes, memoryview], level: int, final: bool,
                    primed: Union[bytes, memoryview] = b"") -> bytes:
    """Raw deflate of one segment, independent of every other segment.

    A fresh compressor per segment ended with Z_FULL_FLUSH (byte-aligned, no
    final-block bit) can be concatenated with the next one into one valid
    deflate stream; only the last segment is finished. So the artifact is a
    single ordinary gzip member (every reader, ``tarfile``'s ``r|gz`` streaming
    mode included, reads it), while each segment's compressed bytes depend on
    that segment alone: cacheable and compressible in parallel. The bytes are the
    pinned reference zlib's whatever zlib the host links (:mod:`packager.artifact.deflate`). *primed*: the bytes just
    before *data* in the same segment, as the compressor's dictionary (a chunk of a large
    segment, see :func:`compress_segment`).
    """
    return deflate_raw(data, level, final, primed)


def gzip_trailer(crc: int, length: int) -> bytes:
    return struct.pack("<II", crc & 0xFFFFFFFF, length & 0xFFFFFFFF)


def end_of_archive(tar_length: int) -> bytes:
    """Two zero blocks, padded so the whole tar is a multiple of the 10 KiB record."""
    total = tar_length + 2 * _BLOCK
    return b"\0" * (2 * _BLOCK + (-total % _RECORD))


@record
class Segment:
    """A run of entries compressed as one gzip member."""

    name: str
    entries: tuple[Entry, ...]

    def tar(self, mtime: int) -> bytes:
        return tar_bytes(self.entries, mtime)

    @property
    def records(self) -> tuple[FileRecord, ...]:
        return tuple(e.record() for e in self.entries)


@record
class CompressedSegment:
    """A segment already deflated (non-final), with what the manifest and trailer need.

    Its bytes depend only on the entries, the mtime and the level, so it can be
    cached (keyed by wheel hash) and reused as-is in any later artifact.
    """

    name: str
    records: tuple[FileRecord, ...]
    #: the bytes, or the cache file that holds them (copied into the artifact unread)
    deflated: Union[bytes, VouchedFile]
    crc: int
    length: int
    #: the sha256 of the deflated bytes, when known without hashing them again (a cache entry's)
    sha256: Optional[str] = None

    @property
    def size(self) -> int:
        return _part_size(self.deflated)

    def data(self) -> bytes:
        """The deflated bytes, read (and checked) from the cache if they are there."""
        return self.deflated if isinstance(self.deflated, bytes) else _reread(self.deflated)


#: Segments larger than this are deflated in chunks, in parallel: one big wheel (pyyaml's
#: tar is 3 MB, scipy's ~107 MB) would otherwise keep one core busy while the others idle
#: (256 KiB, as pigz's 128 KiB: small enough that the last chunks do not leave a core idle).
#: Each chunk is primed with the 32 KiB before it (as pigz does), so the ratio stays that of
#: one stream, and chunk boundaries depend only on the length: the output is still a pure
#: function of the segment (cacheable, identical on every host and for any number of cores).
#: A segment is cut into as few chunks of at most this size as it needs, all of one size
#: (:func:`chunk_starts`): the launcher's 338 KB went as 256 + 82 KB, and its two threads waited
#: for the larger; as 2 x 169 KB both end together.
CHUNK_BYTES = 256 * 1024
_WINDOW = 32 * 1024
#: Up to this many chunks and no pool given, they are deflated one after the other on the caller's thread.
_SERIAL_CHUNKS = 2
#: Part of the segment cache's keys: a change of the chunking above must change it.
CHUNKING = f"chunks:{CHUNK_BYTES}:even:primed"


def chunk_starts(length: int) -> range:
    """Where the chunks of a segment of *length* bytes start: ceil(length / CHUNK_BYTES) chunks
    of one size (the last one shorter by less than one byte per chunk)."""
    count = max(1, -(-length // CHUNK_BYTES))
    return range(0, length, max(1, -(-length // count)))


def segment_cache_parts() -> tuple[str, str]:
    """What every cache key holding compressed bytes must name besides its input: chunking + compressor."""
    return CHUNKING, compressor().ident


def compress_segment(seg: Segment, mtime: int, level: int, pool: Optional[Executor] = None) -> CompressedSegment:
    """*seg* deflated (non-final); a large one in chunks on *pool* (or a pool of its own).

    *pool* must not be the one this runs on (it waits for the chunks).
    """
    return compress_tar(seg.name, seg.records, seg.tar(mtime), level, pool)


def compress_tar(name: str, records: tuple[FileRecord, ...], tar: bytes, level: int,
                 pool: Optional[Executor] = None) -> CompressedSegment:
    """A segment's *tar* bytes deflated (see :func:`compress_segment`)."""
    if len(tar) <= CHUNK_BYTES:
        deflated = deflate_segment(tar, level, final=False)
    else:
        view = memoryview(tar)
        starts = chunk_starts(len(tar))

        def chunk(start: int) -> bytes:
            return deflate_segment(view[start:start + starts.step], level, final=False,
                                   primed=view[max(0, start - _WINDOW):start])

        if pool is None and len(starts) <= _SERIAL_CHUNKS:
            # the launcher's ~290 KB (two halves) took 12 ms with a pool of its own
            # (concurrent.futures' import, two threads) when it was 256 + 84 KB, 6.9 ms one after
            # the other on this thread; with the last chunk on one plain thread (zlib releases
            # the GIL) 5.9 ms, and ~3.1 ms since both chunks are of one size
            deflated = b"".join(_beside(chunk, list(starts)))
        else:
            from concurrent.futures import ThreadPoolExecutor

            # zlib releases the GIL (the host's zlib module and ctypes calls into the pinned one)
            with nullcontext(pool) if pool is not None else ThreadPoolExecutor(min(4, os.cpu_count() or 1)) as run:
                deflated = b"".join(run.map(chunk, starts))
    return CompressedSegment(name, records, deflated, zlib.crc32(tar) & 0xFFFFFFFF, len(tar))


def _beside(work: Callable[[int], bytes], items: list[int]) -> list[bytes]:
    """``list(map(work, items))``, the last item on another thread (a plain one: no pool to import)."""
    if len(items) < 2:
        return list(map(work, items))
    last: list[bytes] = []
    failed: list[BaseException] = []

    def run() -> None:
        try:
            last.append(work(items[-1]))
        except BaseException as exc:  # raised again on the caller's thread
            failed.append(exc)

    helper = threading.Thread(target=run, name="ignite-deflate-chunk", daemon=True)
    helper.start()
    try:
        done = list(map(work, items[:-1]))
    finally:
        helper.join()
    if failed:
        raise failed[0]
    return [*done, *last]


# crc32_combine: zlib has it, but Python's zlib module does not expose it. Needed to
# join cached segments' CRCs without their uncompressed bytes (zlib's GF(2) matrix
# method). The operators for 2**k zero bytes do not depend on the inputs, so they are
# made once per process; a call is then one 32-step product per set bit of the length
# (~20 µs, where squaring the matrices on every call cost ~1.8 ms per segment).
def _gf2_times(mat: list[int], vec: int) -> int:
    out = 0
    i = 0
    while vec:
        if vec & 1:
            out ^= mat[i]
        vec >>= 1
        i += 1
    return out


def _gf2_square(mat: list[int]) -> list[int]:
    return [_gf2_times(mat, mat[n]) for n in range(32)]


_ZEROS_OPS: list[list[int]] = []  # [k]: the operator that appends 2**k zero bytes to a CRC


def _zeros_op(k: int) -> list[int]:
    if not _ZEROS_OPS:
        op = [0xEDB88320] + [1 << n for n in range(31)]  # one zero bit
        for _ in range(3):  # 2, 4, 8 zero bits: one zero byte
            op = _gf2_square(op)
        _ZEROS_OPS.append(op)
    while len(_ZEROS_OPS) <= k:
        _ZEROS_OPS.append(_gf2_square(_ZEROS_OPS[-1]))
    return _ZEROS_OPS[k]


#: Up to this length, B's zeros are run through zlib's CRC instead (the CRC is affine:
#: crc(A+B) = crc(zeros, crc(A)) ^ crc(zeros) ^ crc(B)): cheaper than making the operators
#: (~1.5 ms of Python per process) for a build whose segments are all small.
_ZEROS_DIRECT = 1 << 20


def crc32_combine(crc1: int, crc2: int, len2: int) -> int:
    """CRC-32 of A+B from crc(A), crc(B) and len(B)."""
    if len2 <= 0:
        return crc1
    if len2 <= _ZEROS_DIRECT:
        zeros = bytes(len2)
        return (zlib.crc32(zeros, crc1) ^ zlib.crc32(zeros) ^ crc2) & 0xFFFFFFFF
    k = 0
    while len2:
        if len2 & 1:
            crc1 = _gf2_times(_zeros_op(k), crc1)
        len2 >>= 1
        k += 1
    return (crc1 ^ crc2) & 0xFFFFFFFF


if TYPE_CHECKING:
    AnySegment = Union[Segment, CompressedSegment]


def write_artifact(
    out: Path,
    manifest: Manifest,
    segments: Sequence[AnySegment],
    *,
    level: int = DEFAULT_LEVEL,
    max_size: Optional[int] = None,
    jobs: int = 0,
    memo: Optional[DigestMemo] = None,
) -> tuple[str, int]:
    """Write the artifact atomically; return (sha256, size). A failure leaves no file.

    *memo*: digests of earlier artifacts made of the same parts (see :func:`artifact_sha256`).
    """
    mtime = manifest.mtime
    manifest_entry = Entry(MANIFEST_NAME, manifest.to_bytes(), 0o644)
    parts: list[AnySegment] = [Segment("manifest", (manifest_entry,)), *segments]
    todo = [p for p in parts if isinstance(p, Segment)]
    workers = jobs or min(4, os.cpu_count() or 1)
    # A few KB (the manifest and a handler, the launcher cached) deflate faster than threads start.
    if workers > 1 and len(todo) > 1 and sum(len(e.data) for sg in todo for e in sg.entries) > CHUNK_BYTES:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=workers) as pool:  # zlib releases the GIL
            done = dict(zip(map(id, todo), pool.map(lambda sg: compress_segment(sg, mtime, level), todo)))
    else:
        done = {id(sg): compress_segment(sg, mtime, level) for sg in todo}
    compressed = [done[id(p)] if isinstance(p, Segment) else p for p in parts]
    tar_len = sum(c.length for c in compressed)
    tail = end_of_archive(tar_len)
    crc = 0
    for c in compressed:
        crc = crc32_combine(crc, c.crc, c.length)
    crc = zlib.crc32(tail, crc)
    pieces: list[tuple[Part, Optional[str]]] = [
        (GZIP_HEADER, None), *((c.deflated, c.sha256) for c in compressed),
        (deflate_segment(tail, level, final=True), None), (gzip_trailer(crc, tar_len + len(tail)), None)]
    size = sum(_part_size(p) for p, _ in pieces)
    if max_size is not None and size > max_size:
        raise ArtifactError(
            f"artifact would be {size} bytes, over the budget of {max_size} bytes",
            where=str(out), hint="see the largest contributors below; trim dependencies or raise --max-size",
            details={"size": size, "max_size": max_size},
        )
    digest = artifact_sha256(pieces, memo)
    atomic_write(out, [p for p, _ in pieces])
    return digest, size


if TYPE_CHECKING:  # (only ever a type, for mypy)
    class DigestMemo(Protocol):
        """Where artifact digests are remembered by the digests of their parts (packager.cache.ArtifactDigests)."""

        def get(self, key: str) -> Optional[str]: ...

        def put(self, key: str, digest: str) -> None: ...


#: Parts smaller than this are hashed to name them in the memo's key; a larger one without a
#: known sha256 (a segment deflated in this build, with no cache) makes the artifact be hashed whole.
#: The memo is used only when parts of at least this size have known digests: hashing a small
#: artifact (~120 KB without dependencies) is cheaper than a note.
_HASH_TO_NAME = 1 << 20


def artifact_sha256(parts: Sequence[tuple[Part, Optional[str]]], memo: Optional[DigestMemo] = None) -> str:
    """The sha256 of the parts' concatenation: from *memo* when the same parts were hashed before.

    A part is named by its sha256 (and size), so the memo is a pure function's. Parts left in
    cache files are hashed through a memory map, never read into a buffer.
    """
    key = _memo_key(parts) if memo is not None else None
    if memo is not None and key is not None:
        hit = memo.get(key)
        if hit is not None:
            return hit
    digest = hashlib.sha256()
    for p, _ in parts:
        if isinstance(p, bytes):
            digest.update(p)
        else:
            _hash_file(digest, p)
    if memo is not None and key is not None:
        memo.put(key, digest.hexdigest())
    return digest.hexdigest()


def _part_size(p: Part) -> int:
    return len(p) if isinstance(p, bytes) else p.size


def _memo_key(parts: Sequence[tuple[Part, Optional[str]]]) -> Optional[str]:
    """The parts named by size and sha256; None when the memo is not worth it (see _HASH_TO_NAME)."""
    if sum(_part_size(p) for p, known in parts if known or isinstance(p, VouchedFile)) < _HASH_TO_NAME:
        return None
    names = ["ignite-artifact-sha256-v1"]
    for p, known in parts:
        sha = known or (p.sha256 if isinstance(p, VouchedFile) else
                        hashlib.sha256(p).hexdigest() if len(p) <= _HASH_TO_NAME else None)
        if sha is None:
            return None
        names.append(f"{_part_size(p)}:{sha}")
    return hashlib.sha256("\n".join(names).encode()).hexdigest()


def _hash_file(digest: hashlib._Hash, part: VouchedFile) -> None:
    """Hash a cache file through a memory map (read where files cannot be mapped), stamp checked."""
    import mmap

    try:
        fd = part.open()
    except OSError:  # replaced since (or gone): its bytes are read and checked
        digest.update(_reread(part))
        return
    try:
        try:
            view = mmap.mmap(fd, part.size, access=mmap.ACCESS_READ) if part.size else None
        except (OSError, ValueError):  # a filesystem that cannot map files
            digest.update(_reread(part))
            return
        if view is not None:
            with view:
                digest.update(view)
        if not part.still(fd):
            raise ArtifactError("a cache entry changed while it was hashed", where=str(part.path),
                                hint="run the build again (another process wrote into the cache)")
    finally:
        os.close(fd)


def atomic_write(out: Path, chunks: Iterable[Part]) -> None:
    """Write to a temp file next to *out*, fsync, rename. On any error, nothing is left.

    A chunk left in a cache file is copied by the kernel (:func:`_copy_in`).
    """
    out = Path(out)
    parent = out.parent if str(out.parent) else Path(".")
    if not parent.is_dir():
        raise ArtifactError(
            "output directory does not exist", where=str(parent),
            hint="create it first, or pass -o with an existing directory",
        )
    from packager.artifact.outpath import remove_stale_temps

    remove_stale_temps(out)
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=parent)
    try:
        try:
            for c in chunks:
                if isinstance(c, bytes):
                    _write_all(fd, c)
                else:
                    _copy_in(c, fd)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.chmod(tmp, 0o644)
        os.replace(tmp, out)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


#: Whether the kernel copies file to file here (copy_file_range: Linux >= 4.5, same filesystem
#: type; a copy-on-write filesystem shares the blocks instead). Set False at the first refusal.
_KERNEL_COPY = [hasattr(os, "copy_file_range")]


def _copy_in(part: VouchedFile, out_fd: int) -> None:
    """Append a cache file to *out_fd* without reading it into memory; its stamp is checked
    before and after, and a file that changed meanwhile is read and checked against its sha256."""
    import errno

    try:
        src = part.open()
    except OSError:  # replaced since (or gone): its bytes are read and checked
        _write_all(out_fd, _reread(part))
        return
    try:
        left = part.size
        while left and _KERNEL_COPY[0]:
            try:
                n = os.copy_file_range(src, out_fd, left)
            except OSError as exc:
                if left != part.size or exc.errno not in (errno.EXDEV, errno.EINVAL, errno.ENOSYS,
                                                          errno.EOPNOTSUPP, errno.EPERM, errno.EBADF):
                    raise
                _KERNEL_COPY[0] = False
                break
            if n == 0:
                break
            left -= n
        while left:
            chunk = os.read(src, min(left, 1 << 20))
            if not chunk:
                raise ArtifactError("a cache entry is shorter than when it was checked", where=str(part.path),
                                    hint="run the build again")
            _write_all(out_fd, chunk)
            left -= len(chunk)
        if not part.still(src):
            raise ArtifactError("a cache entry changed while it was copied into the artifact", where=str(part.path),
                                hint="run the build again (another process wrote into the cache)")
    finally:
        os.close(src)


def _reread(part: VouchedFile) -> bytes:
    try:
        return part.read()
    except OSError as exc:
        raise ArtifactError("a cache entry changed after it was checked", where=str(part.path),
                            hint="run the build again (another process wrote into the cache)") from exc


# ---------------------------------------------------------------- reading


def _open_stream(path: Path) -> tarfile.TarFile:
    if not Path(path).is_file():
        raise VerifyError("artifact not found", where=str(path), hint="pass the path of a .tar.gz built by ignite-pack")
    try:
        return tarfile.open(path, mode="r|gz")
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise VerifyError(
            f"not a gzip'd tar: {exc}", where=str(path),
            hint="pass the path of a .tar.gz built by ignite-pack",
        ) from exc


def read_manifest(path: Path) -> Manifest:
    """Read only the first member, which must be manifest.json."""
    with _open_stream(path) as tf:
        try:
            first = tf.next()
            if first is None or first.name != MANIFEST_NAME or not first.isfile():
                raise VerifyError(
                    f"first member is {first.name if first else 'missing'!r}, not {MANIFEST_NAME}",
                    where=str(path), hint="this is not an ignite artifact",
                )
            fh = tf.extractfile(first)
            assert fh is not None
            data = fh.read(first.size)
        except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
            raise VerifyError(f"artifact is corrupt: {exc}", where=str(path), hint="rebuild it") from exc
    return Manifest.from_bytes(data, where=f"{path}:{MANIFEST_NAME}")


@record
class Member:
    """A member as read back from an artifact."""

    path: str
    mode: int
    data: bytes
    type: bytes


def iter_members(path: Path) -> Iterator[Member]:
    """Stream every member (manifest included), in archive order, without touching disk."""
    with _open_stream(path) as tf:
        try:
            for info in tf:
                data = b""
                if info.isfile():
                    fh = tf.extractfile(info)
                    assert fh is not None
                    data = fh.read(info.size)
                yield Member(info.name, info.mode, data, info.type)
        except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
            raise VerifyError(f"artifact is corrupt: {exc}", where=str(path), hint="rebuild it") from exc


def artifact_digest(path: Path) -> tuple[str, int]:
    h = hashlib.sha256()
    size = 0
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
            size += len(chunk)
    return h.hexdigest(), size


def unpack(path: Path, dest: Path, manifest: Optional[Manifest] = None) -> Manifest:
    """Unpack an artifact into *dest*, checking every file against the manifest.

    Member names are validated against the manifest's list before anything is
    written, so a crafted artifact cannot write outside *dest*.
    """
    manifest = manifest or read_manifest(path)
    expected = {f.path: f for f in manifest.files}
    dest = Path(dest)
    root = dest.resolve()
    for m in iter_members(path):
        if m.path == MANIFEST_NAME:
            (dest / MANIFEST_NAME).write_bytes(m.data)
            continue
        rec = expected.get(m.path)
        if rec is None or m.type not in (tarfile.REGTYPE, tarfile.AREGTYPE):
            raise VerifyError(
                "member is not listed in the manifest", where=f"member {m.path!r}",
                hint="the artifact was modified; rebuild it",
            )
        if hashlib.sha256(m.data).hexdigest() != rec.sha256:
            raise VerifyError(
                "member does not match its sha256 in the manifest", where=f"member {m.path!r}",
                hint="the artifact was modified; rebuild it",
            )
        target = (dest / m.path).resolve()
        if root not in target.parents:
            raise VerifyError("member escapes the destination", where=f"member {m.path!r}")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(m.data)
        os.chmod(target, rec.mode)
    return manifest
