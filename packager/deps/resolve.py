"""Resolve: requirements -> exact pins for the target, the image's closure left out.

Resolution runs a resolver backend (:mod:`packager.deps.backends`: pip's resolver
for the target, tags via ``--platform`` etc., markers via :mod:`packager.deps._pipshim`,
or uv where it may stand in for pip) with the preinstalled pins as constraints, so a
vendored package always agrees with the image. A lock skips resolution entirely.
Results are cached (a :class:`~packager.deps.record.ResolutionRecord`) by
requirements + profile + index.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from packaging.utils import NormalizedName, canonicalize_name

from packager import __version__
from packager.cache import Cache, cache_key
from packager.deps.conflicts import direct_conflict_error, direct_conflicts, image_name
from packager.deps.indexconfig import IndexConfig
from packager.deps.profile import TargetProfile
from packager.deps.record import RESOLUTION_FORMAT, ResolutionRecord
from packager.deps.requirements import RequirementLine, Requirements
from packager.deps.resolver import Progress, ResolveRequest, SdistBuilder
from packager.errors import IgniteError, RequirementsError, ResolveError
from packager.records import record

if TYPE_CHECKING:
    # (imported where a skip is made: the manifest's module is ~4 ms of imports that would
    # otherwise come before the resolver's subprocess starts)
    from packager.artifact.manifest import SkippedDist


@record
class Pin:
    """One distribution to vendor, at one version, with the hashes it may have."""

    name: NormalizedName
    version: str
    hashes: tuple[str, ...] = ()
    requested: bool = False
    #: Where the resolver found the file (absent for locks); the fetch stage may download it directly.
    url: str = ""
    #: The sha256 of the sdist the cache built this pin's wheel from ("" when it is a published wheel):
    #: a wheel lost from the cache is rebuilt from that sdist, never refused as a hash mismatch.
    from_sdist: str = ""


@record
class Shadow:
    """A preinstalled distribution vendored at another version: the function sees it, not the image's."""

    name: NormalizedName
    version: str
    image_version: str
    #: "--vendor-anyway", or the requirement chain that forced the move ("boto3==1.35.0 → botocore<1.36")
    why: str

    def to_dict(self) -> dict[str, str]:
        return {"name": self.name, "version": self.version, "image_version": self.image_version, "why": self.why}


@record
class Resolution:
    pins: tuple[Pin, ...]
    skipped: tuple[SkippedDist, ...]
    from_lock: bool
    digest: str
    warnings: tuple[str, ...] = ()
    shadowed: tuple[Shadow, ...] = ()


def _skip(name: NormalizedName, version: str, requested: bool, profile: TargetProfile, why: str = "") -> SkippedDist:
    from packager.artifact.manifest import SkippedDist

    why = why or ("requested" if requested else "dependency")
    return SkippedDist(name, version, f"preinstalled on {image_name(profile)} ({why})")


def check_lock_target(reqs: Requirements, profile: TargetProfile) -> None:
    """A lock is per target: one made for another profile would vendor the wrong wheels."""
    if reqs.profile and reqs.profile != profile.name:
        raise RequirementsError(
            f"the lock was made for target {reqs.profile!r}, but this build is for {profile.name!r} "
            f"(CPython {profile.python_version} {profile.machine})",
            where=reqs.path,
            hint=(f"build with --profile {reqs.profile}, or make a lock for this target with "
                  f"`ignite-pack lock --profile {profile.name} -o requirements-{profile.name}.lock` "
                  "and pass it with --lock"),
            details={"lock_profile": reqs.profile, "profile": profile.name},
        )


