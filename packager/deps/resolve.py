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
from typing import Any

from packaging.utils import NormalizedName, canonicalize_name

from packager import __version__
from packager.artifact.manifest import SkippedDist
from packager.cache import Cache, atomic_bytes, cache_key
from packager.deps.indexes import diagnose, redact_text, saw_no_versions
from packager.deps.piprun import (
    IndexConfig,
    conflict_text,
    last_error,
    missing_distribution,
    run_pip,
    target_args,
)
from packager.deps.profile import TargetProfile
from packager.deps.requirements import Requirements
from packager.errors import ResolveError

Progress = Callable[[str, str], None]
#: Builds a wheel from the sdist of a requirement string; returns the wheel's path.
SdistBuilder = Callable[[str], Path]
MAX_SDIST_ROUNDS = 10


@dataclass(frozen=True)
class Pin:
    """One distribution to vendor, at one version, with the hashes it may have."""

    name: NormalizedName
    version: str
    hashes: tuple[str, ...] = ()
    requested: bool = False
    #: Where the resolver found the file (absent for locks); the fetch stage may download it directly.
    url: str = ""


@dataclass(frozen=True)
class Resolution:
    pins: tuple[Pin, ...]
    skipped: tuple[SkippedDist, ...]
    from_lock: bool
    digest: str
    warnings: tuple[str, ...] = ()


def _image(profile: TargetProfile) -> str:
    return profile.image or profile.name


def check_preinstalled(reqs: Requirements, profile: TargetProfile, vendor_anyway: frozenset[str]) -> None:
    """A direct requirement the image's pin does not satisfy is a conflict, named with its way out."""
    for line in reqs.for_target(profile.markers):
        pin = profile.preinstalled.get(line.name)
        if pin is None or line.name in vendor_anyway:
            continue
        if not line.requirement.specifier.contains(pin, prereleases=True):
            raise ResolveError(
                f"{line.requirement} conflicts with {line.name}=={pin} preinstalled on {_image(profile)}",
                where=f"{reqs.path}:{line.line}",
                hint=(
                    f"accept {line.name}=={pin} (e.g. `{line.name}>={pin}` or no version), or pass "
                    f"--vendor-anyway {line.name} to vendor your version; it will shadow the image's copy"
                ),
                details={"requirement": str(line.requirement), "preinstalled": f"{line.name}=={pin}"},
            )


def _skip(name: NormalizedName, version: str, requested: bool, profile: TargetProfile) -> SkippedDist:
    why = "requested" if requested else "dependency"
    return SkippedDist(name, version, f"preinstalled on {_image(profile)} ({why})")


def from_lock(reqs: Requirements, profile: TargetProfile, vendor_anyway: frozenset[str]) -> Resolution:
    """Take a lock as-is: no resolution, hashes required."""
    pins: list[Pin] = []
    skipped: list[SkippedDist] = []
    for line in reqs.for_target(profile.markers):
        version = line.pinned_version
        assert version is not None
        pre = profile.preinstalled.get(line.name)
        if pre is not None and line.name not in vendor_anyway:
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


