"""Housekeeping of the local build cache: what it holds (``cache info``) and ``cache prune``.

An *entry* is what one lookup reads: a resolution (``KEY.json``), a segment
(``KEY.json`` + ``KEY.bin``), a wheel (``NAME.whl``, with its ``.sdist-sha256`` when it
was built from an sdist). Its last use is the newest of its files' mtime and atime
(reads refresh atime on the usual ``relatime`` mounts about once a day; on ``noatime``
mounts it is the write time). Pruning removes whole entries, oldest first, so a
lookup never finds half of one (and if it did, cache.load_blob drops it). The
directories other tools manage (``uv/``, ``pip-tools/``) and the image runtimes are
counted, never pruned. Temp files of interrupted writes (``.NAME.XXXX`` next to the
entries, older than an hour) and the temp directories of killed builds in the system temp
directory (older than a day) are removed.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from packager.cache import ARTIFACT_DIGESTS, SEEN_DIR, sha256_note
from packager.cache import SDIST_SIDECAR as _SIDECAR

#: the kinds of entries the packager itself writes (cache.Cache)
KINDS = ("resolutions", "segments", "wheels", "built")
#: a temp file or directory this old is left over from a killed write, not one in progress
STALE_TEMP_SECONDS = 3600
#: the prefixes of the build's temp directories (tempfile.TemporaryDirectory(prefix=...)); not
#: ``ignite-run-`` (a `serve` may run for days from it)
#: (not ``ignite-tmp-PID-HOST-``, a run's own directory, which may hold a `serve`'s unpacked artifact
#: for days: runtime.sweep_stale_tmp removes those of runs whose process is gone, when a command
#: that makes temp files starts)
_TMP_DIRS = re.compile(r"^ignite-(lock|compile|resolve|uv|sdist|fetch|profile)-[A-Za-z0-9_]+$")
#: a build's temp directory this old is a killed build's (no step of a build runs this long)
STALE_TMPDIR_SECONDS = 86400


@dataclass
class Entry:
    kind: str
    key: str
    files: list[Path]
    size: int
    last_used: float


@dataclass
class KindInfo:
    kind: str
    entries: int = 0
    bytes: int = 0
    oldest: Optional[float] = None
    prunable: bool = True


@dataclass
class PruneReport:
    removed_entries: int = 0
    removed_bytes: int = 0
    removed_temp: int = 0
    kept_entries: int = 0
    kept_bytes: int = 0
    removed: list[str] = field(default_factory=list)


def _is_temp(name: str) -> bool:
    """``.NAME.XXXXXXXX`` (cache.atomic_bytes) or ``.runtime-XXXX`` (runtime.py)."""
    return name.startswith(".") and (name.count(".") >= 2 or name.startswith(".runtime-"))


def _stat(path: Path) -> tuple[int, float]:
    try:
        st = path.lstat()
    except OSError:
        return 0, 0.0
    return st.st_size, max(st.st_mtime, st.st_atime)


def entries(root: Path) -> Iterator[Entry]:
    """Every entry of the packager's own kinds (temp files not included)."""
    for kind in KINDS:
        d = root / kind
        if not d.is_dir():
            continue
        groups: dict[str, list[Path]] = {}
        for p in d.iterdir():
            if _is_temp(p.name) or not p.is_file():
                continue
            name = p.name
            if name.endswith(_SIDECAR):
                key = name[: -len(_SIDECAR)]
            elif kind in ("resolutions", "segments") and (name.endswith(".json") or name.endswith(".bin")):
                key = name.rsplit(".", 1)[0]
            else:
                key = name
            groups.setdefault(key, []).append(p)
        for key, files in groups.items():
            stats = [_stat(f) for f in files]
            yield Entry(kind, key, sorted(files), sum(s for s, _ in stats), max(t for _, t in stats))


def _tree_size(path: Path) -> tuple[int, int]:
    files = size = 0
    for dirpath, _dirs, names in os.walk(path):
        for n in names:
            try:
                size += os.lstat(os.path.join(dirpath, n)).st_size
                files += 1
            except OSError:
                pass
    return files, size


