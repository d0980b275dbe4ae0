"""Dependencies: requirements.txt -> resolve -> fetch -> install -> vendor segments.

Wires the dependency stages together for :func:`packager.build.build`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from packager.artifact import Segment
from packager.cache import Cache, default_cache_dir
from packager.checks import CheckedSource
from packager.errors import ArtifactError
from packager.fetch import SdistBuilderImpl, fetch
from packager.install import install_wheel
from packager.manifest import VendoredDist
from packager.profile import TargetProfile
from packager.requirements import Requirements, parse_requirements
from packager.resolve import Resolution, resolve
from packager.vendor import VendorOutput

if TYPE_CHECKING:
    from packager.build import BuildOptions

Progress = Callable[[str, str], None]


def load_requirements(checked: CheckedSource, options: BuildOptions) -> Requirements:
    """The lock when one is given (``--lock`` or requirements.lock at the root), else requirements.txt."""
    if options.lock is not None:
        return parse_requirements(Path(options.lock).read_bytes(), str(options.lock))
    lock = checked.tree.get("requirements.lock")
    if lock is not None:
        return parse_requirements(lock.data, "requirements.lock")
    assert checked.requirements is not None
    return parse_requirements(checked.requirements.data, "requirements.txt")


def resolve_for(reqs: Requirements, profile: TargetProfile, options: BuildOptions,
                progress: Progress) -> tuple[Resolution, Cache, SdistBuilderImpl]:
    cache = Cache(Path(options.cache_dir) if options.cache_dir else default_cache_dir()).ensure()
    builder = SdistBuilderImpl(profile, options.index, cache, options.python312, progress)
    resolution = resolve(reqs, profile, index=options.index, cache=cache, build_sdist=builder,
                         vendor_anyway=options.vendor_anyway, refresh=options.refresh, progress=progress)
    return resolution, cache, builder


def vendor_requirements(checked: CheckedSource, profile: TargetProfile, options: BuildOptions,
                        progress: Progress) -> VendorOutput:
    reqs = load_requirements(checked, options)
    resolution, cache, builder = resolve_for(reqs, profile, options, progress)
    wheels = fetch(resolution.pins, profile, index=options.index, cache=cache, build_sdist=builder,
                   wheelhouses=[Path(w) for w in options.wheelhouses], progress=progress)
    if wheels:
        progress("vendor", f"installing {len(wheels)} distribution(s) into vendor/")
    segments: list[Segment] = []
    vendored: list[VendoredDist] = []
    owner: dict[str, str] = {}
    for w in wheels:
        dist = install_wheel(w.path)
        for e in dist.entries:
            if e.path in owner and not e.path.endswith("/__init__.py"):
                raise ArtifactError(
                    f"{dist.name} and {owner[e.path]} both install {e.path}", where=e.path,
                    hint="two distributions overwrite each other; drop one of them",
                )
            owner.setdefault(e.path, dist.name)
        entries = tuple(e for e in dist.entries if owner[e.path] == dist.name)
        segments.append(Segment(f"vendor:{w.pin.name}", entries))
        vendored.append(VendoredDist(
            name=w.pin.name, version=w.pin.version, wheel=w.path.name, wheel_sha256=w.sha256,
            files=len(entries), size=sum(len(e.data) for e in entries), built_from_sdist=w.built_from_sdist,
        ))
    return VendorOutput(
        segments=tuple(segments),
        vendored=tuple(vendored),
        skipped=resolution.skipped,
        requirements={
            "file": reqs.path,
            "locked": resolution.from_lock,
            "lock_digest": resolution.digest,
        },
        warnings=resolution.warnings,
    )
