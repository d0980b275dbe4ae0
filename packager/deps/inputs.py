"""Which file declares a build's dependencies: decided once, before anything starts.

Every later step (the checks' warnings, the early resolution, vendoring, ``ignite-pack
lock``, the manifest, the errors) is handed the one :class:`DependencySource` chosen
here, instead of looking for a file on its own.

Precedence, in the convention's own folder first (openfaas's ``function/``), then at the
root of the source, a lock before a declaration:

1. ``pylock.toml``, then one ``pylock.<name>.toml`` (PEP 751)
2. ``uv.lock``
3. ``requirements.lock`` (``ignite-pack lock``'s)
4. ``requirements.txt``
5. ``pyproject.toml`` (``[project] dependencies``, ``[dependency-groups]`` with ``--group``)

``--lock FILE`` (a lock from the build machine) and ``--requirements FILE`` (any of the
above by name, in the source or on the build machine) override the search.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from pathlib import Path

from packager.errors import RequirementsError, UsageError
from packager.records import field, record
from packager.source.intake import SourceTree

TYPE_CHECKING = False  # (typing's import is ~3 ms of a build that needs it only for mypy)
if TYPE_CHECKING:  # (packaging's requirement parser is imported only when there is a file to read)
    from typing import Any, Optional

    from packager.deps.profile import TargetProfile
    from packager.deps.requirements import Requirements

#: What each kind of file is (the manifest's ``requirements.kind``).
PYLOCK, UV_LOCK, REQUIREMENTS_LOCK, REQUIREMENTS, PYPROJECT = (
    "pylock", "uv.lock", "requirements.lock", "requirements.txt", "pyproject.toml")
KINDS = (PYLOCK, UV_LOCK, REQUIREMENTS_LOCK, REQUIREMENTS, PYPROJECT)
#: Kinds that pin every distribution with its hashes: installed exactly, never resolved.
LOCK_KINDS = frozenset({PYLOCK, UV_LOCK, REQUIREMENTS_LOCK})
_PYLOCK_NAMED = re.compile(r"^pylock\.[^/]+\.toml$")
#: The conventions whose function lives in a folder with its own dependency files (seed 004).
FOLDER_CONVENTIONS = ("openfaas", "openfaas-http", "openfaas-flask")


#: Lock files of other tools that are not read, and how to turn each into one that is.
FOREIGN_LOCKS = {
    "poetry.lock": "`poetry export -o requirements.lock` (poetry-plugin-export; hashes are included)",
    "Pipfile.lock": "`pipenv requirements --hash > requirements.lock`",
    "pdm.lock": "`pdm export -f pylock -o pylock.toml`",
}


def kind_of(path: str) -> str:
    """The kind of a dependency file, from its name (a name ending in .lock is ours, else requirements)."""
    name = path.replace("\\", "/").rsplit("/", 1)[-1]
    if name == "pylock.toml" or _PYLOCK_NAMED.match(name):
        return PYLOCK
    if name == "uv.lock":
        return UV_LOCK
    if name == "pyproject.toml":
        return PYPROJECT
    if name.endswith(".lock"):
        return REQUIREMENTS_LOCK
    return REQUIREMENTS


@record
class DependencySource:
    """The one file this build's dependencies come from, as read (its bytes are what is used)."""

    #: As errors and the manifest name it: the path in the source ("function/requirements.txt"),
    #: or the path given on the build machine (--lock / --requirements outside the source)
    path: str
    kind: str
    data: bytes
    #: part of the upload (shipped in the artifact), or given by the build machine
    in_source: bool = True
    #: dependency groups asked for (--group), for pyproject.toml, uv.lock and pylock.toml
    groups: tuple[str, ...] = ()

    @property
    def locked(self) -> bool:
        """A lock (exact pins and hashes) by its kind; a requirements.txt whose every line is pinned
        with hashes is installed as a lock too (see Requirements.is_lock)."""
        return self.kind in LOCK_KINDS

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    def to_dict(self) -> dict[str, Any]:
        return {"file": self.path, "kind": self.kind, "locked": self.locked, "groups": list(self.groups),
                "in_source": self.in_source}


