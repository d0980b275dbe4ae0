"""Intake: read a source (file, directory, zip, tar.gz) safely into memory.

Nothing is ever extracted to disk: members are validated one by one and read
into a :class:`SourceTree`. Archives are detected by their magic bytes, not by
their extension. ``extractall`` is never used; links, devices, traversal,
duplicates (after case-folding + NFC) and bombs are refused with the member's
name, per DESIGN.md §5.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import os
import stat
import tarfile
import unicodedata
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Optional

from packager.errors import ArchiveError, SourceError

#: Directory and file names that never belong in an artifact (caches, VCS).
IGNORED_DIRS = frozenset(
    {"__pycache__", ".git", ".hg", ".svn", ".venv", ".mypy_cache", ".pytest_cache",
     ".ruff_cache", ".tox", ".nox", ".idea", ".vscode"}
)
IGNORED_SUFFIXES = (".pyc", ".pyo")
IGNORED_FILES = frozenset({".DS_Store", "Thumbs.db"})


@dataclass(frozen=True)
class Limits:
    """Caps that keep a hostile upload from exhausting the build host."""

    max_members: int = 10_000
    max_total_bytes: int = 256 * 1024 * 1024
    max_file_bytes: int = 128 * 1024 * 1024
    #: Uncompressed/compressed ratio above which an archive is treated as a bomb
    #: (only checked once the uncompressed total exceeds ``ratio_floor_bytes``).
    max_ratio: float = 200.0
    ratio_floor_bytes: int = 8 * 1024 * 1024
    max_path_length: int = 1024
    max_depth: int = 32


@dataclass(frozen=True)
class SourceFile:
    """One regular file of the user's source, with its normalized POSIX path."""

    path: str
    data: bytes
    executable: bool = False

    @property
    def mode(self) -> int:
        return 0o755 if self.executable else 0o644


@dataclass(frozen=True)
class SourceTree:
    """The user's source, validated and in memory, sorted by path."""

    kind: str  # "file" | "directory" | "zip" | "tar"
    files: tuple[SourceFile, ...]
    ignored: tuple[str, ...] = field(default=())

    def get(self, path: str) -> Optional[SourceFile]:
        for f in self.files:
            if f.path == path:
                return f
        return None

    @property
    def paths(self) -> list[str]:
        return [f.path for f in self.files]

    @property
    def total_bytes(self) -> int:
        return sum(len(f.data) for f in self.files)


def _is_ignored(path: str) -> bool:
    parts = path.split("/")
    if any(p in IGNORED_DIRS for p in parts[:-1]):
        return True
    name = parts[-1]
    return name in IGNORED_FILES or name.endswith(IGNORED_SUFFIXES)


def normalize_member_name(name: str, limits: Limits, *, is_dir: bool = False) -> str:
    """Validate an archive member name and return it as a clean relative POSIX path.

    Raises ArchiveError naming the member for anything that could escape the
    tree or be read differently on another OS.
    """
    shown = name.encode("utf-8", "backslashreplace").decode("utf-8")
    where = f"member {shown!r}"
    if any(0xD800 <= ord(c) <= 0xDFFF for c in name):
        raise ArchiveError(
            "member name is not valid UTF-8", where=where,
            hint="re-create the archive with UTF-8 file names",
        )
    if any(ord(c) < 32 or ord(c) == 127 for c in name):
        raise ArchiveError(
            "member name contains control characters", where=where,
            hint="rename the file; names may not contain control characters",
        )
    if "\\" in name:
        raise ArchiveError(
            "member name contains a backslash", where=where,
            hint="create the archive with forward slashes (e.g. with `zip` or `tar`, not a Windows tool that writes backslashes)",
        )
    if name.startswith("/") or (len(name) >= 2 and name[1] == ":" and name[0].isalpha()):
        raise ArchiveError(
            "member has an absolute path", where=where,
            hint="archive paths must be relative to the function root",
        )
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if any(p == ".." for p in parts):
        raise ArchiveError(
            "member path escapes the archive root with '..'", where=where,
            hint="archive the function directory itself; paths may not contain '..'",
        )
    if not parts:
        if is_dir:
            return ""
        raise ArchiveError("member has an empty name", where=where, hint="re-create the archive")
    path = "/".join(parts)
    if len(path) > limits.max_path_length or len(parts) > limits.max_depth:
        raise ArchiveError(
            f"member path is too long or too deep (max {limits.max_path_length} chars, "
            f"{limits.max_depth} levels)", where=where, hint="shorten the path",
        )
    return path


