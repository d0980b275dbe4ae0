"""Reading a source directory into a :class:`SourceTree`, refusing links and special files."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from packager.errors import ArchiveError, SourceError
from packager.source.intake.tree import (
    IGNORED_DIRS,
    Collector,
    Limits,
    SourceTree,
    is_ignored,
    normalize_member_name,
)


def read_directory(root: Path, limits: Limits) -> SourceTree:
    col = Collector(limits, "directory", None)
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
            if is_ignored(path):
                col.ignored.append(path)
                continue
            col.charge(st.st_size, where)
            col.add_file(path, full.read_bytes(), bool(st.st_mode & 0o111), where)
    col.kind = "directory"
    return col.finish()
