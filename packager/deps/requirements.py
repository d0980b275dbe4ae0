"""requirements.txt under the upload policy of DESIGN.md §5.

Only ``name[extras] specifier ; marker`` lines and ``--hash`` options are
accepted. Anything that would let an upload choose where code comes from
(indexes, URLs, paths, editable installs, includes) or read the build's
environment (``${VAR}``) is refused with the line number and the reason.
Parsing itself is :mod:`packaging`'s; this module only applies the policy.
"""

from __future__ import annotations

import hashlib
import re
from typing import Optional

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import NormalizedName, canonicalize_name

from packager.errors import RequirementsError, redact
from packager.records import record

MAX_LINE = 4096
#: A logical line (joined with ``\``) may be longer: a lock line lists a hash per file of a
#: release, ~80 characters each, and numpy-like releases publish dozens of files.
MAX_LOGICAL = 256 * 1024
MAX_FILE = 1024 * 1024
_ENV_VAR = re.compile(r"\$\{[^}]*\}|\$[A-Za-z_][A-Za-z0-9_]*")
_PREINSTALLED = re.compile(r"^#\s*preinstalled:\s*([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)", re.MULTILINE)
#: The target a lock was made for: ``# ignite-profile: NAME`` (and the older ``# Lock for NAME (`` header).
_PROFILE = re.compile(r"^#\s*(?:ignite-profile:\s*|Lock for )([A-Za-z0-9][A-Za-z0-9._+-]*)", re.MULTILINE)
_HASH = re.compile(r"--hash[=\s]+(sha256|sha384|sha512):([0-9a-fA-F]+)")
_REFUSED_OPTIONS = {
    "-e": "editable installs are not allowed",
    "--editable": "editable installs are not allowed",
    "-r": "including other requirement files is not allowed",
    "--requirement": "including other requirement files is not allowed",
    "-c": "constraint files are not allowed",
    "--constraint": "constraint files are not allowed",
    "-i": "index options are not allowed in an upload",
    "--index-url": "index options are not allowed in an upload",
    "--extra-index-url": "index options are not allowed in an upload",
    "--no-index": "index options are not allowed in an upload",
    "-f": "index options are not allowed in an upload",
    "--find-links": "index options are not allowed in an upload",
    "--trusted-host": "index options are not allowed in an upload",
}
_INDEX_HINT = "the build's index comes from ignite-pack's own --index-url / configuration, never from the upload"
#: Written by pipenv (``pipenv requirements``), pip-compile ``--emit-index-url`` and poetry export at
#: the top of the file. The upload still never chooses the index: outside --strict-requirements these
#: lines are skipped with a warning, and the build's own index settings are used.
_INDEX_OPTIONS = frozenset(o for o, why in _REFUSED_OPTIONS.items() if "index" in why)


@record
class RequirementLine:
    """One accepted requirement with where it came from."""

    line: int
    requirement: Requirement
    hashes: tuple[str, ...] = ()  # "sha256:<hex>"

    @property
    def name(self) -> NormalizedName:
        return canonicalize_name(self.requirement.name)

    @property
    def pinned_version(self) -> Optional[str]:
        """The version of an ``==`` pin (no wildcard), else None."""
        specs = list(self.requirement.specifier)
        if len(specs) == 1 and specs[0].operator in ("==", "===") and "*" not in specs[0].version:
            return specs[0].version
        return None

    def applies_to(self, markers: dict[str, str]) -> bool:
        m = self.requirement.marker
        return m is None or m.evaluate({**markers, "extra": ""})

    def without_hashes(self) -> str:
        return str(self.requirement)


@record
class Requirements:
    """The parsed file."""

    path: str
    lines: tuple[RequirementLine, ...]
    digest: str
    #: ``# preinstalled: name==version`` lines that ``ignite-pack lock`` writes for the image's pins.
    preinstalled: tuple[tuple[str, str], ...] = ()
    #: The target profile a lock was made for (``# ignite-profile: NAME``), if it says.
    profile: Optional[str] = None
    #: Index option lines skipped (not --strict-requirements): ``(line number, text)``.
    ignored: tuple[tuple[int, str], ...] = ()

    @property
    def warnings(self) -> tuple[str, ...]:
        """One warning per skipped index line, naming it (credentials in a URL redacted)."""
        return tuple(
            f"{self.path}:{no}: ignored `{redact(text[:120])}`: an upload never chooses the index, so "
            "the build's own index settings were used (--strict-requirements refuses such lines)"
            for no, text in self.ignored
        )

    @property
    def is_lock(self) -> bool:
        """Every line an exact pin with at least one hash: install exactly this, hashes required."""
        return bool(self.lines) and all(r.pinned_version and r.hashes for r in self.lines)

    def for_target(self, markers: dict[str, str]) -> tuple[RequirementLine, ...]:
        return tuple(r for r in self.lines if r.applies_to(markers))


