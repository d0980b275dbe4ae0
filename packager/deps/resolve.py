"""Resolve: requirements -> exact pins for the target, the image's closure left out.

Resolution runs pip's resolver for the target (tags via ``--platform`` etc.,
markers via :mod:`packager.deps._pipshim`) with the preinstalled pins as
constraints, so a vendored package always agrees with the image. A lock skips
resolution entirely. Results are cached by requirements + profile + index.
"""

from __future__ import annotations

import io
import json
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from packaging.utils import NormalizedName, canonicalize_name

from packager import __version__
from packager.artifact.manifest import SkippedDist
from packager.cache import Cache, atomic_bytes, cache_key
from packager.deps.indexes import diagnose, saw_no_versions
from packager.deps.pipout import Cause, Origin, conflict_causes, origins, pip_warnings
from packager.deps.piprun import (
    IndexConfig,
    conflict_text,
    last_error,
    missing_distribution,
    run_pip,
    target_args,
)
from packager.deps.profile import TargetProfile
from packager.deps.record import RESOLUTION_FORMAT, ResolutionRecord, ResolvedDist
from packager.deps.requirements import RequirementLine, Requirements
from packager.deps.uvresolve import choose, uv_resolve
from packager.errors import IgniteError, RequirementsError, ResolveError, redact

Progress = Callable[[str, str], None]
#: Builds a wheel from the sdist of a requirement string; returns the wheel's path.
SdistBuilder = Callable[[str], Path]
MAX_SDIST_ROUNDS = 10
#: Rounds of moving a pinned package along with a --vendor-anyway one (one conflict per pip run).
MAX_MOVE_ROUNDS = 12


@dataclass(frozen=True)
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


@dataclass(frozen=True)
class Shadow:
    """A preinstalled distribution vendored at another version: the function sees it, not the image's."""

    name: NormalizedName
    version: str
    image_version: str
    #: "--vendor-anyway", or the requirement chain that forced the move ("boto3==1.35.0 → botocore<1.36")
    why: str

    def to_dict(self) -> dict[str, str]:
        return {"name": self.name, "version": self.version, "image_version": self.image_version, "why": self.why}


@dataclass(frozen=True)
class Resolution:
    pins: tuple[Pin, ...]
    skipped: tuple[SkippedDist, ...]
    from_lock: bool
    digest: str
    warnings: tuple[str, ...] = ()
    shadowed: tuple[Shadow, ...] = ()


def _image(profile: TargetProfile) -> str:
    return profile.image or profile.name


def direct_conflicts(reqs: Requirements, profile: TargetProfile,
                     vendor_anyway: frozenset[str]) -> list[tuple[RequirementLine, str]]:
    """The user's requirements that the image's pin does not satisfy, with that pin."""
    out: list[tuple[RequirementLine, str]] = []
    for line in reqs.for_target(profile.markers):
        pin = profile.preinstalled.get(line.name)
        if pin is not None and line.name not in vendor_anyway \
                and not line.requirement.specifier.contains(pin, prereleases=True):
            out.append((line, pin))
    return out


def direct_conflict_error(reqs: Requirements, profile: TargetProfile, line: RequirementLine, pin: str) -> ResolveError:
    return ResolveError(
        f"{line.requirement} conflicts with {line.name}=={pin} preinstalled on {_image(profile)}",
        where=f"{reqs.path}:{line.line}",
        hint=(
            f"accept {line.name}=={pin} (e.g. `{line.name}>={pin}` or no version), or pass "
            f"--vendor-anyway {line.name} to vendor your version; it will shadow the image's copy"
        ),
        details={"requirement": str(line.requirement), "preinstalled": f"{line.name}=={pin}"},
    )


def check_preinstalled(reqs: Requirements, profile: TargetProfile, vendor_anyway: frozenset[str]) -> None:
    """A direct requirement the image's pin does not satisfy is a conflict, named with its way out."""
    for line, pin in direct_conflicts(reqs, profile, vendor_anyway)[:1]:
        raise direct_conflict_error(reqs, profile, line, pin)


def _skip(name: NormalizedName, version: str, requested: bool, profile: TargetProfile) -> SkippedDist:
    why = "requested" if requested else "dependency"
    return SkippedDist(name, version, f"preinstalled on {_image(profile)} ({why})")


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
                    f"the lock pins {line.name}=={version} but {_image(profile)} preinstalls {line.name}=={pre}",
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
                f"the lock was made for {name}=={version} preinstalled, but {_image(profile)} has "
                f"{name}=={pre}", where=reqs.path, hint="re-create the lock with `ignite-pack lock`",
            )
        skipped.append(_skip(canonicalize_name(name), version, False, profile))
    return Resolution(tuple(sorted(pins, key=lambda p: p.name)), tuple(sorted(skipped, key=lambda s: s.name)),
                      True, reqs.digest)


