"""Reading a tar upload (plain, gzip, bzip2 or xz) as a bounded stream into a :class:`SourceTree`
(never extracted).
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import posixpath
import tarfile
import zlib
from typing import Optional

from packager.errors import ArchiveError
from packager.source.intake.tree import (
    Collector,
    Limits,
    SourceTree,
    normalize_member_name,
    one_line,
    read_bounded,
)

_TAR_OK = (tarfile.REGTYPE, tarfile.AREGTYPE, tarfile.DIRTYPE)


#: Errors a decompressor or tarfile may raise on corrupt input (zlib and lzma
#: errors are not OSErrors).
_CORRUPT = (tarfile.TarError, OSError, EOFError, ValueError, zlib.error, lzma.LZMAError)


class _BoundedStream:
    """The decompressed bytes of a tar archive, refusing to expand past the caps.

    ``tarfile`` reads GNU long names and pax headers into memory before
    :class:`Collector` sees the member, so those sizes are never charged. This
    wrapper refuses, *before* the decompressor produces the bytes: any read or
    seek past ``cap`` (the total cap plus room for headers), and, while a header
    is being parsed, any single read over ``MAX_HEADER_BYTES``. Written by hand:
    tarfile has no such hook.
    """

    MAX_HEADER_BYTES = 1024 * 1024

    def __init__(self, raw: io.BufferedIOBase, limits: Limits) -> None:
        self._raw = raw
        self.cap = limits.max_total_bytes + limits.max_members * 2048 + 64 * 1024
        self.in_header = False

    def _bomb(self, what: str) -> ArchiveError:
        return ArchiveError(
            f"{what} (a decompression bomb?)", where="tar",
            hint="this archive expands far more than any real source does",
        )

    def read(self, size: Optional[int] = -1) -> bytes:
        pos = self._raw.tell()
        if size is None or size < 0:
            size = self.cap - pos + 1
        if self.in_header and size > self.MAX_HEADER_BYTES:
            raise self._bomb(f"a member header claims {size} bytes (max {self.MAX_HEADER_BYTES})")
        if pos + size > self.cap:
            raise self._bomb(f"archive expands past {self.cap} bytes")
        return self._raw.read(size)

    def seek(self, offset: int, whence: int = 0) -> int:
        if whence == 2:
            # Seeking from the end (tarfile on Python < 3.10 does, on an empty archive)
            # means decompressing to the end: do it within the cap.
            self.drain()
            target = self._raw.tell() + offset
        else:
            target = offset if whence == 0 else self._raw.tell() + offset
        if target < 0:  # tarfile < 3.10 seeks to offset-1 on an empty archive; let the stream answer
            return self._raw.seek(target)
        if target > self.cap:
            raise self._bomb(f"archive expands past {self.cap} bytes")
        return self._raw.seek(target)

    def tell(self) -> int:
        return self._raw.tell()

    def drain(self) -> None:
        """Read to the end (within the cap) so the compressed stream's checksum is verified."""
        pos = self._raw.tell()
        while True:
            chunk = self._raw.read(1 << 20)
            if not chunk:
                return
            pos += len(chunk)
            if pos > self.cap:
                raise self._bomb(f"archive expands past {self.cap} bytes")


def _decompressed(blob: bytes) -> io.BufferedIOBase:
    """The tar stream inside *blob*, decompressed lazily (gzip, bzip2, xz or none)."""
    raw = io.BytesIO(blob)
    if blob[:2] == b"\x1f\x8b":
        return gzip.GzipFile(fileobj=raw, mode="rb")
    if blob[:3] == b"BZh":
        return bz2.BZ2File(raw, mode="rb")
    if blob[:6] == b"\xfd7zXZ\x00":
        return lzma.LZMAFile(raw, mode="rb")
    return raw