class _Collector:
    """Accumulates validated files and enforces the shared caps."""

    def __init__(self, limits: Limits, kind: str, compressed_size: Optional[int]) -> None:
        self.limits = limits
        self.kind = kind
        self.compressed_size = compressed_size
        self.files: dict[str, SourceFile] = {}
        self.folded: dict[str, str] = {}
        self.dirs: set[str] = set()
        self.ignored: list[str] = []
        self.total = 0
        self.members = 0

    def count_member(self, where: str) -> None:
        self.members += 1
        if self.members > self.limits.max_members:
            raise ArchiveError(
                f"too many members (more than {self.limits.max_members})", where=where,
                hint="ship fewer files; dependencies belong in requirements.txt",
            )

    def charge(self, size: int, where: str) -> None:
        """Account *size* uncompressed bytes before they are read."""
        lim = self.limits
        if size > lim.max_file_bytes:
            raise ArchiveError(
                f"file is too large ({size} bytes; max {lim.max_file_bytes})", where=where,
                hint="large data files do not belong in a function source",
            )
        self.total += size
        if self.total > lim.max_total_bytes:
            raise ArchiveError(
                f"source is too large uncompressed (over {lim.max_total_bytes} bytes)",
                where=where, hint="ship fewer or smaller files",
            )
        if (
            self.compressed_size
            and self.total > lim.ratio_floor_bytes
            and self.total / self.compressed_size > lim.max_ratio
        ):
            raise ArchiveError(
                f"compression ratio exceeds {lim.max_ratio:.0f}:1 (a decompression bomb?)",
                where=where, hint="this archive expands far more than any real source does",
            )

    def _fold(self, path: str) -> str:
        return unicodedata.normalize("NFC", path).casefold()

    def add_dir(self, path: str, where: str) -> None:
        if not path:
            return
        key = self._fold(path)
        if key in self.folded and self.folded[key] != path + "/":
            raise ArchiveError(
                f"directory {path!r} clashes with {self.folded[key].rstrip('/')!r} "
                "(same name after case-folding / Unicode normalization)", where=where,
                hint="rename one of them; the artifact must unpack the same on every filesystem",
            )
        self.folded[key] = path + "/"
        self.dirs.add(path)

    def add_file(self, path: str, data: bytes, executable: bool, where: str) -> None:
        if _is_ignored(path):
            self.ignored.append(path)
            return
        key = self._fold(path)
        if key in self.folded:
            other = self.folded[key]
            what = "appears twice" if other == path else f"clashes with {other!r}"
            raise ArchiveError(
                f"{path!r} {what} (names must be unique after case-folding and NFC normalization)",
                where=where, hint="remove the duplicate and re-create the archive",
            )
        self.folded[key] = path
        self.files[path] = SourceFile(path=path, data=data, executable=executable)

    def finish(self) -> SourceTree:
        # A file and a directory with the same name (or a file used as a parent) is ambiguous.
        for path in self.files:
            parts = path.split("/")
            for i in range(1, len(parts)):
                parent = "/".join(parts[:i])
                if parent in self.files:
                    raise ArchiveError(
                        f"{parent!r} is both a file and a directory", where=f"member {path!r}",
                        hint="rename one of them",
                    )
        if not self.files:
            raise SourceError(
                f"the {self.kind} contains no files", where=self.kind,
                hint="the source must contain handler.py at its root",
            )
        files = tuple(self.files[p] for p in sorted(self.files))
        return SourceTree(kind=self.kind, files=files, ignored=tuple(sorted(self.ignored)))


def _one_line(exc: BaseException) -> str:
    """An exception's text on one line (tarfile's open errors span several)."""
    return " ".join(str(exc).split()) or type(exc).__name__


def _read_bounded(fh: IO[bytes], size: int, where: str) -> bytes:
    """Read exactly the declared size; refuse a member whose data runs longer."""
    data = fh.read(size + 1)
    if len(data) != size:
        raise ArchiveError(
            f"member data does not match its declared size ({size} bytes)", where=where,
            hint="the archive is corrupt or crafted; re-create it",
        )
    return data