def constraints_text(profile: TargetProfile, vendor_anyway: frozenset[str]) -> str:
    return "".join(f"{n}=={v}\n" for n, v in sorted(profile.preinstalled.items()) if n not in vendor_anyway)


STUB_BUILD_TAG = "0ignite"


def stub_metadata(profile: TargetProfile, name: NormalizedName, version: str) -> str:
    """The METADATA of a stub: name, version and the distribution's real extras.

    Its base dependencies are left out (the closure is pinned as a whole), but
    each extra keeps its Requires-Dist lines: ``pydantic[email]`` must still
    pull email-validator into the resolution while pydantic stays the image's.
    """
    extras = profile.preinstalled_extras.get(name, {})
    lines = ["Metadata-Version: 2.1", f"Name: {name}", f"Version: {version}"]
    lines += [f"Provides-Extra: {e}" for e in sorted(extras)]
    lines += [f"Requires-Dist: {r}" for r in dict.fromkeys(r for e in sorted(extras) for r in extras[e])]
    return "\n".join(lines) + "\n"


def ensure_stubs(profile: TargetProfile, cache: Cache) -> Path:
    """Metadata-only wheels standing for the preinstalled pins.

    A stub declares the distribution's extras but no base dependencies (see
    :func:`stub_metadata`). Tagged with the target's best tag plus a build tag, a stub
    wins pip's tie-break against the real wheel of the same version: resolution
    never downloads numpy or pandas just to learn what the image already has,
    and works offline. Stubs are never installed: preinstalled pins are skipped.
    """
    stubs = cache.root / "stubs" / profile.digest[:16]
    tag = f"{profile.implementation}{profile.python_version.replace('.', '')}-{profile.abi}-{profile.platforms[0]}"
    for name, version in profile.preinstalled.items():
        dist = name.replace("-", "_")
        path = stubs / f"{dist}-{version}-{STUB_BUILD_TAG}-{tag}.whl"
        if path.is_file():
            continue
        info = f"{dist}-{version}.dist-info"
        files = {
            f"{info}/METADATA": stub_metadata(profile, name, version),
            f"{info}/WHEEL": f"Wheel-Version: 1.0\nGenerator: ignite-pack\nRoot-Is-Purelib: false\nTag: {tag}\nBuild: {STUB_BUILD_TAG}\n",
            f"{info}/RECORD": "",
        }
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as zf:
            for p, c in files.items():
                zf.writestr(zipfile.ZipInfo(p, date_time=(1980, 1, 1, 0, 0, 0)), c)
        atomic_bytes(path, buf.getvalue())
    return stubs


def requirements_in(reqs: Requirements, profile: TargetProfile) -> str:
    """The target's requirements at their own line numbers: pip's "(line N)" is the user's line N."""
    lines = reqs.for_target(profile.markers)
    slots = [""] * max((line.line for line in lines), default=0)
    for line in lines:
        if slots[line.line - 1]:  # several on one line (a pyproject.toml's `dependencies = ["a", "b"]`)
            slots.append(str(line.requirement))
        else:
            slots[line.line - 1] = str(line.requirement)
    return "\n".join(slots) + "\n"


def _chain(cause: Cause, found: dict[NormalizedName, Origin]) -> str:
    """``boto3==1.35.0 → botocore<1.36.0,>=1.35.0``: from the user's requirement to the conflicting one."""
    assert cause.parent is not None
    origin = found.get(cause.parent[0])
    head = origin.chain() if origin else [f"{cause.parent[0]}=={cause.parent[1]}"]
    return " → ".join([*head, str(cause.requirement)])


def _root(cause: Cause, found: dict[NormalizedName, Origin]) -> tuple[str, Optional[int]]:
    """The user's requirement (its name) at the start of a cause's chain, and its line."""
    assert cause.parent is not None
    origin = found.get(cause.parent[0])
    if origin is None:
        return cause.parent[0], None
    return origin.root, origin.line