def read_tar(blob: bytes, limits: Limits) -> SourceTree:
    col = Collector(limits, "tar", len(blob))
    stream = _BoundedStream(_decompressed(blob), limits)
    stream.in_header = True  # opening reads the first header
    try:
        tf = tarfile.open(  # noqa: SIM115 - closed by the `with` below
            fileobj=stream, mode="r:", encoding="utf-8", errors="surrogateescape"  # type: ignore[call-overload]
        )
    except ArchiveError:
        raise
    except _CORRUPT as exc:
        raise ArchiveError(
            f"not a readable tar archive: {one_line(exc)}", where="tar",
            hint="the archive is truncated or corrupt; re-create it",
        ) from exc
    links: list[tuple[str, str, str]] = []
    with tf:
        while True:
            try:
                stream.in_header = True
                member = tf.next()
                stream.in_header = False
            except ArchiveError:
                raise
            except _CORRUPT as exc:
                raise ArchiveError(
                    f"archive is corrupt after {col.members} members: {one_line(exc)}", where="tar",
                    hint="the archive is truncated or corrupt; re-create it",
                ) from exc
            if member is None:
                break
            where = f"member {member.name!r}"
            col.count_member(where)
            if limits.inner_links and (member.issym() or member.islnk()):
                links.append(_inner_link(member, limits, where))
                continue
            if member.type not in _TAR_OK:
                kinds = {
                    tarfile.SYMTYPE: "symbolic link", tarfile.LNKTYPE: "hard link",
                    tarfile.CHRTYPE: "character device", tarfile.BLKTYPE: "block device",
                    tarfile.FIFOTYPE: "FIFO", tarfile.CONTTYPE: "contiguous file",
                }
                kind = kinds.get(member.type, f"special member (type {member.type!r})")
                raise ArchiveError(
                    f"member is a {kind}; only regular files and directories are allowed",
                    where=where, hint="replace links with the files they point to",
                )
            path = normalize_member_name(member.name, limits, is_dir=member.isdir())
            if member.isdir():
                col.add_dir(path, where)
                continue
            col.charge(member.size, where)
            try:
                fh = tf.extractfile(member)
                if fh is None:  # pragma: no cover - regular files always have data
                    raise ArchiveError("member has no data", where=where)
                data = read_bounded(fh, member.size, where)
            except ArchiveError:
                raise
            except _CORRUPT as exc:
                raise ArchiveError(
                    f"member cannot be read: {one_line(exc)}", where=where,
                    hint="the archive is truncated or corrupt; re-create it",
                ) from exc
            col.add_file(path, data, bool(member.mode & 0o111), where)
        try:
            stream.drain()
        except ArchiveError:
            raise
        except _CORRUPT as exc:
            raise ArchiveError(
                f"archive is corrupt after its last member: {one_line(exc)}", where="tar",
                hint="the archive is truncated or corrupt; re-create it",
            ) from exc
    _copy_links(col, links)
    return col.finish()


def _inner_link(member: tarfile.TarInfo, limits: Limits, where: str) -> tuple[str, str, str]:
    """(link path, target path, where) for a link tarfile's ``data`` filter would extract; else refused."""
    path = normalize_member_name(member.name, limits)
    kind = "symbolic link" if member.issym() else "hard link"
    target = member.linkname
    if target.startswith("/") or (len(target) >= 2 and target[1] == ":" and target[0].isalpha()):
        raise ArchiveError(f"member is a {kind} to an absolute path ({target!r})", where=where,
                           hint="this sdist cannot be used; pick another version")
    # A symbolic link is relative to its directory, a hard link to the archive's root.
    joined = posixpath.join(posixpath.dirname(path), target) if member.issym() else target
    resolved = posixpath.normpath(joined)
    if resolved == ".." or resolved.startswith("../") or resolved in (".", ""):
        raise ArchiveError(f"member is a {kind} that leaves the archive ({target!r})", where=where,
                           hint="this sdist cannot be used; pick another version")
    return path, resolved, where


def _copy_links(col: Collector, links: list[tuple[str, str, str]]) -> None:
    """Each inner link becomes a copy of what it points at (a file, or a directory's files).

    Targets are looked up after the last member (a link may come before its target);
    a link to a link is followed (at most 32 hops); a dangling one is left out, as a
    dangling link would provide nothing to the build either.
    """
    by_path = {path: target for path, target, _ in links}
    for path, target, where in links:
        for _ in range(32):
            if target not in by_path:
                break
            target = by_path[target]
        found = col.files.get(target)
        if found is not None:
            col.charge(len(found.data), where)
            col.add_file(path, found.data, found.executable, where)
            continue
        prefix = target + "/"
        for name in [n for n in col.files if n.startswith(prefix)]:
            f = col.files[name]
            col.charge(len(f.data), where)
            col.add_file(path + "/" + name[len(prefix):], f.data, f.executable, where)