def _read_zip(blob: bytes, limits: Limits) -> SourceTree:
    col = _Collector(limits, "zip", len(blob))
    try:
        zf = zipfile.ZipFile(io.BytesIO(blob))
    except UnicodeDecodeError as exc:
        # A name flagged UTF-8 (bit 11) that is not: zipfile refuses the whole archive.
        shown = bytes(exc.object).decode("utf-8", "backslashreplace")
        raise ArchiveError(
            "member name is not valid UTF-8", where=f"member {shown!r}",
            hint="re-create the archive with UTF-8 file names",
        ) from exc
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, zlib.error, NotImplementedError) as exc:
        raise ArchiveError(
            f"not a readable zip archive: {exc}", where="zip",
            hint="the archive is truncated or corrupt; re-create it",
        ) from exc
    with zf:
        infos = zf.infolist()
        if len(infos) > limits.max_members:
            col.members = len(infos) - 1
            col.count_member(f"member {infos[-1].filename!r}")
        # The central directory declares every size: refuse a bomb before inflating a byte.
        pre = _Collector(limits, "zip", len(blob))
        for info in infos:
            if not info.orig_filename.endswith("/"):
                pre.charge(info.file_size, f"member {info.orig_filename!r}")
        for info in infos:
            # orig_filename keeps what zipfile's filename drops after a NUL (and ZipInfo.is_dir()
            # fails on an empty name), so the name checks below see every byte.
            raw_name = info.orig_filename
            if not info.flag_bits & 0x800 and not raw_name.isascii():
                # zipfile decoded a legacy name as cp437; accept it only if the bytes are UTF-8.
                try:
                    raw_name = raw_name.encode("cp437").decode("utf-8")
                except UnicodeError:
                    raw_name = raw_name.encode("cp437").decode("utf-8", "surrogateescape")
            where = f"member {raw_name!r}"
            col.count_member(where)
            unix_mode = info.external_attr >> 16
            fmt = stat.S_IFMT(unix_mode)
            is_dir = raw_name.endswith("/") or fmt == stat.S_IFDIR
            if fmt not in (0, stat.S_IFREG, stat.S_IFDIR):
                kind = "symbolic link" if fmt == stat.S_IFLNK else "special file"
                raise ArchiveError(
                    f"member is a {kind}; only regular files and directories are allowed",
                    where=where, hint="replace links with the files they point to",
                )
            path = normalize_member_name(raw_name, limits, is_dir=is_dir)
            if is_dir:
                col.add_dir(path, where)
                continue
            if info.flag_bits & 0x1:
                raise ArchiveError(
                    "member is encrypted", where=where, hint="upload an unencrypted archive",
                )
            col.charge(info.file_size, where)
            try:
                with zf.open(info) as fh:
                    data = _read_bounded(fh, info.file_size, where)
            except ArchiveError:
                raise
            except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError,
                    RuntimeError, zlib.error, lzma.LZMAError) as exc:
                raise ArchiveError(
                    f"member cannot be read: {_one_line(exc)}", where=where,
                    hint="the archive is truncated or corrupt; re-create it",
                ) from exc
            col.add_file(path, data, bool(unix_mode & 0o111), where)
    return col.finish()


_TAR_OK = (tarfile.REGTYPE, tarfile.AREGTYPE, tarfile.DIRTYPE)

#: Errors a decompressor or tarfile may raise on corrupt input (zlib and lzma
#: errors are not OSErrors).
_CORRUPT = (tarfile.TarError, OSError, EOFError, ValueError, zlib.error, lzma.LZMAError)


