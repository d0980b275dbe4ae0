"""Dependencies: the build's dependency source -> resolve -> fetch -> install -> vendor segments.

Wires the dependency stages together for :func:`packager.build.build` (the resolution's
part, which a build starts before the others, is :mod:`packager.resolution`).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, Optional

from packaging.utils import InvalidWheelFilename, parse_wheel_filename

from packager import __version__
from packager.artifact.manifest import FileRecord, VendoredDist
from packager.artifact.tarball import (
    CompressedSegment,
    Segment,
    compress_segment,
    segment_cache_parts,
    source_date_epoch,
)
from packager.cache import Cache, cache_key, load_blob_lazily, store_blob
from packager.deps.fetch import FetchedWheel, fetch
from packager.deps.inputs import DependencySource
from packager.deps.pipout import MACHINE_WARNING
from packager.deps.profile import TargetProfile
from packager.deps.requirements import Requirements
from packager.deps.slim import SlimDropped, SlimSettings
from packager.deps.vendor import VendorOutput
from packager.errors import ArtifactError
from packager.options import BuildOptions
from packager.records import replace
from packager.resolution import EarlyResolution, named_by, resolve_for

Progress = Callable[[str, str], None]


def _segment_key(w: FetchedWheel, mtime: int, level: int, slim: SlimSettings) -> str:
    parts: list[object] = ["segment", __version__, w.sha256, mtime, level, "pax", "vendor/", *segment_cache_parts()]
    if slim.active:  # unchanged keys without slim: existing caches stay valid
        parts.append({"slim": slim.to_dict()})
    return cache_key(*parts)


Made = tuple[CompressedSegment, SlimDropped]


class Vendoring:
    """Each wheel's installed, normalized, compressed tar segment (and what slim left out).

    From the cache, or made once, starting as soon as the wheel is there (:meth:`add` is
    fetch's ``on_ready``: downloads land while others are still on the wire). The cache key
    is the wheel's sha256 + packager version + mtime + level + chunking + compressor + slim settings, so
    a hit is byte-for-byte what a fresh install and compression would produce.
    """

    def __init__(self, cache: Cache, mtime: int, level: int, slim: Optional[SlimSettings] = None):
        self.cache, self.mtime, self.level, self.slim = cache, mtime, level, slim or SlimSettings()
        cores = min(os.cpu_count() or 1, 4)
        # Two pools: an install waits for its chunks, so they must not queue behind it. More
        # installs than cores: a wheel that lands last (often the largest) must not wait for
        # the smaller ones before it; their compression is on the chunk pool's cores anyway.
        self._installs = ThreadPoolExecutor(max_workers=max(4, cores), thread_name_prefix="ignite-install")
        self._chunks = ThreadPoolExecutor(max_workers=cores, thread_name_prefix="ignite-deflate")
        self._lock = threading.Lock()
        self._hits: dict[str, Made] = {}
        self._made: dict[str, Future[Made]] = {}

    def __enter__(self) -> Vendoring:
        return self

    def __exit__(self, *exc: object) -> None:
        for f in self._made.values():
            f.cancel()
        self._installs.shutdown(wait=True)
        self._chunks.shutdown(wait=True)

    def add(self, w: FetchedWheel) -> None:
        """Look the segment up in the cache now (cheap), or start making it."""
        with self._lock:
            if w.sha256 in self._hits or w.sha256 in self._made:
                return
        # (left in the cache file when its hash is noted: the artifact copies it unread)
        hit = load_blob_lazily(self.cache, "segments", _segment_key(w, self.mtime, self.level, self.slim))
        with self._lock:
            if hit is not None:
                meta, blob = hit
                seg = CompressedSegment(meta["name"], tuple(FileRecord.from_dict(r) for r in meta["records"]),
                                        blob, int(meta["crc"]), int(meta["length"]), meta.get("blob_sha256"))
                slimmed = meta.get("slimmed") or {}
                self._hits[w.sha256] = (seg, SlimDropped(int(slimmed.get("files", 0)), int(slimmed.get("bytes", 0))))
            elif w.sha256 not in self._made:
                self._made[w.sha256] = self._installs.submit(self._make, w)

    def _make(self, w: FetchedWheel) -> Made:
        # (installer's import, ~10 ms, only when a wheel is not in the segment cache)
        from packager.deps.install import install_wheel

        dist = install_wheel(w.path, self.slim)
        seg = compress_segment(Segment(f"vendor:{w.pin.name}", dist.entries), self.mtime, self.level, self._chunks)
        sha = store_blob(self.cache, "segments", _segment_key(w, self.mtime, self.level, self.slim), {
            "name": seg.name, "records": [r.to_dict() for r in seg.records],
            "crc": seg.crc, "length": seg.length, "dist": dist.name, "version": dist.version,
            "slimmed": dist.slimmed.to_dict(),
        }, seg.data())
        return replace(seg, sha256=sha), dist.slimmed

    def segments(self, wheels: list[FetchedWheel], progress: Progress) -> list[Made]:
        """All of *wheels*' segments, in their order (adding any not added yet)."""
        for w in wheels:
            self.add(w)
        made = sum(1 for w in wheels if w.sha256 in self._made)
        if made:
            progress("vendor", f"installing {made} distribution(s) into vendor/"
                     + (f" ({len(wheels) - made} from the cache)" if made < len(wheels) else ""))
        elif wheels:
            progress("vendor", f"{len(wheels)} distribution(s) from the cache")
        return [self._hits[w.sha256] if w.sha256 in self._hits else self._made[w.sha256].result() for w in wheels]


def vendor_requirements(source: DependencySource, reqs: Requirements, profile: TargetProfile,
                        options: BuildOptions, progress: Progress,
                        early: Optional[EarlyResolution] = None) -> VendorOutput:
    """Vendor what *reqs* (read from the build's one *source*) resolve to for the target."""
    resolved = early.result() if early is not None else None
    resolution, cache, builder = resolved or resolve_for(
        reqs, profile, options, progress, sdist_first=early.sdist_first if early is not None else "")
    with Vendoring(cache, source_date_epoch(options.env), options.level, options.slim) as vendoring:
        with named_by(reqs):  # its errors name the build's dependency file, at the pin's line
            wheels = fetch(resolution.pins, profile, index=options.index, cache=cache, build_sdist=builder,
                           wheelhouses=[Path(w) for w in options.wheelhouses], progress=progress,
                           on_ready=vendoring.add)
        made = vendoring.segments(wheels, progress)
    segments = [seg for seg, _ in made]
    owner: dict[str, str] = {}
    for w, seg in zip(wheels, segments):
        for rec in seg.records:
            if rec.path in owner:
                raise ArtifactError(
                    f"{w.pin.name} and {owner[rec.path]} both install {rec.path}", where=rec.path,
                    hint="two distributions overwrite each other; drop one of them",
                )
            owner[rec.path] = w.pin.name
    vendored = [
        VendoredDist(name=w.pin.name, version=w.pin.version, wheel=w.path.name, wheel_sha256=w.sha256,
                     files=len(seg.records), size=sum(r.size for r in seg.records),
                     built_from_sdist=w.built_from_sdist)
        for w, seg in zip(wheels, segments)
    ]
    slim: dict[str, Any] = {}
    if options.slim.active:
        slim = {**options.slim.to_dict(),
                "dropped": {w.pin.name: dropped.to_dict() for w, (_, dropped) in zip(wheels, made)}}
    return VendorOutput(
        slim=slim,
        segments=tuple(segments),
        vendored=tuple(vendored),
        skipped=resolution.skipped,
        requirements={
            **source.to_dict(),
            "locked": resolution.from_lock,
            "lock_digest": resolution.digest,
            # What the artifact's user should know: pip's warnings about these packages
            # (not the build machine's index settings) and the image's packages shadowed.
            "warnings": [w for w in resolution.warnings if not w.startswith(MACHINE_WARNING)],
            "shadowed": [s.to_dict() for s in resolution.shadowed],
        },
        warnings=reqs.warnings + tuple(resolution.warnings) + _unaudited_libraries(wheels, profile),
    )


def _unaudited_libraries(wheels: list[FetchedWheel], profile: TargetProfile) -> tuple[str, ...]:
    """Shared libraries that wheels built here need and the target may lack (packager.deps.sharedlibs)."""
    todo = [w for w in wheels if _unaudited(w.path.name, w.built_from_sdist)]
    if not todo:
        return ()
    # (sharedlibs and its policy data are ~3 ms of import: only for a wheel to check)
    from packager.deps.sharedlibs import missing_libraries, target_policy

    policy = target_policy(profile.tags)
    return tuple(m.warning() for w in todo for m in missing_libraries(w.path, f"{w.pin.name} {w.pin.version}", policy))


def _unaudited(wheel_name: str, built_from_sdist: bool) -> bool:
    """Only wheels nobody audited: built here, or tagged for a plain ``linux_*`` platform."""
    if built_from_sdist:
        return True
    try:
        tags = parse_wheel_filename(wheel_name)[3]
    except InvalidWheelFilename:
        return False
    return any(t.platform.startswith("linux_") for t in tags)