def _logical_lines(text: str, path: str = "requirements.txt") -> list[tuple[int, str]]:
    """Join backslash continuations and strip comments, keeping the first line number."""
    out: list[tuple[int, str]] = []
    buf = ""
    start = 0
    for i, raw in enumerate(text.splitlines(), 1):
        if len(raw) > MAX_LINE:
            raise RequirementsError(
                f"line is too long ({len(raw)} characters; max {MAX_LINE})",
                where=f"{path}:{i}", hint="one requirement per line",
            )
        if not buf:
            start = i
        line = re.sub(r"(^|\s)#.*$", "", raw)
        if line.rstrip().endswith("\\"):
            buf += line.rstrip()[:-1] + " "
            if len(buf) > MAX_LOGICAL:
                raise RequirementsError(
                    f"continued line is too long (over {MAX_LOGICAL} characters)",
                    where=f"{path}:{start}", hint="one requirement per line",
                )
            continue
        buf += line
        if buf.strip():
            out.append((start, buf.strip()))
        buf = ""
    if buf.strip():
        out.append((start, buf.strip()))
    return out


def check_requirement(spec: str, where: str) -> Requirement:
    """One ``name[extras] specifier ; marker`` string under the upload policy, whatever file it is in.

    URLs, VCS and paths (``name @ file:///…`` too) are refused: an upload never chooses where
    code comes from. *where* is ``file:line`` (or ``file: key``) for the error.
    """
    if re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*://", spec) or spec.startswith(("git+", "hg+", "svn+", "bzr+")):
        raise RequirementsError(f"URL requirements are not allowed: {spec[:120]}", where=where,
                                hint="name the package and a version instead (e.g. requests==2.32.3)")
    if spec.startswith((".", "/", "~")) or "\\" in spec or re.match(r"^[A-Za-z]:", spec):
        raise RequirementsError(f"path requirements are not allowed: {spec[:120]}", where=where,
                                hint="publish the package to the index, or put its code in your source")
    try:
        req = Requirement(spec)
    except InvalidRequirement as exc:
        first = str(exc).splitlines()[0] if str(exc) else "cannot be parsed"
        raise RequirementsError(f"invalid requirement: {first}", where=where,
                                hint="use `name[extras] specifier ; marker`, e.g. PyYAML>=6") from None
    if req.url:
        kind = (" (a VCS URL)" if re.match(r"^(git|hg|svn|bzr)\+", req.url)
                else " (a local path)" if req.url.startswith("file:") else "")
        raise RequirementsError(f"URL requirements are not allowed{kind}: {spec[:120]}", where=where,
                                hint="name the package and a version instead (e.g. requests==2.32.3)")
    return req


def lock_digest(lines: tuple[RequirementLine, ...]) -> str:
    """The digest of what a requirements list asks for (pins, specifiers, markers and hashes)."""
    return hashlib.sha256(
        "\n".join(f"{r.requirement} {' '.join(sorted(r.hashes))}".strip() for r in lines).encode()
    ).hexdigest()


def parse_requirements(data: bytes, path: str = "requirements.txt", *, strict: bool = False) -> Requirements:
    """Parse and police a requirements file; raise RequirementsError on the first bad line.

    Index options (``-i``, ``--extra-index-url``, ...) are skipped and listed in ``ignored``
    unless *strict*, where they are refused like every other option.
    """
    if len(data) > MAX_FILE:
        raise RequirementsError(f"file is too large ({len(data)} bytes)", where=path,
                                hint="list only your direct dependencies")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        bad_line = data.count(b"\n", 0, exc.start) + 1
        raise RequirementsError("not valid UTF-8", where=f"{path}:{bad_line}", hint="save the file as UTF-8") from exc
    if "\x00" in text:
        nul_line = text.count("\n", 0, text.index("\x00")) + 1
        raise RequirementsError("file contains NUL bytes", where=f"{path}:{nul_line}", hint="save it as plain text")
    lines: list[RequirementLine] = []
    ignored: list[tuple[int, str]] = []
    seen: dict[str, int] = {}
    for no, line in _logical_lines(text, path):
        where = f"{path}:{no}"
        if _ENV_VAR.search(line):
            raise RequirementsError(
                "environment variable references (${VAR}) are not allowed", where=where,
                hint="write the value itself; uploads cannot read the build's environment",
            )
        hashes = tuple(f"{a.lower()}:{h.lower()}" for a, h in _HASH.findall(line))
        spec = _HASH.sub("", line).strip()
        if spec.startswith("-"):
            opt = re.split(r"[\s=]", spec, maxsplit=1)[0]
            if opt.startswith("-") and not opt.startswith("--") and len(opt) > 2:
                opt = opt[:2]  # -rfile, -efoo
            if opt in _INDEX_OPTIONS and not strict:
                ignored.append((no, line))
                continue
            reason = _REFUSED_OPTIONS.get(opt, f"option {opt} is not allowed")
            hint = _INDEX_HINT if "index" in reason else "use plain `name[extras] specifier ; marker` lines"
            raise RequirementsError(f"{reason}: {line[:120]}", where=where, hint=hint)
        req = check_requirement(spec, where)
        name = canonicalize_name(req.name)
        if name in seen and req.marker is None:
            raise RequirementsError(f"{req.name} is listed twice (first on line {seen[name]})", where=where,
                                    hint="merge the two lines into one")
        seen.setdefault(name, no)
        lines.append(RequirementLine(no, req, hashes))
    digest = lock_digest(tuple(lines))
    pre = tuple((str(canonicalize_name(n)), v) for n, v in _PREINSTALLED.findall(text))
    made_for = _PROFILE.search(text)
    return Requirements(path, tuple(lines), digest, pre, made_for.group(1) if made_for else None,
                        tuple(ignored))

