"""Install: one wheel into ``vendor/`` entries in memory, with :mod:`installer`.

A :class:`MemoryDestination` receives what ``installer.install`` writes and
keeps only importable files (purelib/platlib): no ``bin/`` scripts, no data or
headers outside ``vendor/``, no ``.pyc``, no host paths. ``RECORD`` is rewritten
to list exactly what ships, and ``INSTALLER`` names ignite-pack. With slim
settings (:mod:`packager.deps.slim`) matching files are left out before ``RECORD``
is written, so ``RECORD`` still lists exactly what ships. Each wheel's output
depends only on the wheel's bytes and the slim settings, so it is a cacheable unit.
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import posixpath
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO, Optional, Union

from installer import install
from installer.destinations import WheelDestination
from installer.exceptions import InstallerError
from installer.records import Hash, InvalidRecordEntry, RecordEntry
from installer.sources import WheelFile
from installer.utils import Scheme

from packager.artifact.manifest import VENDOR_DIR
from packager.artifact.tarball import Entry
from packager.deps.slim import SlimDropped, SlimMatcher, SlimSettings
from packager.errors import FetchError
from packager.records import field, record

_KEPT_SCHEMES = ("purelib", "platlib")


def _b64(digest: bytes) -> str:
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


class _Member(io.BytesIO):
    """A wheel member's bytes with their sha256, computed once: RECORD's check, the installed
    RECORD and the artifact manifest all need it (four passes over pyyaml's 3 MB were ~7 ms)."""

    def __init__(self, data: bytes, digest: bytes) -> None:
        super().__init__(data)
        self.digest = digest


class MemoryDestination(WheelDestination):
    """Collects installed files in memory under ``vendor/``; drops scripts and data."""

    def __init__(self, slim: Optional[SlimMatcher] = None) -> None:
        self.files: dict[str, tuple[bytes, bool]] = {}
        self.digests: dict[str, bytes] = {}  # path -> sha256 of what ships
        self.dropped: list[str] = []
        self.slim = slim
        #: path -> size of what the slim settings left out
        self.slimmed: dict[str, int] = {}

    def write_script(self, name: str, module: str, attr: str, section: str) -> RecordEntry:  # type: ignore[override]
        self.dropped.append(f"bin/{name}")
        return RecordEntry(f"../../bin/{name}", None, None)

    def write_file(self, scheme: Scheme, path: Union[str, os.PathLike[str]], stream: BinaryIO,
                   is_executable: bool) -> RecordEntry:
        data = stream.read()
        digest = stream.digest if isinstance(stream, _Member) else hashlib.sha256(data).digest()
        rel = posixpath.normpath(str(path).replace("\\", "/"))
        if scheme not in _KEPT_SCHEMES or rel.startswith(("../", "/")) or rel == "..":
            self.dropped.append(f"{scheme}/{rel}")
        elif rel.endswith((".pyc", ".pyo")):
            self.dropped.append(rel)
        elif self.slim is not None and self.slim.drops(rel):
            self.slimmed[rel] = len(data)
        else:
            self.files[rel] = (data, is_executable)
            self.digests[rel] = digest
        return RecordEntry(rel, Hash("sha256", _b64(digest)), len(data))

    def finalize_installation(self, scheme: Scheme, record_file_path: str,
                              records: Iterable[tuple[Scheme, RecordEntry]]) -> None:
        rows = []
        for path in sorted(self.files):
            if path == record_file_path:
                continue
            data, _ = self.files[path]
            rows.append(f"{path},sha256={_b64(self.digests[path])},{len(data)}\n")
        rows.append(f"{record_file_path},,\n")
        self.files[record_file_path] = ("".join(sorted(rows)).encode(), False)


class _OnePassWheel(WheelFile):
    """A WheelFile that checks each file against RECORD as it hands it to the installer.

    ``validate_record()`` would inflate every member once to hash it and ``install()``
    again to write it (pyyaml: ~8 ms of 27). Each member is read once here; a hash or
    size that does not match RECORD fails the install, as validation would have.
    """

    def get_contents(self) -> Iterator[tuple[tuple[str, str, str], BinaryIO, bool]]:
        unrecorded = {f"{self.dist_info_dir}/{n}" for n in ("RECORD", "RECORD.p7s", "RECORD.jws")}
        for row, stream, is_executable in super().get_contents():
            data = stream.read()
            digest = hashlib.sha256(data).digest()
            if row[0] not in unrecorded:  # as validate_record: RECORD and its signatures have no hash
                try:
                    entry = RecordEntry.from_elements(*row)
                except InvalidRecordEntry as exc:
                    raise ValueError(f"entry in RECORD for {row[0]} is invalid: {exc.issues}") from exc
                if entry.hash_ is None or entry.size is None or not (
                    entry.size == len(data) and entry.hash_.value == _b64(digest) if entry.hash_.name == "sha256"
                    else entry.validate(data)
                ):
                    raise ValueError(f"hash / size of {row[0]} didn't match RECORD")
            yield row, _Member(data, digest), is_executable


@record
class InstalledDist:
    name: str
    version: str
    entries: tuple[Entry, ...]
    dropped: tuple[str, ...]
    slimmed: SlimDropped = field(default_factory=SlimDropped)

    @property
    def size(self) -> int:
        return sum(len(e.data) for e in self.entries)


def install_wheel(path: Path, slim: Optional[SlimSettings] = None) -> InstalledDist:
    """Install *path* into memory; entries are ``vendor/...`` paths, sorted.

    *slim* leaves matching files out (counted in :attr:`InstalledDist.slimmed`).
    """
    dest = MemoryDestination(slim.matcher() if slim is not None and slim.active else None)
    try:
        with _OnePassWheel.open(path) as source:
            source.validate_record(validate_contents=False)  # names; contents while installing
            install(source, dest, {"INSTALLER": b"ignite-pack\n"})
            name, version = source.distribution, source.version
    except (InstallerError, ValueError, KeyError, OSError) as exc:
        raise FetchError(f"wheel cannot be installed: {exc}", where=path.name,
                         hint="the wheel is corrupt or invalid; delete it from the cache and rebuild") from exc
    entries = tuple(
        Entry(f"{VENDOR_DIR}/{p}", data, 0o755 if exe else 0o644, dest.digests.get(p))
        for p, (data, exe) in sorted(dest.files.items())
    )
    slimmed = SlimDropped(len(dest.slimmed), sum(dest.slimmed.values()))
    return InstalledDist(name, version, entries, tuple(sorted(dest.dropped)), slimmed)