def from_lock(reqs: Requirements, profile: TargetProfile, vendor_anyway: frozenset[str]) -> Resolution:
    """Take a lock as-is: no resolution, hashes required."""
    check_lock_target(reqs, profile)
    pins: list[Pin] = []
    skipped: list[SkippedDist] = []
    for line in reqs.for_target(profile.markers):
        version = line.pinned_version
        assert version is not None
        pre = profile.preinstalled.get(line.name)
        if pre is not None and line.name not in vendor_anyway:
            if pre != version and vendor_anyway:
                # Made by `ignite-pack lock --vendor-anyway`: a member that had to move along.
                pins.append(Pin(line.name, version, line.hashes, True))
                continue
            if pre != version:
                raise ResolveError(
                    f"the lock pins {line.name}=={version} but {image_name(profile)} preinstalls {line.name}=={pre}",
                    where=f"{reqs.path}:{line.line}",
                    hint=f"re-create the lock with `ignite-pack lock`, or pass --vendor-anyway {line.name}",
                )
            skipped.append(_skip(line.name, version, True, profile))
            continue
        pins.append(Pin(line.name, version, line.hashes, True))
    for name, version in reqs.preinstalled:
        pre = profile.preinstalled.get(canonicalize_name(name))
        if pre != version:
            raise ResolveError(
                f"the lock was made for {name}=={version} preinstalled, but {image_name(profile)} has "
                f"{name}=={pre}", where=reqs.path, hint="re-create the lock with `ignite-pack lock`",
            )
        skipped.append(_skip(canonicalize_name(name), version, False, profile))
    return Resolution(tuple(sorted(pins, key=lambda p: p.name)), tuple(sorted(skipped, key=lambda s: s.name)),
                      True, reqs.digest)


def _once(fn: Callable[[], None]) -> Callable[[], None]:
    done: list[bool] = []

    def call() -> None:
        if not done:
            done.append(True)
            fn()
    return call


def shadow_warning(s: Shadow, profile: TargetProfile) -> str:
    why = "" if s.why == "--vendor-anyway" else f" (it must move along: {s.why})"
    return (f"{s.name} {s.version} is vendored and will shadow {s.name}=={s.image_version} preinstalled on "
            f"{image_name(profile)}{why}")


def _explain_direct(reqs: Requirements, profile: TargetProfile, vendor_anyway: frozenset[str],
                    conflicts: list[tuple[RequirementLine, str]], trial: Callable[[frozenset[str]], Resolution],
                    progress: Progress) -> ResolveError:
    """The direct conflict's error, with what ``--vendor-anyway NAME`` would move (a trial resolution)."""
    line, pin = conflicts[0]
    error = direct_conflict_error(reqs, profile, line, pin)
    names = frozenset(c.name for c, _ in conflicts)
    progress("resolve", f"checking what --vendor-anyway {' '.join(sorted(names))} would vendor")
    try:
        result = trial(vendor_anyway | names)
    except IgniteError as blocked:  # a conflict, no distribution, an sdist that fails, an index down
        error.hint = (f"accept {line.name}=={pin}; --vendor-anyway {line.name} cannot help: "
                      f"{blocked.where + ': ' if blocked.where else ''}{blocked.message}")
        return error
    others = [s for s in result.shadowed if s.name not in names]
    if others:
        error.message += "; your version also needs " + "; ".join(
            f"{s.why} (the image has {s.name}=={s.image_version})" for s in others)
    brings = ", ".join(f"{s.name} {s.version}" for s in result.shadowed)
    error.hint = (f"accept {line.name}=={pin} (e.g. `{line.name}>={pin}` or no version), or pass "
                  f"--vendor-anyway {line.name}: it vendors {brings}, each shadowing the image's copy")
    error.details["moves"] = [s.to_dict() for s in result.shadowed]
    return error


