"""Dependencies: requirements.txt -> resolve -> fetch -> install -> vendor segments.

Wires the dependency stages together for :func:`packager.build.build`.
"""

from __future__ import annotations

import os
import queue
import threading
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
from packager.cache import Cache, cache_key, default_cache_dir, load_blob, store_blob
from packager.deps.fetch import FetchedWheel, SdistBuilderImpl, fetch, warm_up
from packager.deps.install import install_wheel
from packager.deps.pipout import MACHINE_WARNING
from packager.deps.profile import TargetProfile
from packager.deps.requirements import Requirements, parse_requirements
from packager.deps.resolve import Resolution, resolve
from packager.deps.slim import SlimDropped, SlimSettings
from packager.deps.uvresolve import choose
from packager.deps.vendor import VendorOutput
from packager.errors import ArtifactError, IgniteError
from packager.options import BuildOptions
from packager.source.checks import CheckedSource
from packager.source.intake.tree import SourceTree

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


def resolve_for(reqs: Requirements, profile: TargetProfile, options: BuildOptions,
                progress: Progress, early: bool = False, sdist_first: str = "",
                ) -> tuple[Resolution, Cache, SdistBuilderImpl]:
    """Resolve; ``early`` (before the checks passed) never builds an sdist, it gives up instead.

    ``sdist_first``: the requirement an early resolution found no wheel for; built before
    resolving, so the resolution does not fail on it a second time.
    """
    cache = Cache(Path(options.cache_dir) if options.cache_dir else default_cache_dir()).ensure()
    builder = SdistBuilderImpl(profile, options.index, cache, options.target_python, progress,
                               uv=lambda: choose(options.resolver, options.index)[0])
    if sdist_first:
        try:
            builder(sdist_first)
        except IgniteError:
            pass  # only a head start: the resolution below meets it again and reports it in context
    resolution = resolve(reqs, profile, index=options.index, cache=cache,
                         build_sdist=_refuse_sdist if early else builder,
                         vendor_anyway=options.vendor_anyway, refresh=options.refresh,
                         resolver=options.resolver, progress=progress, on_resolving=warm_up)
    return resolution, cache, builder


class _NotBeforeChecks(Exception):
    """An sdist would be built: that waits until the upload passed its checks."""


def _refuse_sdist(spec: str) -> Path:
    raise _NotBeforeChecks(spec)


class EarlyResolution:
    """The resolution started while the handler is still being checked (it is mostly waiting on the network).

    Used only when the checks then pick the very same requirements (path and bytes); a
    check failure still wins, since it is raised before this is asked for its result.
    Its progress lines are handed to the caller's thread (the CLI's output settings live
    there) whenever the caller waits.
    """

    def __init__(self, reqs: Requirements, profile: TargetProfile, options: BuildOptions, progress: Progress):
        self.reqs = reqs
        #: the requirement whose sdist the resolution needs (built once the checks passed)
        self.sdist_first = ""
        self._progress = progress
        self._said: queue.SimpleQueue[tuple[str, str]] = queue.SimpleQueue()
        self._result: Optional[tuple[Resolution, Cache, SdistBuilderImpl]] = None
        self._error: Optional[BaseException] = None

        def run() -> None:
            try:
                self._result = resolve_for(reqs, profile, options, lambda s, m: self._said.put((s, m)), early=True)
            except _NotBeforeChecks as stop:
                self.sdist_first = str(stop)  # the normal path builds it first, then resolves
            except BaseException as exc:  # handed to the thread that asks for the result
                self._error = exc

        self._thread = threading.Thread(target=run, name="ignite-early-resolve", daemon=True)
        self._thread.start()

    def wait(self) -> None:
        """Until it is done, passing its progress on (also when the build stops early: temp files go)."""
        while self._thread.is_alive():
            self._thread.join(0.05)
            self._pass_on()
        self._pass_on()

    def _pass_on(self) -> None:
        while True:
            try:
                stage, message = self._said.get_nowait()
            except queue.Empty:
                return
            self._progress(stage, message)

    def result_for(self, reqs: Requirements) -> Optional[tuple[Resolution, Cache, SdistBuilderImpl]]:
        if (reqs.path, reqs.digest) != (self.reqs.path, self.reqs.digest):
            self._progress = lambda stage, message: None  # about another file: not worth a line
            self.wait()
            self.sdist_first = ""  # nor is its sdist
            return None
        self.wait()
        if self._error is not None:
            raise self._error
        return self._result


def start_early_resolution(tree: SourceTree, profile: TargetProfile, options: BuildOptions,
                           progress: Progress) -> Optional[EarlyResolution]:
    """Start resolving the root requirements file (or the lock) before the checks finish, if there is one."""
    try:
        if options.lock is not None:
            reqs = parse_requirements(Path(options.lock).read_bytes(), str(options.lock))
        else:
            found = tree.get("requirements.lock") or tree.get("requirements.txt")
            if found is None or not found.data.strip():
                return None
            reqs = parse_requirements(found.data, found.path)
    except Exception:  # the normal path reports it, in its order
        return None
    if reqs.is_lock:
        return None  # nothing to wait for
    return EarlyResolution(reqs, profile, options, progress)


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