def info(root: Path) -> list[KindInfo]:
    """Entries and bytes per kind; the other top-level directories as not prunable."""
    out: dict[str, KindInfo] = {k: KindInfo(k) for k in KINDS}
    for e in entries(root):
        ki = out[e.kind]
        ki.entries += 1
        ki.bytes += e.size
        ki.oldest = e.last_used if ki.oldest is None else min(ki.oldest, e.last_used)
    if root.is_dir():
        for p in sorted(root.iterdir()):
            if p.is_dir() and p.name not in KINDS:
                n, size = _tree_size(p)
                out[p.name] = KindInfo(p.name, n, size, None, prunable=p.name == SEEN_DIR)
    return list(out.values())


def _stale_temps(root: Path, now: float) -> Iterator[Path]:
    for kind_dir in [root, *(root / k for k in (*KINDS, "stubs", "runtimes"))]:
        if not kind_dir.is_dir():
            continue
        for p in kind_dir.iterdir():
            if _is_temp(p.name) and now - _stat(p)[1] > STALE_TEMP_SECONDS:
                yield p
    tmp = Path(tempfile.gettempdir())
    if tmp.name.startswith("ignite-tmp-"):  # this run's private directory (packager.runtime): the system's is above
        tmp = tmp.parent
    uid = os.getuid() if hasattr(os, "getuid") else None
    try:
        found = list(tmp.iterdir())
    except OSError:
        found = []
    for p in found:
        if _TMP_DIRS.match(p.name) and p.is_dir() and not p.is_symlink():
            try:
                st = p.lstat()
            except OSError:
                continue
            if (uid is None or st.st_uid == uid) and now - st.st_mtime > STALE_TMPDIR_SECONDS:
                yield p


def _remove(p: Path) -> None:
    if p.is_dir() and not p.is_symlink():
        shutil.rmtree(p, ignore_errors=True)
    else:
        p.unlink(missing_ok=True)


def prune(root: Path, older_than: Optional[float] = None, max_size: Optional[int] = None,
          dry_run: bool = False, now: Optional[float] = None) -> PruneReport:
    """Remove entries unused for *older_than* seconds, then the least recently used ones until
    the entries take at most *max_size* bytes; and stale temp files in any case."""
    now = time.time() if now is None else now
    report = PruneReport()
    for t in list(_stale_temps(root, now)):
        report.removed_temp += 1
        if not dry_run:
            _remove(t)
    keep: list[Entry] = []
    drop: list[Entry] = []
    for e in sorted(entries(root), key=lambda e: (e.last_used, e.kind, e.key), reverse=True):
        if older_than is not None and now - e.last_used > older_than:
            drop.append(e)
        else:
            keep.append(e)
    if max_size is not None:
        total = 0
        kept: list[Entry] = []
        full = False
        for e in keep:  # newest first: once one does not fit, it and every older one go (LRU)
            full = full or total + e.size > max_size
            if full:
                drop.append(e)
            else:
                total += e.size
                kept.append(e)
        keep = kept
    for e in drop:
        report.removed_entries += 1
        report.removed_bytes += e.size
        report.removed.append(f"{e.kind}/{e.key}")
        if not dry_run:
            # the metadata first (it vouches for the bytes): a reader never sees a json without its blob
            for f in sorted(e.files, key=lambda f: not f.name.endswith(".json")):
                f.unlink(missing_ok=True)
                sha256_note(root, f).unlink(missing_ok=True)  # (a file's noted sha256, if any)
    seen = root / SEEN_DIR
    if older_than is not None and seen.is_dir() and not dry_run:
        for marker in seen.glob("*/*"):
            if now - _stat(marker)[1] > older_than:
                marker.unlink(missing_ok=True)
    memo = root / ARTIFACT_DIGESTS
    if older_than is not None and memo.is_dir() and not dry_run:
        for note in memo.iterdir():  # (an artifact's sha256 by its parts': costs one hash when gone)
            if now - _stat(note)[1] > older_than:
                note.unlink(missing_ok=True)
    report.kept_entries = len(keep)
    report.kept_bytes = sum(e.size for e in keep)
    return report


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$")
_SECONDS = {"": 86400, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_duration(text: str) -> Optional[float]:
    """``30d``, ``12h``, ``2w``, ``90m``, ``45s`` (a bare number: days) -> seconds; None if invalid."""
    m = _DURATION.match(text)
    return float(m.group(1)) * _SECONDS[m.group(2)] if m else None
