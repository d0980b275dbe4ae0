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
import zlib
from collections.abc import Iterable, Iterator, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Optional, Union

from packager.artifact import DEFAULT_LEVEL
from packager.artifact.deflate import compressor, deflate_raw
from packager.artifact.manifest import MANIFEST_NAME, FileRecord, Manifest
from packager.errors import ArtifactError, VerifyError

if TYPE_CHECKING:  # (concurrent.futures and the logging it imports: only for large segments)
    from concurrent.futures import Executor

#: 1980-01-01T00:00:00Z: the default mtime of every member (SOURCE_DATE_EPOCH overrides).
DEFAULT_MTIME = 315532800
_BLOCK = 512
_RECORD = 20 * _BLOCK


@dataclass(frozen=True)
class Entry:
    """A regular file destined for the artifact."""

    path: str
    data: bytes
    mode: int = 0o644

    def record(self) -> FileRecord:
        return FileRecord(self.path, len(self.data), self.mode, hashlib.sha256(self.data).hexdigest())


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


@dataclass(frozen=True)
class Segment:
    """A run of entries compressed as one gzip member."""

    name: str
    entries: tuple[Entry, ...]

    def tar(self, mtime: int) -> bytes:
        return tar_bytes(self.entries, mtime)

    @property
    def records(self) -> tuple[FileRecord, ...]:
        return tuple(e.record() for e in self.entries)


@dataclass(frozen=True)
class CompressedSegment:
    """A segment already deflated (non-final), with what the manifest and trailer need.

    Its bytes depend only on the entries, the mtime and the level, so it can be
    cached (keyed by wheel hash) and reused as-is in any later artifact.
    """

    name: str
    records: tuple[FileRecord, ...]
    deflated: bytes
    crc: int
    length: int


#: Segments larger than this are deflated in chunks, in parallel: one big wheel (pyyaml's
#: tar is 3 MB, scipy's ~107 MB) would otherwise keep one core busy while the others idle
#: (256 KiB, as pigz's 128 KiB: small enough that the last chunks do not leave a core idle).
#: Each chunk is primed with the 32 KiB before it (as pigz does), so the ratio stays that of
#: one stream, and chunk boundaries depend only on the bytes: the output is still a pure
#: function of the segment (cacheable, identical on every host and for any number of cores).
CHUNK_BYTES = 256 * 1024
_WINDOW = 32 * 1024
#: Part of the segment cache's keys: a change of the chunking above must change it.
CHUNKING = f"chunks:{CHUNK_BYTES}:primed"


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

        def chunk(start: int) -> bytes:
            return deflate_segment(view[start:start + CHUNK_BYTES], level, final=False,
                                   primed=view[max(0, start - _WINDOW):start])

        from concurrent.futures import ThreadPoolExecutor

        # zlib releases the GIL (the host's zlib module and ctypes calls into the pinned one)
        with nullcontext(pool) if pool is not None else ThreadPoolExecutor(min(4, os.cpu_count() or 1)) as run:
            deflated = b"".join(run.map(chunk, range(0, len(tar), CHUNK_BYTES)))
    return CompressedSegment(name, records, deflated, zlib.crc32(tar) & 0xFFFFFFFF, len(tar))


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


def crc32_combine(crc1: int, crc2: int, len2: int) -> int:
    """CRC-32 of A+B from crc(A), crc(B) and len(B)."""
    if len2 <= 0:
        return crc1
    k = 0
    while len2:
        if len2 & 1:
            crc1 = _gf2_times(_zeros_op(k), crc1)
        len2 >>= 1
        k += 1
    return (crc1 ^ crc2) & 0xFFFFFFFF


AnySegment = Union[Segment, CompressedSegment]


def write_artifact(
    out: Path,
    manifest: Manifest,
    segments: Sequence[AnySegment],
    *,
    level: int = DEFAULT_LEVEL,
    max_size: Optional[int] = None,
    jobs: int = 0,
) -> tuple[str, int]:
    """Write the artifact atomically; return (sha256, size). A failure leaves no file."""
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
    members = [GZIP_HEADER, *(c.deflated for c in compressed), deflate_segment(tail, level, final=True),
               gzip_trailer(crc, tar_len + len(tail))]
    size = sum(len(m) for m in members)
    if max_size is not None and size > max_size:
        raise ArtifactError(
            f"artifact would be {size} bytes, over the budget of {max_size} bytes",
            where=str(out), hint="see the largest contributors below; trim dependencies or raise --max-size",
            details={"size": size, "max_size": max_size},
        )
    digest = hashlib.sha256()
    for m in members:
        digest.update(m)
    atomic_write(out, members)
    return digest.hexdigest(), size


def atomic_write(out: Path, chunks: Iterable[bytes]) -> None:
    """Write to a temp file next to *out*, fsync, rename. On any error, nothing is left."""
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
        with os.fdopen(fd, "wb") as fh:
            for c in chunks:
                fh.write(c)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, out)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


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


@dataclass(frozen=True)
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