@record
class Decision:
    """The source chosen (None: the function has no dependency file) and what the choice should tell."""

    source: Optional[DependencySource]
    warnings: tuple[str, ...] = field(default=())


def entry_folder(tree: SourceTree, convention: str, entry_module: Optional[str]) -> str:
    """The folder of the entry module for the conventions whose function folder has its own files."""
    if convention not in FOLDER_CONVENTIONS:
        return ""
    from packager.source import conventions
    from packager.source.checks import EntryPoint, default_entry

    entry = EntryPoint.parse(entry_module) if entry_module else default_entry(tree, conventions.get(convention))
    found = next((c for c in entry.candidates if tree.get(c) is not None), entry.candidates[0])
    folder = found.rpartition("/")[0]
    if entry.candidates[1] == found:  # a package: pkg/__init__.py -> its parent
        folder = folder.rpartition("/")[0]
    return folder


def _pyproject_declares(data: bytes) -> bool:
    """A pyproject.toml with a [project] table or [dependency-groups] (not only tool settings).

    Unreadable TOML counts: the file is then chosen, and its parse says what is wrong with it.
    """
    from packager.deps.pyproject import load_toml

    try:
        doc = load_toml(data, "pyproject.toml")
    except RequirementsError:
        return True
    return isinstance(doc.get("project"), dict) or isinstance(doc.get("dependency-groups"), dict)


def _find(tree: SourceTree, folder: str, kinds: Sequence[str] = KINDS) -> Optional[str]:
    """The first file of the precedence in *folder* (then the root), as a tree path."""
    dirs = [f"{folder}/", ""] if folder else [""]
    for kind in kinds:
        for d in dirs:
            if kind == PYLOCK:
                named = sorted(p for p in tree.paths if p.startswith(d) and "/" not in p[len(d):]
                               and _PYLOCK_NAMED.match(p[len(d):]))
                if tree.get(f"{d}pylock.toml") is not None:
                    return f"{d}pylock.toml"
                if len(named) > 1:
                    raise UsageError(
                        f"{len(named)} lock files for different uses: {', '.join(named[:5])}",
                        where=named[0], hint="choose one with --requirements FILE (config: requirements = \"…\")")
                if named:
                    return named[0]
                continue
            path = f"{d}{kind}"
            f = tree.get(path)
            if f is None:
                continue
            if kind == PYPROJECT and not _pyproject_declares(f.data):
                continue
            return path
    return None


def _requested(tree: SourceTree, requested: Path, source_root: Optional[Path]) -> DependencySource:
    """``--requirements FILE``: a path in the source (relative to its root), else a file on this machine."""
    text = str(requested).replace("\\", "/")
    rel = text[2:] if text.startswith("./") else text
    candidates = [rel]
    if source_root is not None and Path(source_root).is_dir():
        try:
            candidates.insert(0, Path(requested).resolve().relative_to(Path(source_root).resolve()).as_posix())
        except (ValueError, OSError):
            pass
    for c in candidates:
        f = tree.get(c)
        if f is not None:
            return DependencySource(f.path, kind_of(f.path), f.data)
    try:
        data = Path(requested).read_bytes()
    except OSError as exc:
        known = [p for p in tree.paths if kind_of(p) != REQUIREMENTS or p.endswith(".txt")]
        raise UsageError(
            f"--requirements {requested}: not in the source and not readable here ({exc.strerror or exc})",
            where="--requirements",
            hint="name a file of the source relative to its root"
                 + (f" (e.g. {', '.join(known[:4])})" if known else ""),
        ) from None
    return DependencySource(str(requested), kind_of(str(requested)), data, in_source=False)


