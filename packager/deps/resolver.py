"""The resolver backends' interface: what a resolution is asked (:class:`ResolveRequest`), what it
answers (a :class:`~packager.deps.record.ResolutionRecord`), and the inputs both backends write.

The backends are :class:`~packager.deps.pipresolve.PipResolver` and
:class:`~packager.deps.uvresolve.UvResolver`; :func:`packager.deps.backends.choose_resolver`
picks one for ``--resolver pip|uv|auto``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from packager.cache import Cache
from packager.deps.indexconfig import IndexConfig
from packager.deps.profile import TargetProfile
from packager.deps.record import ResolutionRecord
from packager.deps.requirements import Requirements
from packager.records import record

Progress = Callable[[str, str], None]
#: Builds a wheel from the sdist of a requirement string; returns the wheel's path.
SdistBuilder = Callable[[str], Path]
MAX_SDIST_ROUNDS = 10


def _nothing() -> None:
    return None


@record
class ResolveRequest:
    """One resolution to make: the user's requirements for a target, the image's pins as constraints."""

    reqs: Requirements
    profile: TargetProfile
    index: IndexConfig
    cache: Cache
    #: preinstalled names vendored anyway (not constrained to the image's pin)
    vendor_anyway: frozenset[str]
    build_sdist: SdistBuilder
    progress: Progress
    #: called just before a resolver's subprocess starts
    launching: Callable[[], None] = _nothing


class Resolver(Protocol):
    """A resolver backend: exact pins for the request, or a clear error (never a partial answer)."""

    def resolve(self, request: ResolveRequest) -> ResolutionRecord:
        ...


def constraints_text(profile: TargetProfile, vendor_anyway: frozenset[str]) -> str:
    return "".join(f"{n}=={v}\n" for n, v in sorted(profile.preinstalled.items()) if n not in vendor_anyway)


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
