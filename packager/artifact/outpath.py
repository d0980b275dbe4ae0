"""Where the artifact may be written: checked before anything is read or written.

The build replaces ``-o`` with ``os.replace``, which swaps whatever the path names for a
regular file. That is only safe when the path is ours to replace: never the source itself,
never inside the source tree (the next build would pack this artifact, or the temp file of
a killed one, into the next), and never a directory, device, FIFO or symlink.
"""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path

from packager.errors import UsageError

TYPE_CHECKING = False  # (typing's import is ~3 ms of a build that needs it only for mypy)
if TYPE_CHECKING:
    from typing import Optional

#: Temp files of ours older than this are from builds that died (a live write touches its
#: file continuously; the largest artifacts take seconds), so a later build removes them.
STALE_TEMP_S = 600.0


def _inside(path: Path, tree: Path) -> bool:
    try:
        path.relative_to(tree)
    except ValueError:
        return False
    return True


def check_output_path(out: Path, source: Path) -> None:
    """Refuse an ``-o`` that would destroy the source, pack itself, or replace a non-file."""
    target = Path(os.path.abspath(out))
    parent = target.parent.resolve() if target.parent.exists() else target.parent
    resolved = parent / target.name
    src = Path(source).resolve()
    if resolved == src or (src.is_dir() and _inside(resolved, src)):
        what = "is the source itself" if resolved == src else f"is inside the source directory {src}"
        raise UsageError(
            f"the output path {out} {what}",
            where="-o",
            hint="write the artifact outside the source tree, e.g. -o ../" + (target.name or "fn.tar.gz"),
        )
    try:
        st = os.lstat(target)
    except FileNotFoundError:
        return
    except OSError as exc:
        raise UsageError(f"cannot use the output path {out}: {exc.strerror}", where="-o",
                         hint="pass -o with a path in a directory you can write") from None
    if not stat.S_ISREG(st.st_mode):
        kind = ("a directory" if stat.S_ISDIR(st.st_mode) else "a symbolic link" if stat.S_ISLNK(st.st_mode)
                else "a FIFO" if stat.S_ISFIFO(st.st_mode) else "a device" if stat.S_ISCHR(st.st_mode)
                or stat.S_ISBLK(st.st_mode) else "not a regular file")
        raise UsageError(
            f"the output path {out} is {kind}; the build replaces only a regular file or a new path",
            where="-o",
            hint="pass -o with a file name (a directory needs a name inside it: -o DIR/fn.tar.gz)",
        )


def remove_stale_temps(out: Path, now: Optional[float] = None) -> list[Path]:
    """Remove ``.NAME.*.tmp`` files next to *out* left by builds that were killed mid-write."""
    out = Path(out)
    parent = out.parent if str(out.parent) else Path(".")
    cutoff = (time.time() if now is None else now) - STALE_TEMP_S
    removed: list[Path] = []
    try:
        candidates = list(parent.glob(f".{out.name}.*.tmp"))
    except OSError:
        return removed
    for p in candidates:
        try:
            st = os.lstat(p)
            if stat.S_ISREG(st.st_mode) and st.st_mtime < cutoff:
                os.unlink(p)
                removed.append(p)
        except OSError:
            continue
    return removed