def _declared_names(source_data: bytes, kind: str, path: str) -> Optional[set[str]]:
    """The requirement strings a declaration lists (canonical), None when it cannot be read."""
    from packaging.utils import canonicalize_name

    try:
        if kind == PYPROJECT:
            from packager.deps.pyproject import parse_pyproject

            reqs = parse_pyproject(source_data, path)
        else:
            from packager.deps.requirements import parse_requirements

            reqs = parse_requirements(source_data, path)
    except RequirementsError:
        return None
    out = set()
    for line in reqs.lines:
        r = line.requirement
        extras = f"[{','.join(sorted(canonicalize_name(e) for e in r.extras))}]" if r.extras else ""
        out.add(f"{canonicalize_name(r.name)}{extras}{r.specifier}" + (f"; {r.marker}" if r.marker else ""))
    return out


def _disagreement(tree: SourceTree, chosen: DependencySource, why: str) -> Optional[str]:
    """A requirements.txt and pyproject.toml dependencies side by side that list different things."""
    d = chosen.path.rpartition("/")[0] if chosen.in_source else ""
    prefix = f"{d}/" if d else ""
    txt, pyp = tree.get(f"{prefix}requirements.txt"), tree.get(f"{prefix}pyproject.toml")
    if txt is None or pyp is None or not _pyproject_declares(pyp.data):
        return None
    a = _declared_names(txt.data, REQUIREMENTS, txt.path)
    b = _declared_names(pyp.data, PYPROJECT, pyp.path)
    if a is None or b is None or a == b:
        return None
    only_a, only_b = sorted(a - b), sorted(b - a)
    said = "; ".join(x for x in (
        f"only in {txt.path}: {', '.join(only_a[:5])}" if only_a else "",
        f"only in {pyp.path} [project] dependencies: {', '.join(only_b[:5])}" if only_b else "") if x)
    other = pyp.path if chosen.path == txt.path else txt.path
    return (f"{txt.path} and {pyp.path} declare different dependencies ({said}); {chosen.path} is used"
            f" ({why})" + ("" if chosen.path == other else f"; to use {other}, pass --requirements {other}"))


def _stale_uv_lock(tree: SourceTree, chosen: DependencySource) -> Optional[str]:
    """A uv.lock whose root project asks for other packages than the pyproject.toml beside it."""
    if chosen.kind != UV_LOCK:
        return None
    from packaging.utils import canonicalize_name

    from packager.deps.pyproject import load_toml

    d = chosen.path.rpartition("/")[0]
    pyp = tree.get(f"{d}/pyproject.toml" if d else "pyproject.toml")
    if pyp is None:
        return None
    declared = _declared_names(pyp.data, PYPROJECT, pyp.path)
    try:
        doc = load_toml(chosen.data, chosen.path)
    except RequirementsError:
        return None
    roots = [p for p in doc.get("package", []) if isinstance(p, dict)
             and (p.get("source") or {}).get("virtual", (p.get("source") or {}).get("editable")) == "."]
    if declared is None or len(roots) != 1:
        return None
    locked = {canonicalize_name(str(r.get("name", ""))) for r in
              (roots[0].get("metadata") or {}).get("requires-dist", []) if isinstance(r, dict)}
    names = {canonicalize_name(re.split(r"[\[<>=!~;@ ]", n, maxsplit=1)[0]) for n in declared}
    if locked == names:
        return None
    diff = sorted(names ^ locked)
    return (f"{chosen.path} is out of date with {pyp.path} (differs in: {', '.join(diff[:6])}); the lock is "
            "installed as it is: run `uv lock` to update it")


