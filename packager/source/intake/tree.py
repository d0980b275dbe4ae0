"""What intake produces (:class:`SourceTree` of :class:`SourceFile`), its :class:`Limits`, and the
checks every reader shares: member names (:func:`normalize_member_name`) and the
:class:`Collector` that refuses duplicates, case clashes and bombs as members arrive.
"""

from __future__ import annotations

import unicodedata

from packager.errors import ArchiveError, SourceError
from packager.records import field, record

TYPE_CHECKING = False  # (typing's import is ~3 ms of a build that needs it only for mypy)
if TYPE_CHECKING:
    from typing import IO, Optional

#: Directory and file names that never belong in an artifact (caches, VCS).
IGNORED_DIRS = frozenset(
    {"__pycache__", ".git", ".hg", ".svn", ".venv", ".mypy_cache", ".pytest_cache",
     ".ruff_cache", ".tox", ".nox", ".idea", ".vscode"}
)


IGNORED_SUFFIXES = (".pyc", ".pyo")


IGNORED_FILES = frozenset({".DS_Store", "Thumbs.db"})


@record
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
    #: Links whose target resolves inside the archive are read as copies of that target, as
    #: tarfile's ``data`` filter (PEP 706) allows them; absolute links, links leaving the tree
    #: and devices are still refused. For sdists from the index (pip accepts such links), never
    #: for uploads.
    inner_links: bool = False


@record
class SourceFile:
    """One regular file of the user's source, with its normalized POSIX path."""

    path: str
    data: bytes
    executable: bool = False

    @property
    def mode(self) -> int:
        return 0o755 if self.executable else 0o644


@record
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


def is_ignored(path: str) -> bool:
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


class Collector:
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
        if is_ignored(path):
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


def one_line(exc: BaseException) -> str:
    """An exception's text on one line (tarfile's open errors span several)."""
    return " ".join(str(exc).split()) or type(exc).__name__


def read_bounded(fh: IO[bytes], size: int, where: str) -> bytes:
    """Read exactly the declared size; refuse a member whose data runs longer."""
    data = fh.read(size + 1)
    if len(data) != size:
        raise ArchiveError(
            f"member data does not match its declared size ({size} bytes)", where=where,
            hint="the archive is corrupt or crafted; re-create it",
        )
    return data
