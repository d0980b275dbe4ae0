"""Intake: read a source (file, directory, zip, tar.gz) safely into memory.

Nothing is ever extracted to disk: members are validated one by one and read
into a :class:`SourceTree`. Archives are detected by their magic bytes, not by
their extension. ``extractall`` is never used; links, devices, traversal,
duplicates (after case-folding + NFC) and bombs are refused with the member's
name, per DESIGN.md §5.

The readers are one module each (dir_reader, zip_reader, tar_reader) and share
tree.py (the result types, the limits, name checks and the collector); this
module picks one by content.
"""

from __future__ import annotations

import os
from pathlib import Path

from packager.errors import SourceError
from packager.source.intake.tree import Limits, SourceFile, SourceTree, normalize_member_name

TYPE_CHECKING = False  # (typing's import is ~3 ms of a build that needs it only for mypy)
if TYPE_CHECKING:
    from typing import Optional

# The readers are imported when a source of their kind comes (tar's compression modules and
# zipfile are ~5 ms a handler.py or a directory does not need).

__all__ = ["Limits", "SourceFile", "SourceTree", "detect_kind", "normalize_member_name", "read_source"]


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
        from packager.source.intake.dir_reader import read_directory

        return read_directory(source, limits)
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
        from packager.source.intake.zip_reader import read_zip

        return read_zip(blob, limits)
    if kind == "tar":
        from packager.source.intake.tar_reader import read_tar

        return read_tar(blob, limits)
    return _read_single_file(source.name, blob)


def _read_single_file(name: str, blob: bytes) -> SourceTree:
    if not name.endswith(".py"):
        raise SourceError(
            "source is neither a Python file nor a zip / tar.gz archive", where=name,
            hint="pass handler.py, a directory, a .zip or a .tar.gz with handler.py at its root",
        )
    return SourceTree(kind="file", files=(SourceFile(path=name, data=blob),))
