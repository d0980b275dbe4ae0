"""Conflict messages: a requirement against the image's pins, or pip's conflict, told from the user's files.

Each error names the file and line of the user's requirement, the chain that led to the
conflicting one, the image's pin, and the way out (``--vendor-anyway``, a relaxed version).
"""

from __future__ import annotations

from typing import Optional

from packaging.utils import NormalizedName

from packager.deps.pipout import Cause, Origin
from packager.deps.profile import TargetProfile
from packager.deps.requirements import RequirementLine, Requirements
from packager.errors import ResolveError


def image_name(profile: TargetProfile) -> str:
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
        f"{line.requirement} conflicts with {line.name}=={pin} preinstalled on {image_name(profile)}",
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


def chain(cause: Cause, found: dict[NormalizedName, Origin]) -> str:
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
            f"{chain(c, found)} conflicts with {pin} preinstalled on {image_name(profile)}",
            where=f"{reqs.path}:{line}" if line else reqs.path,
            hint=(f"choose a version of {root} that accepts {pin}, or pass --vendor-anyway {root}: it vendors "
                  f"{root} with the {c.name} it needs, each shadowing the image's copy"),
            details={"chain": chain(c, found), "preinstalled": pin},
        )
    told: list[str] = []
    where = reqs.path
    for c in causes:
        if c.parent is not None:
            _, line = _root(c, found)
            told.append(chain(c, found) + (f" ({reqs.path}:{line})" if line else ""))
        else:
            origin = found.get(c.name)
            line = origin.line if origin and not c.constraint else None
            told.append(f"{c.requirement} (" + ("the image's pin" if c.constraint else
                                                  f"{reqs.path}:{line}" if line else "requested") + ")")
        if line and where == reqs.path:
            where = f"{reqs.path}:{line}"
    return ResolveError("requirements conflict for the target:\n" + ("\n".join(told) or fallback),
                        where=where, hint="relax one of the conflicting requirements")
