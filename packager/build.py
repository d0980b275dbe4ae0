"""The build pipeline: intake -> checks -> (dependencies) -> artifact.

Each stage is its own module; this one only wires them together and passes
typed values from one to the next. Progress goes through a callback so the
core stays silent.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

from packager import __version__
from packager.deps.profile import TargetProfile, load_profile
from packager.errors import ArtifactError, IgniteError, io_error
from packager.options import BuildOptions
from packager.records import record, replace
from packager.source.checks import CheckedSource, check_source, version_tuple
from packager.source.intake import read_source

TYPE_CHECKING = False  # (typing's import is ~3 ms of a build that needs it only for mypy)
if TYPE_CHECKING:
    from typing import Any, Optional

    from packager.artifact.manifest import Manifest
    from packager.artifact.tarball import AnySegment, Entry
    from packager.deps.requirements import Requirements
    from packager.deps.slim import SlimSettings
    from packager.deps.vendor import VendorOutput

# The artifact stage's modules (embed, manifest, tarball) are imported inside the functions
# that use them: a build with requirements starts its resolver first and imports them while
# it runs (see packager.resolution).

#: ``progress(stage, message)``: called at the start of each long step.
Progress = Callable[[str, str], None]


def _quiet(stage: str, message: str) -> None:
    return None


@record
class BuildResult:
    """What a finished build produced."""

    output: Path
    sha256: str
    size: int
    manifest: Manifest
    warnings: tuple[str, ...]
    seconds: float

    @property
    def files(self) -> int:
        return len(self.manifest.files) + 1


def source_entries(checked: CheckedSource) -> tuple[Entry, ...]:
    from packager.artifact.tarball import Entry

    return tuple(Entry(f.path, f.data, f.mode) for f in checked.tree.files)


class LauncherAhead:
    """The launcher's segment, made on another thread while the build vendors its dependencies:
    in an empty cache, deflating it (~300 KB of tar) was ~10-15 ms on the critical path of every
    cold build, after the wheels were vendored. With nothing to vendor it is made on the
    caller's thread (*ahead* False): waiting for a thread to start and end behind the GIL was
    ~3-4 ms of a build without requirements, and the default build's segment is premade."""

    def __init__(self, profile: TargetProfile, options: BuildOptions, ahead: bool = True) -> None:
        self._made: Optional[AnySegment] = None
        self._error: Optional[BaseException] = None
        self._thread: Optional[threading.Thread] = None
        if not ahead:
            self._run(profile, options)
            return
        # Not a daemon: a build that fails meanwhile lets it finish its cache entry.
        self._thread = threading.Thread(target=self._run, args=(profile, options),
                                        name="ignite-launcher-segment", daemon=False)
        self._thread.start()

    def _run(self, profile: TargetProfile, options: BuildOptions) -> None:
        try:
            from packager.artifact.embed import launcher_segment
            from packager.artifact.tarball import source_date_epoch

            self._made = launcher_segment(profile.python_version, options.convention,
                                          source_date_epoch(options.env), options.level, options.cache())
        except BaseException as exc:  # raised where the segment is asked for
            self._error = exc

    def segment(self) -> AnySegment:
        if self._thread is not None:
            self._thread.join()
        if self._error is not None:
            raise self._error
        assert self._made is not None
        return self._made