def _pip_resolve(reqs: Requirements, profile: TargetProfile, index: IndexConfig, cache: Cache,
                 vendor_anyway: frozenset[str], build_sdist: SdistBuilder, progress: Progress) -> dict[str, Any]:
    lines = [str(r.requirement) for r in reqs.for_target(profile.markers)]
    with tempfile.TemporaryDirectory(prefix="ignite-resolve-") as tmp:
        work = Path(tmp)
        (work / "requirements.in").write_text("\n".join(lines) + "\n", "utf-8")
        (work / "constraints.txt").write_text(constraints_text(profile, vendor_anyway), "utf-8")
        args = ["install", "--dry-run", "--ignore-installed", "--quiet", "--report", str(work / "report.json"),
                "-r", str(work / "requirements.in"), "-c", str(work / "constraints.txt"),
                *target_args(profile), *index.pip_args(), "--find-links", str(cache.built),
                "--find-links", str(ensure_stubs(profile, cache))]
        tried: set[str] = set()
        for _ in range(MAX_SDIST_ROUNDS):
            progress("resolve", f"resolving {len(lines)} requirement(s) for {profile.name}")
            res = run_pip("pip", args, profile)
            if res.returncode == 0:
                report = json.loads((work / "report.json").read_text("utf-8"))
                return {"install": [
                    {
                        "name": item["metadata"]["name"],
                        "version": item["metadata"]["version"],
                        "requested": bool(item.get("requested")),
                        "url": item.get("download_info", {}).get("url", ""),
                        "hashes": sorted(
                            f"{k}:{v}" for k, v in
                            item.get("download_info", {}).get("archive_info", {}).get("hashes", {}).items()
                            if k == "sha256"
                        ),
                    }
                    for item in report.get("install", [])
                ]}
            missing = missing_distribution(res.stderr)
            if not index.offline and ((missing and saw_no_versions(res.stderr)) or
                                      (not missing and not conflict_text(res.stderr))):
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
            conflict = conflict_text(res.stderr)
            if conflict:
                involved = sorted(n for n in profile.preinstalled if n in conflict.lower())
                hint = "relax the conflicting requirement"
                if involved:
                    hint += (f"; {', '.join(involved)} {'is' if len(involved) == 1 else 'are'} preinstalled "
                             f"on {_image(profile)} and pinned: accept that version or pass "
                             f"--vendor-anyway {involved[0]}")
                raise ResolveError("requirements conflict for the target:\n" + conflict,
                                   where=reqs.path, hint=hint)
            if missing:
                raise ResolveError(
                    f"no distribution of {missing[0]} for CPython {profile.python_version} "
                    f"{', '.join(profile.platforms[:1])}" + (" in the offline cache/wheelhouse" if index.offline else ""),
                    where=reqs.path,
                    hint=("run once online to fill the cache, or pass --wheelhouse DIR" if index.offline else
                          "check the name and version; the package may not exist or may not support the target"),
                )
            raise ResolveError("resolution failed:\n" + redact_text(last_error(res.stderr)), where=reqs.path,
                               hint="run with the same requirements through pip to see the full log")
    raise ResolveError("resolution did not converge after building sdists", where=reqs.path)


def resolve(
    reqs: Requirements,
    profile: TargetProfile,
    *,
    index: IndexConfig,
    cache: Cache,
    build_sdist: SdistBuilder,
    vendor_anyway: frozenset[str] = frozenset(),
    refresh: bool = False,
    progress: Progress = lambda s, m: None,
) -> Resolution:
    """Exact pins for the target; preinstalled dists are skipped and recorded."""
    vendor_anyway = frozenset(canonicalize_name(n) for n in vendor_anyway)
    anyway: frozenset[NormalizedName] = frozenset(canonicalize_name(n) for n in vendor_anyway)
    warnings = tuple(
        f"{n} is vendored and will shadow {n}=={profile.preinstalled[n]} preinstalled on {_image(profile)}"
        for n in sorted(anyway) if n in profile.preinstalled
    )
    check_preinstalled(reqs, profile, vendor_anyway)
    if reqs.is_lock:
        r = from_lock(reqs, profile, vendor_anyway)
        return Resolution(r.pins, r.skipped, True, r.digest, warnings)
    key = cache_key("resolution", __version__, reqs.digest, profile.digest, index.key(), sorted(vendor_anyway))
    data: Any = None if refresh else cache.get_json("resolutions", key)
    if data is None:
        data = _pip_resolve(reqs, profile, index, cache, vendor_anyway, build_sdist, progress)
        cache.put_json("resolutions", key, data)
    else:
        progress("resolve", "resolution from cache")
    pins: list[Pin] = []
    skipped: list[SkippedDist] = []
    for item in data["install"]:
        name = canonicalize_name(item["name"])
        if name in profile.preinstalled and name not in vendor_anyway:
            skipped.append(_skip(name, item["version"], item["requested"], profile))
        else:
            pins.append(Pin(name, item["version"], tuple(item["hashes"]), item["requested"], item.get("url", "")))
    reached = {s.name for s in skipped}
    for name in profile.preinstalled_closure(reached):
        if name not in reached and name not in anyway:
            skipped.append(SkippedDist(name, profile.preinstalled[name],
                                       f"preinstalled on {_image(profile)} (pulled in by the image's own packages)"))
    digest = cache_key([(p.name, p.version, p.hashes) for p in sorted(pins, key=lambda p: p.name)])
    return Resolution(tuple(sorted(pins, key=lambda p: p.name)), tuple(sorted(skipped, key=lambda s: s.name)),
                      False, digest, warnings)