class _BoundedStream:
    """The decompressed bytes of a tar archive, refusing to expand past the caps.

    ``tarfile`` reads GNU long names and pax headers into memory before
    :class:`_Collector` sees the member, so those sizes are never charged. This
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


def _read_tar(blob: bytes, limits: Limits) -> SourceTree:
    col = _Collector(limits, "tar", len(blob))
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
            f"not a readable tar archive: {_one_line(exc)}", where="tar",
            hint="the archive is truncated or corrupt; re-create it",
        ) from exc
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
                    f"archive is corrupt after {col.members} members: {_one_line(exc)}", where="tar",
                    hint="the archive is truncated or corrupt; re-create it",
                ) from exc
            if member is None:
                break
            where = f"member {member.name!r}"
            col.count_member(where)
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
                data = _read_bounded(fh, member.size, where)
            except ArchiveError:
                raise
            except _CORRUPT as exc:
                raise ArchiveError(
                    f"member cannot be read: {_one_line(exc)}", where=where,
                    hint="the archive is truncated or corrupt; re-create it",
                ) from exc
            col.add_file(path, data, bool(member.mode & 0o111), where)
        try:
            stream.drain()
        except ArchiveError:
            raise
        except _CORRUPT as exc:
            raise ArchiveError(
                f"archive is corrupt after its last member: {_one_line(exc)}", where="tar",
                hint="the archive is truncated or corrupt; re-create it",
            ) from exc
    return col.finish()


def _read_directory(root: Path, limits: Limits) -> SourceTree:
    col = _Collector(limits, "directory", None)
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        rel_dir = Path(dirpath).relative_to(root).as_posix()
        dirnames[:] = sorted(d for d in dirnames if d not in IGNORED_DIRS)
        for d in list(dirnames):
            full = Path(dirpath, d)
            if full.is_symlink():
                rel = f"{rel_dir}/{d}" if rel_dir != "." else d
                raise SourceError(
                    "symbolic links are not allowed in the source", where=rel,
                    hint="replace the link with the directory it points to",
                )
        for name in sorted(filenames):
            full = Path(dirpath, name)
            rel = name if rel_dir == "." else f"{rel_dir}/{name}"
            where = rel
            col.count_member(where)
            st = full.lstat()
            if stat.S_ISLNK(st.st_mode):
                raise SourceError(
                    "symbolic links are not allowed in the source", where=rel,
                    hint="replace the link with the file it points to",
                )
            if not stat.S_ISREG(st.st_mode):
                raise SourceError(
                    "only regular files are allowed in the source", where=rel,
                    hint="remove sockets, FIFOs and devices from the directory",
                )
            try:
                path = normalize_member_name(rel, limits)
            except ArchiveError as exc:
                raise SourceError(exc.message, where=rel, hint=exc.hint) from exc
            if _is_ignored(path):
                col.ignored.append(path)
                continue
            col.charge(st.st_size, where)
            col.add_file(path, full.read_bytes(), bool(st.st_mode & 0o111), where)
    col.kind = "directory"
    return col.finish()


def detect_kind(head: bytes) -> str:
    """Tell a zip, a gzip'd/plain tar and a plain file apart by content."""
    if head[:4] in (b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08"):
        return "zip"
    if head[:2] == b"\x1f\x8b" or head[:3] == b"BZh" or head[:6] == b"\xfd7zXZ\x00":
        return "tar"
    if len(head) >= 262 and head[257:262] == b"ustar":
        return "tar"
    return "file"


def read_source(source: Path, limits: Optional[Limits] = None) -> SourceTree:
    """Read *source* (a handler file, a directory, a zip or a tar[.gz]) into memory."""
    limits = limits or Limits()
    if not os.path.lexists(source):
        raise SourceError(
            "source does not exist", where=str(source),
            hint="pass a handler.py, a directory, a .zip or a .tar.gz",
        )
    if source.is_dir():
        return _read_directory(source, limits)
    if not source.is_file():
        raise SourceError(
            "source is not a regular file or a directory", where=str(source),
            hint="pass a handler.py, a directory, a .zip or a .tar.gz",
        )
    size = source.stat().st_size
    if size > limits.max_total_bytes:
        raise SourceError(
            f"source file is too large ({size} bytes)", where=str(source),
            hint=f"the limit is {limits.max_total_bytes} bytes",
        )
    blob = source.read_bytes()
    kind = detect_kind(blob[:512])
    if kind == "zip":
        return _read_zip(blob, limits)
    if kind == "tar":
        return _read_tar(blob, limits)
    return _read_single_file(source.name, blob)


def _read_single_file(name: str, blob: bytes) -> SourceTree:
    if not name.endswith(".py"):
        raise SourceError(
            "source is neither a Python file nor a zip / tar.gz archive", where=name,
            hint="pass handler.py, a directory, a .zip or a .tar.gz with handler.py at its root",
        )
    return SourceTree(kind="file", files=(SourceFile(path=name, data=blob),))