def assemble(
    checked: CheckedSource,
    profile: TargetProfile,
    options: BuildOptions,
    deps: Optional[VendorOutput],
    launcher: AnySegment,
) -> tuple[Manifest, list[AnySegment]]:
    """Lay out the segments and the manifest that describes them."""
    from packager.artifact.deflate import compressor
    from packager.artifact.embed import launcher_version
    from packager.artifact.manifest import Manifest
    from packager.artifact.tarball import Segment, source_date_epoch

    mtime = source_date_epoch(options.env)
    segments: list[AnySegment] = [
        Segment("source", source_entries(checked)),
        launcher,
        *(deps.segments if deps else ()),
    ]
    if options.compile:
        from packager.artifact.compile import compile_segment

        segments.append(compile_segment(segments, options.target_python(),
                                        version=profile.python_version).segment)
    paths: dict[str, str] = {}
    for seg in segments:
        for rec in seg.records:
            if rec.path in paths:
                raise ArtifactError(
                    f"{rec.path!r} would be written twice (by {paths[rec.path]} and {seg.name})",
                    where=rec.path, hint="rename the file in your source",
                )
            paths[rec.path] = seg.name
    manifest = Manifest(
        entry_module=checked.entry.module,
        entry_function=checked.entry.function,
        convention=options.convention,
        entry_init=options.init,
        entry_init_parameters=dict(options.init_params),
        convention_options={"payload": options.lambda_payload} if options.lambda_payload else {},
        target=profile.summary(),
        files=tuple(rec for seg in segments for rec in seg.records),
        packager_version=__version__,
        launcher_version=launcher_version(),
        source={"kind": checked.tree.kind, "files": len(checked.tree.files), "entry_file": checked.entry_file},
        requirements=dict(deps.requirements) if deps else {},
        vendored=deps.vendored if deps else (),
        skipped=deps.skipped if deps else (),
        compression={"format": "gzip", "level": options.level, "deflate": compressor().to_dict(),
                     "segments": [s.name for s in segments]},
        mtime=mtime,
        compiled=options.compile,
        slim=_slim_record(options.slim, deps),
    )
    return manifest, segments


def _slim_record(slim: SlimSettings, deps: Optional[VendorOutput]) -> dict[str, Any]:
    """The manifest's ``slim`` object: settings, per-distribution drops and their totals."""
    if not slim.active:
        return {}
    rec = dict(deps.slim) if deps and deps.slim else {**slim.to_dict(), "dropped": {}}
    dropped = rec["dropped"]
    rec["total"] = {"files": sum(d["files"] for d in dropped.values()),
                    "bytes": sum(d["bytes"] for d in dropped.values())}
    return rec


def _note_host_facts(options: BuildOptions) -> None:
    """After a build that succeeded (a refused one writes nothing): note in the cache's ``host/``
    the deflate verdict and a passed ``--python`` probe, so later builds skip both probes."""
    from packager.artifact.deflate import remember_verdict
    from packager.cache import HOST_NOTES, atomic_bytes
    from packager.runtime import PendingPython

    root = _cache_root(options)
    if root is None or options.cache().degraded:
        return
    remember_verdict(root / HOST_NOTES, options.level)  # (the verdict is known: no second probe)
    note = options.target_interpreter.note_to_write() if isinstance(options.target_interpreter, PendingPython) else None
    if note is not None:
        try:
            atomic_bytes(note, b"ok")
        except OSError:  # a read-only cache: probed again next time
            pass


def _check_deflate_early(level: int, cache_root: Optional[Path]) -> Optional[threading.Thread]:
    """Whether the host's zlib writes the pinned zlib's bytes (packager.artifact.deflate's probe,
    ~10 ms, mostly in zlib without the GIL): the verdict an earlier build noted in the cache for
    the same zlib files, else found on another core while the source is read and checked (noted
    by :func:`_note_host_facts` once the build succeeded). Every build deflates something. A
    failure is raised again where deflate is used."""
    from packager.artifact.deflate import host_is_reference, recall_verdict
    from packager.cache import HOST_NOTES

    notes = cache_root / HOST_NOTES if cache_root is not None else None
    if notes is not None and recall_verdict(notes, level):
        return None

    def probe() -> None:
        try:
            host_is_reference(level)
        except Exception:  # (the same call in the artifact stage raises it)
            pass

    t = threading.Thread(target=probe, name="ignite-deflate-probe", daemon=True)
    t.start()
    return t


