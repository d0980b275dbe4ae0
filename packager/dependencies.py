"""Dependencies: requirements.txt -> resolve -> fetch -> install -> vendor segments.

Wires the dependency stages together for :func:`packager.build.build` (the resolution's
part, which a build starts before the others, is :mod:`packager.resolution`).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Optional

from packager import __version__
from packager.artifact.manifest import FileRecord, VendoredDist
from packager.artifact.tarball import (
    CompressedSegment,
    Segment,
    compress_segment,
    source_date_epoch,
)
from packager.cache import Cache, cache_key, load_blob, store_blob
from packager.deps.fetch import FetchedWheel, fetch
from packager.deps.install import install_wheel
from packager.deps.pipout import MACHINE_WARNING
from packager.deps.profile import TargetProfile
from packager.deps.requirements import Requirements, parse_requirements
from packager.deps.slim import SlimDropped, SlimSettings
from packager.deps.vendor import VendorOutput
from packager.errors import ArtifactError
from packager.options import BuildOptions
from packager.resolution import EarlyResolution, resolve_for
from packager.source.checks import CheckedSource

Progress = Callable[[str, str], None]


def load_requirements(checked: CheckedSource, options: BuildOptions) -> Requirements:
    """The lock when one is given (``--lock`` or a requirements.lock in the source), else requirements.txt."""
    if options.lock is not None:
        return parse_requirements(Path(options.lock).read_bytes(), str(options.lock))
    # `ignite-pack lock` writes requirements.lock at the root; one next to a nested
    # requirements.txt (openfaas's function/) counts too.
    req_dir = checked.requirements.path.rpartition("/")[0] if checked.requirements else ""
    for lock_path in ("requirements.lock", f"{req_dir}/requirements.lock" if req_dir else ""):
        lock = checked.tree.get(lock_path) if lock_path else None
        if lock is not None:
            return parse_requirements(lock.data, lock_path)
    assert checked.requirements is not None
    return parse_requirements(checked.requirements.data, checked.requirements.path)


def _segment_key(w: FetchedWheel, mtime: int, level: int, slim: SlimSettings) -> str:
    parts: list[object] = ["segment", __version__, w.sha256, mtime, level, "pax", "vendor/"]
    if slim.active:  # unchanged keys without slim: existing caches stay valid
        parts.append({"slim": slim.to_dict()})
    return cache_key(*parts)


def vendor_segments(wheels: list[FetchedWheel], cache: Cache, mtime: int, level: int,
                    progress: Progress, slim: Optional[SlimSettings] = None,
                    ) -> list[tuple[CompressedSegment, SlimDropped]]:
    """Each wheel's installed, normalized, compressed tar segment (and what slim left out).

    From the cache, or made once. The key is the wheel's sha256 + packager version
    + mtime + level + slim settings, so a hit is byte-for-byte what a fresh
    install and compression would produce.
    """
    slim = slim or SlimSettings()
    out: dict[int, tuple[CompressedSegment, SlimDropped]] = {}
    todo: list[tuple[int, FetchedWheel]] = []
    for i, w in enumerate(wheels):
        hit = load_blob(cache, "segments", _segment_key(w, mtime, level, slim))
        if hit is None:
            todo.append((i, w))
            continue
        meta, blob = hit
        seg = CompressedSegment(meta["name"], tuple(FileRecord.from_dict(r) for r in meta["records"]),
                                blob, int(meta["crc"]), int(meta["length"]))
        slimmed = meta.get("slimmed") or {}
        out[i] = (seg, SlimDropped(int(slimmed.get("files", 0)), int(slimmed.get("bytes", 0))))
    if todo:
        progress("vendor", f"installing {len(todo)} distribution(s) into vendor/"
                 + (f" ({len(wheels) - len(todo)} from the cache)" if len(todo) < len(wheels) else ""))

        def make(item: tuple[int, FetchedWheel]) -> tuple[int, tuple[CompressedSegment, SlimDropped]]:
            i, w = item
            dist = install_wheel(w.path, slim)
            seg = compress_segment(Segment(f"vendor:{w.pin.name}", dist.entries), mtime, level)
            store_blob(cache, "segments", _segment_key(w, mtime, level, slim), {
                "name": seg.name, "records": [r.to_dict() for r in seg.records],
                "crc": seg.crc, "length": seg.length, "dist": dist.name, "version": dist.version,
                "slimmed": dist.slimmed.to_dict(),
            }, seg.deflated)
            return i, (seg, dist.slimmed)

        workers = min(len(todo), os.cpu_count() or 1, 4)
        if workers > 1:
            with ThreadPoolExecutor(max_workers=workers) as pool:  # zlib and I/O release the GIL
                out.update(pool.map(make, todo))
        else:
            out.update(map(make, todo))
    elif wheels:
        progress("vendor", f"{len(wheels)} distribution(s) from the cache")
    return [out[i] for i in range(len(wheels))]


def vendor_requirements(checked: CheckedSource, profile: TargetProfile, options: BuildOptions,
                        progress: Progress, early: Optional[EarlyResolution] = None) -> VendorOutput:
    reqs = load_requirements(checked, options)
    resolved = early.result_for(reqs) if early is not None else None
    resolution, cache, builder = resolved or resolve_for(
        reqs, profile, options, progress, sdist_first=early.sdist_first if early is not None else "")
    wheels = fetch(resolution.pins, profile, index=options.index, cache=cache, build_sdist=builder,
                   wheelhouses=[Path(w) for w in options.wheelhouses], progress=progress)
    mtime = source_date_epoch(options.env)
    made = vendor_segments(wheels, cache, mtime, options.level, progress, options.slim)
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
            "file": reqs.path,
            "locked": resolution.from_lock,
            "lock_digest": resolution.digest,
            # What the artifact's user should know: pip's warnings about these packages
            # (not the build machine's index settings) and the image's packages shadowed.
            "warnings": [w for w in resolution.warnings if not w.startswith(MACHINE_WARNING)],
            "shadowed": [s.to_dict() for s in resolution.shadowed],
        },
        warnings=resolution.warnings,
    )