def resolve(
    reqs: Requirements,
    profile: TargetProfile,
    *,
    index: IndexConfig,
    cache: Cache,
    build_sdist: SdistBuilder,
    vendor_anyway: frozenset[str] = frozenset(),
    refresh: bool = False,
    resolver: str = "auto",
    progress: Progress = lambda s, m: None,
    on_resolving: Callable[[], None] = lambda: None,
) -> Resolution:
    """Exact pins for the target; preinstalled dists are skipped and recorded.

    ``vendor_anyway`` names are vendored although the image has them, with the
    part of their closure that must differ from the image's pins (each one a
    :class:`Shadow`, warned about).
    """
    check_lock_target(reqs, profile)
    vendor_anyway = frozenset(canonicalize_name(n) for n in vendor_anyway)
    # (A lock's pins are checked against the image by from_lock.)
    conflicts = [] if reqs.is_lock else direct_conflicts(reqs, profile, vendor_anyway)
    if conflicts:
        raise _explain_direct(reqs, profile, vendor_anyway, conflicts, lambda names: resolve(
            reqs, profile, index=index, cache=cache, build_sdist=build_sdist, vendor_anyway=names,
            refresh=refresh, resolver=resolver, progress=progress, on_resolving=on_resolving), progress)
    if reqs.is_lock:
        r = from_lock(reqs, profile, vendor_anyway)
        locked = tuple(Shadow(p.name, p.version, profile.preinstalled[p.name], "--vendor-anyway")
                       for p in r.pins if p.name in profile.preinstalled)
        return Resolution(r.pins, r.skipped, True, r.digest, tuple(shadow_warning(s, profile) for s in locked),
                          locked)
    key = cache_key("resolution", RESOLUTION_FORMAT, __version__, reqs.digest, profile.digest, index.key(),
                    sorted(vendor_anyway))
    record = None if refresh else ResolutionRecord.from_json(cache.get_json("resolutions", key))
    if record is None:
        # Called just before the resolver's subprocess starts (once): downloads will follow,
        # and the caller may get ready for them (and do its own imports) meanwhile.
        launching = _once(on_resolving)
        # (the backends, pip's and uv's, are ~9 ms of import that a cached resolution never needs)
        from packager.deps.backends import choose_resolver

        backend = choose_resolver(resolver, index, progress)
        record = backend.resolve(ResolveRequest(reqs, profile, index, cache, vendor_anyway, build_sdist, progress,
                                                launching))
        record = record.by_cache_key(cache)
        cache.put_json("resolutions", key, record.to_json())
    else:
        progress("resolve", "resolution from cache")
    moved = record.moved_map
    pins: list[Pin] = []
    skipped: list[SkippedDist] = []
    shadowed: list[Shadow] = []
    for item in record.dists:
        name = item.name
        image_version = profile.preinstalled.get(name)
        if image_version is not None and (name not in vendor_anyway | frozenset(moved)
                                          or (name in moved and item.version == image_version)):
            skipped.append(_skip(name, item.version, item.requested, profile))
            continue
        pins.append(Pin(name, item.version, item.hashes, item.requested, item.url, item.from_sdist))
        if image_version is not None:
            shadowed.append(Shadow(name, item.version, image_version, moved.get(name, "--vendor-anyway")))
    vendored = {p.name for p in pins}
    reached = {s.name for s in skipped}
    for name in profile.preinstalled_closure(reached):
        if name not in reached and name not in vendored:
            skipped.append(_skip(name, profile.preinstalled[name], False, profile,
                               why="pulled in by the image's own packages"))
    warnings = [*record.warnings, *(shadow_warning(s, profile) for s in shadowed)]
    for s in shadowed:  # image packages that stay but import a shadowed one
        users = sorted(n for n, deps in profile.preinstalled_requires.items() if s.name in deps and n not in vendored)
        if users:
            warnings.append(f"the image's {', '.join(users)} {'uses' if len(users) == 1 else 'use'} {s.name}: "
                            f"{'it' if len(users) == 1 else 'they'} will import the vendored {s.name} {s.version}")
    # The digest of an unlocked resolution is its pins' names and versions: each vendored file's
    # sha256 is in the manifest already, and the hashes a resolver reports for an sdist-built pin
    # include wheels built on this machine (which backend answered, which wheel cache it saw), so
    # with them the same source gave another lock_digest from run to run (seen in CI).
    digest = cache_key([(p.name, p.version) for p in sorted(pins, key=lambda p: p.name)])
    return Resolution(tuple(sorted(pins, key=lambda p: p.name)), tuple(sorted(skipped, key=lambda s: s.name)),
                      False, digest, tuple(warnings),
                      tuple(sorted(shadowed, key=lambda s: (s.why != "--vendor-anyway", s.name))))