def build(options: BuildOptions, progress: Progress = _quiet) -> BuildResult:
    """Build one artifact. Raises an IgniteError on bad input; writes nothing then.

    Every OSError on the way is classified (packager.errors.io_error): the output (exit 10),
    else the cache, TMPDIR or another local path (exit 24), with the path, the errno's words
    and the fix. A cache that cannot be used is built without, with one warning.
    """
    try:
        result = _build(options, progress)
    except OSError as exc:
        raise io_error(exc, output=Path(options.output), cache=_cache_root(options)) from exc
    degraded = options.cache().degraded
    return replace(result, warnings=(degraded, *result.warnings)) if degraded else result


def _cache_root(options: BuildOptions) -> Optional[Path]:
    try:
        return options.cache().root
    except OSError:
        return None


def _build(options: BuildOptions, progress: Progress) -> BuildResult:
    started = time.perf_counter()
    from packager.artifact.outpath import check_output_path

    check_output_path(Path(options.output), Path(options.source))
    progress("intake", f"reading {options.source}")
    tree = read_source(Path(options.source), options.limits)
    profile = load_profile(options.profile)
    # The one decision of which file declares the dependencies, before anything starts
    # (packager.deps.inputs); the early resolution, the checks' warnings and vendoring all use it.
    decision = options.dependency_source(tree)
    if decision.source is not None:
        progress("deps", f"dependencies from {decision.source.path} ({decision.source.kind}"
                 + (f", groups {' '.join(decision.source.groups)}" if decision.source.groups else "") + ")")
    reqs: Optional[Requirements] = None
    unreadable: Optional[IgniteError] = None
    early = None
    if decision.source is not None:
        from packager.deps.inputs import load

        try:
            reqs = load(decision.source, profile, strict=options.strict_requirements)
        except IgniteError as exc:  # reported after the checks, in their order
            unreadable = exc
    progress("checks", "checking the handler")
    if reqs is not None and not reqs.is_lock and reqs.lines:
        from packager.resolution import start_early_resolution

        early = start_early_resolution(reqs, profile, options, progress)
        if early is not None:
            early.get_ready()
    # (after the resolver's start: its thread's imports come first)
    deflate_checked = _check_deflate_early(options.level, _cache_root(options))
    try:
        options.check_python()
        checked = check_source(tree, options.entry, target_interpreter=options.target_python,
                               convention=options.convention, init=options.init, init_params=options.init_params,
                               target_version=version_tuple(profile.python_version))
    except BaseException:
        if early is not None:
            early.wait()
        raise
    if unreadable is not None:
        raise unreadable
    # Only for a source that passed its checks: the segment goes into the cache, and a refused
    # upload writes nothing anywhere (tests/test_hostile_*.py).
    vendoring = decision.source is not None and reqs is not None and bool(reqs.lines or reqs.preinstalled)
    launcher = LauncherAhead(profile, options, ahead=vendoring)
    deps: Optional[VendorOutput] = None
    if vendoring:
        assert decision.source is not None and reqs is not None
        from packager.dependencies import vendor_requirements

        deps = vendor_requirements(decision.source, reqs, profile, options, progress, early)
    if deflate_checked is not None:
        deflate_checked.join()  # (its failure, if any, is raised again where deflate is used)
    manifest, segments = assemble(checked, profile, options, deps, launcher.segment())
    progress("artifact", f"writing {options.output}")
    from packager.artifact.tarball import write_artifact
    from packager.cache import ArtifactDigests

    try:
        sha, size = write_artifact(Path(options.output), manifest, segments, level=options.level,
                                   max_size=options.max_size, memo=ArtifactDigests(options.cache()))
    except ArtifactError as exc:
        if "max_size" in exc.details:
            from packager.inspect.inspection import budget_error

            raise budget_error(exc, manifest, segments, options.level) from None
        raise
    _note_host_facts(options)
    return BuildResult(
        output=Path(options.output),
        sha256=sha,
        size=size,
        manifest=manifest,
        warnings=checked.warnings + decision.warnings + (deps.warnings if deps else ()),
        seconds=time.perf_counter() - started,
    )