def conflict_error(reqs: Requirements, profile: TargetProfile, causes: list[Cause],
                   found: dict[NormalizedName, Origin], fallback: str, moving: frozenset[str]) -> ResolveError:
    """A conflict told from the user's files: file and line, the chain, the pin, the way out."""
    pinned = [c for c in causes if c.parent and c.name in profile.preinstalled and c.name not in moving
              and not c.requirement.specifier.contains(profile.preinstalled[c.name], prereleases=True)]
    if pinned:
        c = pinned[0]
        pin = f"{c.name}=={profile.preinstalled[c.name]}"
        root, line = _root(c, found)
        return ResolveError(
            f"{_chain(c, found)} conflicts with {pin} preinstalled on {_image(profile)}",
            where=f"{reqs.path}:{line}" if line else reqs.path,
            hint=(f"choose a version of {root} that accepts {pin}, or pass --vendor-anyway {root}: it vendors "
                  f"{root} with the {c.name} it needs, each shadowing the image's copy"),
            details={"chain": _chain(c, found), "preinstalled": pin},
        )
    told: list[str] = []
    where = reqs.path
    for c in causes:
        if c.parent is not None:
            _, line = _root(c, found)
            told.append(_chain(c, found) + (f" ({reqs.path}:{line})" if line else ""))
        else:
            origin = found.get(c.name)
            line = origin.line if origin and not c.constraint else None
            told.append(f"{c.requirement} (" + ("the image's pin" if c.constraint else
                                                  f"{reqs.path}:{line}" if line else "requested") + ")")
        if line and where == reqs.path:
            where = f"{reqs.path}:{line}"
    return ResolveError("requirements conflict for the target:\n" + ("\n".join(told) or fallback),
                        where=where, hint="relax one of the conflicting requirements")


def _once(fn: Callable[[], None]) -> Callable[[], None]:
    done: list[bool] = []

    def call() -> None:
        if not done:
            done.append(True)
            fn()
    return call


def _pip_resolve(reqs: Requirements, profile: TargetProfile, index: IndexConfig, cache: Cache,
                 vendor_anyway: frozenset[str], build_sdist: SdistBuilder, progress: Progress,
                 launching: Callable[[], None] = lambda: None) -> ResolutionRecord:
    lines = [str(r.requirement) for r in reqs.for_target(profile.markers)]
    #: pinned packages that must move along with a --vendor-anyway one -> the chain that forced it
    moved: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="ignite-resolve-") as tmp:
        work = Path(tmp)
        req_in = str(work / "requirements.in")
        (work / "requirements.in").write_text(requirements_in(reqs, profile), "utf-8")
        # Not --quiet: pip's warnings are reported, and its "Collecting x (from y)" lines give the chains.
        args = ["install", "--dry-run", "--ignore-installed", "--report", str(work / "report.json"),
                "-r", req_in, "-c", str(work / "constraints.txt"),
                *target_args(profile), *index.pip_args(), "--find-links", str(cache.built),
                "--find-links", str(ensure_stubs(profile, cache))]
        tried: set[str] = set()
        for _ in range(MAX_SDIST_ROUNDS + MAX_MOVE_ROUNDS):
            anyway = vendor_anyway | frozenset(moved)
            (work / "constraints.txt").write_text(constraints_text(profile, anyway), "utf-8")
            progress("resolve", f"resolving {len(lines)} requirement(s) for {profile.name}")
            launching()
            res = run_pip("pip", args, profile)
            output = (res.stdout + "\n" + res.stderr).replace(req_in, reqs.path).replace(str(work), "…")
            if res.returncode == 0:
                report = json.loads((work / "report.json").read_text("utf-8"))
                return ResolutionRecord(tuple(
                    ResolvedDist(
                        canonicalize_name(item["metadata"]["name"]),
                        item["metadata"]["version"],
                        bool(item.get("requested")),
                        tuple(sorted(
                            f"{k}:{v}" for k, v in
                            item.get("download_info", {}).get("archive_info", {}).get("hashes", {}).items()
                            if k == "sha256"
                        )),
                        item.get("download_info", {}).get("url", ""),
                    )
                    for item in report.get("install", [])
                ), tuple(redact(w) for w in pip_warnings(output)), tuple(moved.items()))
            missing = missing_distribution(res.stderr)
            conflict = conflict_text(output)
            if not index.offline and ((missing and saw_no_versions(res.stderr)) or (not missing and not conflict)):
                # pip saw no file at all, or failed otherwise: an index failure (401, down, 5xx, TLS)
                # looks the same in its output, so ask the indexes what happened.
                failure = diagnose([missing[0]] if missing else lines, index, profile, where=reqs.path)
                if failure:
                    raise failure
            if missing and missing[0] not in tried:
                tried.add(missing[0])
                progress("resolve", f"no wheel of {missing[0]} for the target; trying its sdist")
                build_sdist(missing[0])  # raises a clear error if there is no usable sdist
                continue
            if conflict:
                causes = conflict_causes(output)
                found = origins(output)
                # A pinned package that a moving one (--vendor-anyway, or moved already) needs at
                # another version moves too; anything else is the user's conflict to explain.
                movable = [c for c in causes if c.parent and c.parent[0] in anyway and c.name not in anyway
                           and c.name in profile.preinstalled
                           and not c.requirement.specifier.contains(profile.preinstalled[c.name], prereleases=True)]
                if movable:
                    for c in movable:
                        moved.setdefault(c.name, _chain(c, found))
                        progress("resolve", f"{c.name} must move along: {moved[c.name]}")
                    continue
                raise conflict_error(reqs, profile, causes, found, redact(conflict), anyway)
            if missing:
                raise ResolveError(
                    f"no distribution of {missing[0]} for CPython {profile.python_version} "
                    f"{', '.join(profile.platforms[:1])}" + (" in the offline cache/wheelhouse" if index.offline else ""),
                    where=reqs.path,
                    hint=("run once online to fill the cache, or pass --wheelhouse DIR" if index.offline else
                          "check the name and version; the package may not exist or may not support the target"),
                )
            raise ResolveError("resolution failed:\n" + last_error(output), where=reqs.path,
                               hint="run with the same requirements through pip to see the full log")
    raise ResolveError("resolution did not converge after building sdists and moving pinned packages",
                       where=reqs.path)


