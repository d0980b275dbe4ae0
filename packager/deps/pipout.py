"""pip's console output, read: its warnings, its conflict causes, and who asked for what.

The resolver runs pip without ``--quiet`` so that nothing pip says is lost:
warnings ("does not provide the extra", yanked files, ...) become build
warnings, and a conflict can be explained from the user's file, line and the
chain of requirements that leads to the conflicting pin.
"""

from __future__ import annotations

import re
from typing import Optional

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import NormalizedName, canonicalize_name

from packager.records import record

#: Prefix of warnings about the build machine's pip settings, not about the packages.
MACHINE_WARNING = "pip (build machine): "
_WARNING = re.compile(r"^WARNING: (.*)$")
_IGNORED_LOCATION = re.compile(r"^Location '[^']*' is ignored: ")
_USER = re.compile(r"^The user requested( \(constraint\))? (.+)$")
_DEPENDS = re.compile(r"^(\S+) (\S+) depends on (.+)$")
_COLLECTING = re.compile(r"^(?:Collecting|Processing) (\S+)(.*)$")
_FROM = re.compile(r"\(from (.*)\)$")
_LINE = re.compile(r"\(line (\d+)\)")


def pip_warnings(output: str) -> list[str]:
    """pip's WARNING lines (with a yank reason that follows), deduplicated, in order.

    "Location '…' is ignored" repeats once per project for a configured index
    that does not exist: it is reported once, with how often it occurred.
    """
    out: list[str] = []
    ignored: list[str] = []
    lines = output.splitlines()
    for i, line in enumerate(lines):
        m = _WARNING.match(line.strip())
        if not m:
            continue
        text = m.group(1).strip()
        if _IGNORED_LOCATION.match(text):
            ignored.append(text)
            continue
        nxt = lines[i + 1].strip() if i + 1 < len(lines) else ""
        if nxt.startswith("Reason for being yanked"):
            text += f" ({nxt})"
        if text not in out:
            out.append(text)
    if ignored:
        out.append(MACHINE_WARNING + ignored[0]
                   + (f" (and {len(ignored) - 1} more like it)" if len(ignored) > 1 else ""))
    return [t if t.startswith(MACHINE_WARNING) else f"pip: {t}" for t in out]


def _requirement(text: str) -> Optional[Requirement]:
    try:  # pip writes "botocore<1.36.0 and >=1.35.0" in conflict causes
        return Requirement(text.replace(" and ", ","))
    except InvalidRequirement:
        return None


@record
class Cause:
    """One line of pip's "The conflict is caused by:" list."""

    requirement: Requirement
    #: The distribution that depends on it (name, version); None when the user (or a constraint) asked.
    parent: Optional[tuple[NormalizedName, str]]
    constraint: bool = False

    @property
    def name(self) -> NormalizedName:
        return canonicalize_name(self.requirement.name)


def conflict_causes(output: str) -> list[Cause]:
    """The causes pip lists for a ResolutionImpossible, parsed."""
    causes: list[Cause] = []
    grab = False
    for raw in output.splitlines():
        line = raw.strip()
        if line.startswith("The conflict is caused by"):
            grab = True
            continue
        if not grab:
            continue
        if not line or line.startswith(("To fix this", "Additional", "ERROR")):
            grab = False
            continue
        user = _USER.match(line)
        if user:
            req = _requirement(user.group(2))
            if req is not None:
                causes.append(Cause(req, None, constraint=bool(user.group(1))))
            continue
        dep = _DEPENDS.match(line)
        if dep:
            req = _requirement(dep.group(3))
            if req is not None:
                causes.append(Cause(req, (canonicalize_name(dep.group(1)), dep.group(2))))
    return causes


@record
class Origin:
    """Where pip says a distribution came from: the chain of requirements and the requirements-file line."""

    requirement: str
    #: ancestors' requirement strings, the user's own first
    ancestors: tuple[str, ...]
    line: Optional[int]

    def chain(self) -> list[str]:
        return [*self.ancestors, self.requirement]

    @property
    def root(self) -> str:
        """The name of the user's requirement the chain starts from."""
        first = self.chain()[0]
        req = _requirement(first)
        return canonicalize_name(req.name) if req is not None else first


def _name_of(spec: str) -> Optional[tuple[NormalizedName, str]]:
    """(name, display) of a "Collecting"/"Processing" subject: a requirement or a wheel path."""
    if spec.endswith(".whl"):
        parts = spec.rsplit("/", 1)[-1].split("-")
        return (canonicalize_name(parts[0]), f"{parts[0]}=={parts[1]}") if len(parts) >= 2 else None
    req = _requirement(spec)
    return (canonicalize_name(req.name), spec) if req is not None else None


def origins(output: str) -> dict[NormalizedName, Origin]:
    """For each distribution pip collected, the chain that asked for it (pip's "(from a->b->-r f (line N))")."""
    out: dict[NormalizedName, Origin] = {}
    for raw in output.splitlines():
        m = _COLLECTING.match(raw.strip())
        if not m:
            continue
        named = _name_of(m.group(1))
        if named is None or named[0] in out:
            continue
        source = _FROM.search(m.group(2))
        chain = [c.strip() for c in (source.group(1) if source else "").split("->") if c.strip()]
        line: Optional[int] = None
        if chain and chain[-1].startswith("-r "):
            found = _LINE.search(chain.pop())
            line = int(found.group(1)) if found else None
        out[named[0]] = Origin(named[1], tuple(reversed(chain)), line)
    return out