def decide(tree: SourceTree, *, folder: str = "", requested: Optional[Path] = None, lock: Optional[Path] = None,
           source_root: Optional[Path] = None, groups: Sequence[str] = (), declarations_only: bool = False,
           ) -> Decision:
    """Choose the build's dependency source by the documented precedence (see the module's doc).

    *folder* is the convention's function folder (:func:`entry_folder`); *requested* is
    ``--requirements`` and *lock* ``--lock`` (both win over the search; giving both is an error).
    *declarations_only*: what ``ignite-pack lock`` locks (requirements.txt, then pyproject.toml).
    """
    if requested is not None and lock is not None:
        raise UsageError("--requirements and --lock both name the dependency file", where="--requirements",
                         hint="pass one of them (--lock FILE is --requirements FILE for a lock outside the source)")
    warnings: list[str] = []
    chosen: Optional[DependencySource]
    if lock is not None:
        try:
            data = Path(lock).read_bytes()
        except OSError as exc:
            raise UsageError(f"--lock {lock}: cannot read it ({exc.strerror or exc})", where="--lock",
                             hint="pass the path of a lock file") from None
        chosen = DependencySource(str(lock), kind_of(str(lock)), data, in_source=False)
        if chosen.kind in (REQUIREMENTS, PYPROJECT):
            chosen = DependencySource(str(lock), REQUIREMENTS_LOCK, data, in_source=False)
    elif requested is not None:
        foreign = str(requested).replace("\\", "/").rsplit("/", 1)[-1]
        if foreign in FOREIGN_LOCKS:
            raise UsageError(f"--requirements {requested}: {foreign} is not a format ignite-pack reads",
                             where="--requirements", hint=f"export it: {FOREIGN_LOCKS[foreign]}")
        chosen = _requested(tree, requested, source_root)
    else:
        path = _find(tree, folder, (REQUIREMENTS, PYPROJECT) if declarations_only else KINDS)
        f = tree.get(path) if path else None
        chosen = DependencySource(f.path, kind_of(f.path), f.data) if f is not None else None
    if chosen is not None and groups:
        chosen = DependencySource(chosen.path, chosen.kind, chosen.data, chosen.in_source, tuple(groups))
        if chosen.kind in (REQUIREMENTS, REQUIREMENTS_LOCK):
            raise UsageError(
                f"--group {groups[0]}: {chosen.path} has no dependency groups", where="--group",
                hint="dependency groups are read from pyproject.toml [dependency-groups], uv.lock and pylock.toml")
    if folder and chosen is not None and chosen.in_source:
        root_txt = tree.get("requirements.txt")
        if root_txt is not None and chosen.path.startswith(f"{folder}/"):
            warnings.append(
                f"requirements.txt (the template server's) is not installed: the launcher replaces that "
                f"server; {chosen.path} is. Move any package your function needs into {chosen.path}")
    if chosen is None or not chosen.locked:
        prefix = f"{folder}/" if folder else ""
        for name, how in FOREIGN_LOCKS.items():
            found = tree.get(f"{prefix}{name}") or tree.get(name)
            if found is not None:
                warnings.append(f"{found.path} is not read (not a format ignite-pack reads): "
                                + (f"{chosen.path} is used instead" if chosen else "no dependencies are installed")
                                + f"; to install the locked versions, export it: {how}")
    if chosen is None:
        nested = [p for p in tree.paths if kind_of(p) in KINDS and "/" in p
                  and p.rsplit("/", 1)[-1] in ("requirements.txt", "requirements.lock", "uv.lock", "pylock.toml")]
        if nested:
            warnings.append(f"{nested[0]} is not at the root and will not be installed; move it next to the "
                            "entry module, or name it with --requirements")
    elif chosen.in_source:
        why = "--requirements" if requested is not None else "the lock" if chosen.locked else "by precedence"
        told = _disagreement(tree, chosen, why) or _stale_uv_lock(tree, chosen)
        if told:
            warnings.append(told)
    return Decision(chosen, tuple(warnings))


def load(source: DependencySource, profile: TargetProfile, *, strict: bool = False) -> Requirements:
    """The source's requirements  for *profile*.

    Locks are selected for the target here (markers, tags, requires-python) and come back
    as exact pins with their hashes; declarations come back as requirements to resolve.
    Every refusal names the file and its line (or key).
    """
    if source.kind == PYPROJECT:
        from packager.deps.pyproject import parse_pyproject

        return parse_pyproject(source.data, source.path, source.groups)
    if source.kind == UV_LOCK:
        from packager.deps.lockfiles import parse_uv_lock

        return parse_uv_lock(source.data, source.path, profile, source.groups)
    if source.kind == PYLOCK:
        from packager.deps.lockfiles import parse_pylock

        return parse_pylock(source.data, source.path, profile, source.groups)
    from packager.deps.requirements import parse_requirements

    return parse_requirements(source.data, source.path, strict=strict)
