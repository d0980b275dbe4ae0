"""uv.lock and pylock.toml (PEP 751): exact pins and hashes for the target, from other tools' locks.

Both come back as a :class:`Requirements` whose every line is ``name==version`` with the
hashes of the files the target may install, so the rest of the build treats them like
``requirements.lock`` (no resolution; fetch verifies every file; the image's packages are
skipped, or explained when the lock disagrees with the image).

- **pylock.toml** is read and selected for the target by ``packaging.pylock`` (markers,
  ``requires-python``, ``environments``, the best wheel for the target's tags, groups) when the
  installed packaging has ``Pylock.select`` (26.1). With an older packaging (the project's floor is
  23.2, which .ci/lowest tests) the PEP's installer steps are followed here, with tomllib/tomli
  and packaging's markers, specifiers and tags: the same selection, the same refusals.
- **uv.lock** has no maintained reader outside uv (whose lock is its own format, read only by
  its Rust code), so its graph is walked here, from the root project (and workspace members)
  through the dependencies whose markers hold on the target; each package's wheels are
  those whose tags the target accepts.

The upload policy is the same as for requirements.txt: a package from git, a URL, a path or
an editable directory is refused with the file and line; the index URLs a lock records are
information only (files come from the build's own index settings, checked against the lock's
hashes). The project itself (uv's root and workspace members, a pylock's ``directory = "."``)
is the function's source and is never installed.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, Optional

from packaging.markers import InvalidMarker, Marker
from packaging.requirements import Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import InvalidWheelFilename, canonicalize_name, parse_wheel_filename

from packager.deps.profile import TargetProfile
from packager.deps.pyproject import load_toml
from packager.deps.requirements import RequirementLine, Requirements, lock_digest
from packager.errors import RequirementsError

_REFUSED_HINT = ("the build installs packages from its own index only: publish the package to the index, "
                 "or put its code in your source, and re-lock")


def _headers(text: str, header: str) -> list[int]:
    """1-based lines of each ``[[header]]``, in order (tomllib keeps no positions)."""
    pat = re.compile(r"^\s*\[\[\s*" + re.escape(header) + r"\s*\]\]\s*(#.*)?$")
    return [i + 1 for i, ln in enumerate(text.splitlines()) if pat.match(ln)]


def _target(profile: TargetProfile) -> str:
    return f"CPython {profile.python_version} linux {profile.machine}"


def _tags_summary(profile: TargetProfile) -> str:
    tags = profile.tags
    return f"{tags[0]} … {tags[-1]} ({len(tags)} tags)"


def no_wheel_error(path: str, line: int, name: str, version: str, filenames: Sequence[str],
                   profile: TargetProfile) -> RequirementsError:
    has = ", ".join("-".join(f[:-4].split("-")[-3:]) for f in filenames[:6]) or "no wheels"
    return RequirementsError(
        f"no wheel of {name} {version} in the lock fits the target {profile.name} ({_target(profile)}: "
        f"{_tags_summary(profile)}), and no sdist; the lock has: {has}",
        where=f"{path}:{line}",
        hint=(f"re-lock for the target (uv: `[tool.uv] required-environments` with sys_platform == 'linux' and "
              f"platform_machine == '{profile.machine}'; `ignite-pack lock --format pylock` locks for the target), "
              f"or pick a version of {name} that publishes a wheel for linux {profile.machine}"),
        details={"package": name, "version": version, "lock_tags": list(filenames), "profile": profile.name},
    )


def _sha256(hashes: Any) -> Optional[str]:
    if isinstance(hashes, str):  # uv: "sha256:<hex>"
        algo, _, hexdigest = hashes.partition(":")
        return f"sha256:{hexdigest.lower()}" if algo == "sha256" and hexdigest else None
    if isinstance(hashes, dict) and isinstance(hashes.get("sha256"), str):
        return f"sha256:{hashes['sha256'].lower()}"
    return None


def _pin(path: str, line: int, name: str, version: str, hashes: list[str]) -> RequirementLine:
    if not hashes:
        raise RequirementsError(
            f"the lock has no sha256 for {name} {version}'s files: it cannot be installed exactly",
            where=f"{path}:{line}", hint="re-lock against an index that publishes sha256 hashes")
    return RequirementLine(line, Requirement(f"{name}=={version}"), tuple(dict.fromkeys(hashes)))


def _requires_python(spec: Any, path: str, line: int, profile: TargetProfile) -> None:
    if not spec:
        return
    full = profile.markers.get("python_full_version", profile.python_version)
    try:
        ok = SpecifierSet(str(spec)).contains(full, prereleases=True)
    except InvalidSpecifier:
        raise RequirementsError(f"invalid requires-python {spec!r}", where=f"{path}:{line}") from None
    if not ok:
        raise RequirementsError(
            f"the lock's requires-python {spec} excludes the target's CPython {full} ({profile.name})",
            where=f"{path}:{line}", hint="re-lock with a requires-python that includes the target, or pick its profile")


# --- uv.lock -------------------------------------------------------------------------------

_UV_DIRECT = {"git": "VCS", "url": "URL", "path": "path", "directory": "directory", "editable": "editable",
              "virtual": "virtual"}


def _holds(marker: Any, env: dict[str, str], path: str, line: int) -> bool:
    if not marker:
        return True
    try:
        return Marker(str(marker)).evaluate({**env, "extra": ""})
    except InvalidMarker as exc:
        raise RequirementsError(f"invalid marker: {exc}", where=f"{path}:{line}") from None


def parse_uv_lock(data: bytes, path: str, profile: TargetProfile, groups: Sequence[str] = ()) -> Requirements:
    """The distributions a uv.lock installs on the target, exactly (see the module's doc)."""
    doc = load_toml(data, path)
    text = data.decode("utf-8-sig")
    if not isinstance(doc.get("version"), int) or not isinstance(doc.get("package", []), list):
        raise RequirementsError("not a uv.lock (no `version` or [[package]])", where=path,
                                hint="write it with `uv lock`")
    if doc["version"] != 1:
        raise RequirementsError(f"uv.lock version {doc['version']} is not supported (version 1 is)", where=path,
                                hint="re-lock with a uv that writes version 1")
    _requires_python(doc.get("requires-python"), path, 1, profile)
    packages: list[dict[str, Any]] = [p for p in doc.get("package", []) if isinstance(p, dict)]
    lines = _headers(text, "package")
    line_of = {id(p): (lines[i] if i < len(lines) else 1) for i, p in enumerate(packages)}
    by_name: dict[str, list[dict[str, Any]]] = {}
    for p in packages:
        by_name.setdefault(canonicalize_name(str(p.get("name", ""))), []).append(p)
    env = dict(profile.markers)
    members = {canonicalize_name(m) for m in doc.get("manifest", {}).get("members", [])}
    roots = [p for p in packages if (p.get("source") or {}).get("virtual") == "."
             or (p.get("source") or {}).get("editable") == "."]
    if not roots:
        roots = [p for p in packages if canonicalize_name(str(p.get("name", ""))) in members]
    if not roots:
        raise RequirementsError("uv.lock has no root project (no package with source `.`)", where=path,
                                hint="lock the function's project with `uv lock` next to its pyproject.toml")
    members |= {canonicalize_name(str(r["name"])) for r in roots}

    def is_member(p: dict[str, Any]) -> bool:
        src = p.get("source") or {}
        return canonicalize_name(str(p.get("name", ""))) in members and ("editable" in src or "virtual" in src)

    def find(dep: dict[str, Any], from_line: int) -> dict[str, Any]:
        name = canonicalize_name(str(dep.get("name", "")))
        found = list(by_name.get(name, []))
        if dep.get("version") is not None:
            found = [p for p in found if str(p.get("version")) == str(dep["version"])]
        if dep.get("source") is not None and len(found) > 1:
            found = [p for p in found if p.get("source") == dep["source"]] or found
        if len(found) > 1:  # a fork: the one whose resolution markers hold on the target
            found = [p for p in found if not p.get("resolution-markers") or any(
                _holds(m, env, path, line_of[id(p)]) for m in p["resolution-markers"])] or found
        if not found:
            raise RequirementsError(f"{name} is a dependency but not a [[package]] of the lock",
                                    where=f"{path}:{from_line}", hint="re-lock with `uv lock`")
        return found[0]

    todo: list[tuple[dict[str, Any], frozenset[str]]] = [(r, frozenset()) for r in roots]
    for group in groups:
        root = roots[0]
        table = root.get("dev-dependencies") or {}
        if canonicalize_name(group) not in {canonicalize_name(g) for g in table}:
            raise RequirementsError(f"--group {group}: the lock's root project has no such group", where=path,
                                    hint=f"groups in the lock: {', '.join(sorted(table)) or 'none'}")
    seen: dict[tuple[int, frozenset[str]], bool] = {}
    chosen: dict[int, dict[str, Any]] = {}
    first = True
    while todo:
        pkg, extras = todo.pop()
        key = (id(pkg), extras)
        if key in seen:
            continue
        seen[key] = True
        line = line_of[id(pkg)]
        deps: list[dict[str, Any]] = list(pkg.get("dependencies") or [])
        for extra in sorted(extras):
            deps += list((pkg.get("optional-dependencies") or {}).get(extra, []))
        if first or any(pkg is r for r in roots):
            table = pkg.get("dev-dependencies") or {}
            for group in groups:
                for g, entries in table.items():
                    if canonicalize_name(g) == canonicalize_name(group):
                        deps += list(entries)
        first = False
        if not is_member(pkg):
            chosen[id(pkg)] = pkg
        for dep in deps:
            if not isinstance(dep, dict) or not _holds(dep.get("marker"), env, path, line):
                continue
            target = find(dep, line)
            todo.append((target, frozenset(canonicalize_name(e) for e in dep.get("extra", []))))
    out: list[RequirementLine] = []
    for pkg in sorted(chosen.values(), key=lambda p: (canonicalize_name(str(p["name"])), line_of[id(p)])):
        name, version, line = canonicalize_name(str(pkg["name"])), str(pkg.get("version", "")), line_of[id(pkg)]
        src = pkg.get("source") or {}
        direct = next((k for k in _UV_DIRECT if k in src), None)
        if direct is not None:
            raise RequirementsError(
                f"{name} comes from a {_UV_DIRECT[direct]} source ({direct} = {str(src[direct])[:100]!r}), "
                "not from an index", where=f"{path}:{line}", hint=_REFUSED_HINT)
        if not version:
            raise RequirementsError(f"{name} has no version in the lock", where=f"{path}:{line}")
        wheels = [w for w in pkg.get("wheels") or [] if isinstance(w, dict)]
        names = [_filename(w) for w in wheels]
        fits = [_sha256(w.get("hash")) for w, n in zip(wheels, names) if n and profile.wheel_tag_rank(n) is not None]
        sdist = _sha256((pkg.get("sdist") or {}).get("hash")) if pkg.get("sdist") else None
        if not fits and sdist is None:
            raise no_wheel_error(path, line, name, version, [n for n in names if n], profile)
        out.append(_pin(path, line, name, version, [h for h in [*fits, sdist] if h]))
    return Requirements(path, tuple(out), lock_digest(tuple(out)))


def _filename(w: dict[str, Any]) -> str:
    for key in ("filename", "url", "path"):
        value = w.get(key)
        if isinstance(value, str) and value:
            name = value.split("#", 1)[0].rsplit("/", 1)[-1]
            try:
                parse_wheel_filename(name)
            except InvalidWheelFilename:
                continue
            return name
    return ""


# --- pylock.toml (PEP 751) -----------------------------------------------------------------


def _pylock_module() -> Any:
    """``packaging.pylock`` when it can select (``Pylock.select``, packaging 26.1), else None:
    :func:`_select_here` follows PEP 751's installer steps instead."""
    try:
        from packaging import pylock
    except ImportError:  # packaging < 25.0
        return None
    return pylock if hasattr(pylock.Pylock, "select") else None


#: (name, version, line, the chosen file's hashes)
_Selected = tuple[str, str, int, Any]


def _select_with_packaging(pylock: Any, doc: dict[str, Any], kept: list[dict[str, Any]], kept_lines: list[int],
                           path: str, profile: TargetProfile, groups: Sequence[str]) -> list[_Selected]:
    try:
        lock = pylock.Pylock.from_dict({**doc, "packages": kept})
    except pylock.PylockValidationError as exc:
        raise RequirementsError(f"not a valid pylock.toml: {exc}", where=path,
                                hint="write it with `pip lock`, `uv export --format pylock.toml` or "
                                     "`ignite-pack lock --format pylock`") from None
    try:
        selected = list(lock.select(environment=dict(profile.markers), tags=profile.tags,
                                    dependency_groups=list(groups) if groups else None))
    except pylock.PylockSelectError as exc:
        m = re.search(r"packages\[(\d+)\]", str(exc))
        idx = int(m.group(1)) if m else -1
        line = kept_lines[idx] if 0 <= idx < len(kept_lines) else 1
        if "No wheel found" in str(exc) and 0 <= idx < len(kept):
            p = lock.packages[idx]
            raise no_wheel_error(path, line, p.name, str(p.version or "?"),
                                 [w.filename for w in p.wheels or []], profile) from None
        raise _cannot(path, line, profile, str(exc)) from None
    index_of = {id(p): i for i, p in enumerate(lock.packages)}
    return [(package.name, str(package.version) if package.version is not None else "",
             kept_lines[index_of[id(package)]], dict(dist.hashes)) for package, dist in selected]


def _cannot(path: str, line: int, profile: TargetProfile, why: str) -> RequirementsError:
    return RequirementsError(f"cannot install this lock on the target {profile.name} ({_target(profile)}): {why}",
                             where=f"{path}:{line}", hint="re-lock for the target, e.g. `ignite-pack lock --format pylock`")


def _select_here(doc: dict[str, Any], kept: list[dict[str, Any]], kept_lines: list[int], path: str,
                 profile: TargetProfile, groups: Sequence[str]) -> list[_Selected]:
    """PEP 751's installer steps, for a packaging without ``packaging.pylock`` selection (before 26.1).

    The same order and the same refusals as packaging's ``Pylock.select``; markers with
    ``extras`` / ``dependency_groups`` need packaging 25 (PEP 751's marker variables).
    """
    version = str(doc.get("lock-version", ""))
    if version.split(".")[0] != "1":
        raise RequirementsError(f"pylock.toml lock-version {version or '(none)'} is not supported (1.x is)",
                                where=path, hint="re-lock with a tool that writes lock-version 1.0")
    _requires_python(doc.get("requires-python"), path, 1, profile)
    env: dict[str, Any] = dict(profile.markers)
    envs = doc.get("environments")
    if envs and not any(_holds(m, env, path, 1) for m in envs):
        raise _cannot(path, 1, profile, "no entry of `environments` holds on it")
    chosen_groups = [canonicalize_name(g) for g in groups] if groups else list(doc.get("default-groups") or [])
    lock_env = {**env, "extras": frozenset(), "dependency_groups": frozenset(chosen_groups)}
    out: list[_Selected] = []
    seen: dict[str, int] = {}
    for p, line in zip(kept, kept_lines):
        name = canonicalize_name(str(p.get("name", "")))
        marker = p.get("marker")
        if marker:
            try:
                holds = Marker(str(marker)).evaluate(lock_env)  # type: ignore[arg-type]
            except (InvalidMarker, TypeError, KeyError) as exc:
                raise RequirementsError(f"cannot evaluate the marker {marker!r}: {exc}", where=f"{path}:{line}",
                                        hint="upgrade packaging (>= 25) next to ignite-pack") from None
            if not holds:
                continue
        _requires_python(p.get("requires-python"), path, line, profile)
        if name in seen:
            raise _cannot(path, line, profile, f"{name} is selected twice (also at line {seen[name]})")
        seen[name] = line
        wheels = [w for w in p.get("wheels") or [] if isinstance(w, dict)]
        ranked = sorted((rank, i) for i, w in enumerate(wheels)
                        if (rank := profile.wheel_tag_rank(_filename(w) or "x-0-py3-none-x.whl")) is not None
                        and _filename(w))
        if ranked:
            out.append((name, str(p.get("version", "")), line, wheels[ranked[0][1]].get("hashes")))
        elif isinstance(p.get("sdist"), dict):
            out.append((name, str(p.get("version", "")), line, p["sdist"].get("hashes")))
        else:
            raise no_wheel_error(path, line, name, str(p.get("version", "?")),
                                 [n for n in map(_filename, wheels) if n], profile)
    return out


def parse_pylock(data: bytes, path: str, profile: TargetProfile, groups: Sequence[str] = (),
                 *, use_packaging: bool = True) -> Requirements:
    """The distributions a pylock.toml installs on the target, exactly (see the module's doc).

    Selected by ``packaging.pylock`` when the installed packaging has it (26.1+), else by
    :func:`_select_here` (*use_packaging* False forces that, for the tests).
    """
    doc = load_toml(data, path)
    pylock = _pylock_module() if use_packaging else None
    text = data.decode("utf-8-sig")
    raw = [p for p in doc.get("packages", []) if isinstance(p, dict)] if isinstance(doc.get("packages"), list) else []
    lines = _headers(text, "packages")
    kept: list[dict[str, Any]] = []
    kept_lines: list[int] = []
    for i, p in enumerate(raw):
        line = lines[i] if i < len(lines) else 1
        name = str(p.get("name", "?"))
        directory = p.get("directory")
        if isinstance(directory, dict) and str(directory.get("path", "")).rstrip("/") in (".", ""):
            continue  # the project itself: the function's source, never installed
        for key, what in (("vcs", "VCS"), ("directory", "directory"), ("archive", "archive (URL or path)")):
            if p.get(key) is not None:
                raise RequirementsError(
                    f"{name} comes from a {what} source ([[packages]] {key}), not from an index",
                    where=f"{path}:{line}", hint=_REFUSED_HINT)
        kept.append(p)
        kept_lines.append(line)
    # (packaging refuses an undeclared group from 26.4 on; said here for every version)
    declared = {canonicalize_name(g) for g in [*(doc.get("dependency-groups") or []), *(doc.get("default-groups") or [])]}
    unknown = sorted({canonicalize_name(g) for g in groups} - declared)
    if unknown:
        raise _cannot(path, 1, profile, f"Undeclared dependency groups: {', '.join(unknown)}")
    selected = (_select_with_packaging(pylock, doc, kept, kept_lines, path, profile, groups) if pylock is not None
                else _select_here(doc, kept, kept_lines, path, profile, groups))
    out: list[RequirementLine] = []
    for name, version, line, hashes in selected:
        if not version:
            raise RequirementsError(f"{name} has no version in the lock", where=f"{path}:{line}",
                                    hint="re-lock: packages from an index always have one")
        digest = _sha256(dict(hashes) if hashes else None)
        out.append(_pin(path, line, name, version, [digest] if digest else []))
    tool = (doc.get("tool") or {}).get("ignite-pack") or {}
    pre = tuple((str(canonicalize_name(n)), v) for n, _, v in
                (str(s).partition("==") for s in tool.get("preinstalled", [])))
    made_for = tool.get("profile")
    return Requirements(path, tuple(sorted(out, key=lambda r: r.name)), lock_digest(tuple(out)), pre,
                        str(made_for) if made_for else None)


# --- writing pylock.toml (`ignite-pack lock --format pylock`) -------------------------------


def _toml_str(value: str) -> str:
    """A TOML basic string (JSON's escapes are TOML's; no TOML writer is among the dependencies,
    and a pylock needs only strings, arrays of strings and inline tables of them)."""
    import json

    return json.dumps(value, ensure_ascii=False)


def target_marker(profile: TargetProfile) -> str:
    """The environment marker of the target (a lock for it is refused elsewhere by PEP 751 installers)."""
    m = profile.markers
    return " and ".join(f"{k} == '{m[k]}'" for k in
                        ("sys_platform", "platform_machine", "implementation_name", "python_version") if k in m)


def pylock_text(profile: TargetProfile, wheels: Sequence[tuple[str, str, str, str, str]],
                preinstalled: Sequence[tuple[str, str]], comment: str) -> str:
    """A PEP 751 lock for one target: *wheels* are ``(name, version, filename, url, sha256)``.

    The image's preinstalled pins are not packages (they are never installed); they are
    listed in ``[tool.ignite-pack]``, with the profile the lock was made for, so a build for
    another target refuses it as it refuses a requirements.lock.
    """
    out = [f"# {line}" for line in comment.splitlines()]
    out += ['lock-version = "1.0"', f"environments = [{_toml_str(target_marker(profile))}]",
            f"requires-python = {_toml_str('==' + profile.python_version + '.*')}",
            'created-by = "ignite-pack"', ""]
    for name, version, filename, url, sha in sorted(wheels):
        out += ["[[packages]]", f"name = {_toml_str(name)}", f"version = {_toml_str(version)}",
                f"wheels = [{{ name = {_toml_str(filename)}, url = {_toml_str(url)}, "
                f"hashes = {{ sha256 = {_toml_str(sha)} }} }}]", ""]
    out += ["[tool.ignite-pack]", f"profile = {_toml_str(profile.name)}",
            "preinstalled = [" + ", ".join(_toml_str(f"{n}=={v}") for n, v in sorted(preinstalled)) + "]", ""]
    return "\n".join(out)