def _uv_first(reqs: Requirements, profile: TargetProfile, index: IndexConfig, cache: Cache,
              vendor_anyway: frozenset[str], resolver: str, build_sdist: SdistBuilder, progress: Progress,
              launching: Callable[[], None] = lambda: None) -> Optional[ResolutionRecord]:
    """uv's answer when uv may stand in for pip and gives one; None sends the caller to pip.

    When uv says a distribution has no usable wheel, its sdist is built (as the pip path
    would, without first running pip to hear the same) and uv asked again; the same
    distribution twice, or any other failure, goes to pip, which explains it.
    """
    uv, why_not = choose(resolver, index)
    if uv is None:
        if resolver == "auto" and why_not not in ("uv is not installed", "offline"):
            progress("resolve", f"not using uv: {why_not}")
        return None
    lines = reqs.for_target(profile.markers)
    built: set[str] = set()
    for _ in range(MAX_SDIST_ROUNDS):
        progress("resolve", f"resolving {len(lines)} requirement(s) for {profile.name} (uv)")
        answer = uv_resolve(uv, requirements_in(reqs, profile), constraints_text(profile, vendor_anyway),
                            [str(cache.built), str(ensure_stubs(profile, cache))], profile, index, cache.root / "uv",
                            frozenset(line.name for line in lines), launching)
        if answer.data is not None:
            return answer.data
        name = canonicalize_name(answer.needs_sdist) if answer.needs_sdist else None
        if name is None or name in built:
            break
        built.add(name)
        # A direct requirement's versions (docopt<0.6 must not build the latest sdist).
        spec = next((f"{name}{line.requirement.specifier}" for line in lines if line.name == name), name)
        progress("resolve", f"no wheel of {spec} for the target; trying its sdist")
        build_sdist(spec)  # early (before the checks): stops here; no usable sdist: a clear error
    progress("resolve", f"{answer.why_not}; resolving with pip")
    return None


def shadow_warning(s: Shadow, profile: TargetProfile) -> str:
    why = "" if s.why == "--vendor-anyway" else f" (it must move along: {s.why})"
    return (f"{s.name} {s.version} is vendored and will shadow {s.name}=={s.image_version} preinstalled on "
            f"{_image(profile)}{why}")


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
        record = (_uv_first(reqs, profile, index, cache, vendor_anyway, resolver, build_sdist, progress, launching)
                  or _pip_resolve(reqs, profile, index, cache, vendor_anyway, build_sdist, progress, launching))
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
            skipped.append(SkippedDist(name, profile.preinstalled[name],
                                       f"preinstalled on {_image(profile)} (pulled in by the image's own packages)"))
    warnings = [*record.warnings, *(shadow_warning(s, profile) for s in shadowed)]
    for s in shadowed:  # image packages that stay but import a shadowed one
        users = sorted(n for n, deps in profile.preinstalled_requires.items() if s.name in deps and n not in vendored)
        if users:
            warnings.append(f"the image's {', '.join(users)} {'uses' if len(users) == 1 else 'use'} {s.name}: "
                            f"{'it' if len(users) == 1 else 'they'} will import the vendored {s.name} {s.version}")
    digest = cache_key([(p.name, p.version, p.hashes) for p in sorted(pins, key=lambda p: p.name)])
    return Resolution(tuple(sorted(pins, key=lambda p: p.name)), tuple(sorted(skipped, key=lambda s: s.name)),
                      False, digest, tuple(warnings),
                      tuple(sorted(shadowed, key=lambda s: (s.why != "--vendor-anyway", s.name))))
