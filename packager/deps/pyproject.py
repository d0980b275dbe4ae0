"""pyproject.toml as a dependency declaration: ``[project] dependencies`` (PEP 621) and
``[dependency-groups]`` (PEP 735, chosen with ``--group``).

The project itself is never installed (it is the function's source): only the
requirements it declares, each under the same upload policy as a requirements.txt
line (no URLs, paths or VCS), with the file and line in every error. Markers are
evaluated for the target later, like any requirement's. Groups are expanded by the
``dependency-groups`` library (PEP 735's reference implementation).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from packager.deps.requirements import RequirementLine, Requirements, check_requirement, lock_digest
from packager.errors import RequirementsError
from packager.tomlparser import parser

#: [tool.uv.sources] keys that point outside the index.
_DIRECT_SOURCES = {"git": "VCS", "url": "URL", "path": "path", "editable": "editable", "workspace": "workspace"}


def load_toml(data: bytes, path: str) -> dict[str, Any]:
    """Parse TOML, or a RequirementsError naming the file and the line."""
    tomllib = parser()
    try:
        doc: dict[str, Any] = tomllib.loads(data.decode("utf-8-sig"))
        return doc
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise RequirementsError("not valid UTF-8", where=f"{path}:{line}", hint="save the file as UTF-8") from None
    except tomllib.TOMLDecodeError as exc:
        m = re.search(r"line (\d+)", str(exc))
        raise RequirementsError(f"invalid TOML: {exc}", where=f"{path}:{m.group(1)}" if m else path,
                                hint="fix the TOML syntax") from None


def line_of(text_lines: Sequence[str], value: str, start: int = 0) -> int:
    """The 1-based line where the string *value* is written, searching from line *start* (0-based).

    tomllib keeps no positions; a quoted literal found by text is enough for an error's line.
    """
    quoted = (f'"{value}"', f"'{value}'")
    for i in range(start, len(text_lines)):
        if any(q in text_lines[i] for q in quoted):
            return i + 1
    for i in range(0, min(start, len(text_lines))):
        if any(q in text_lines[i] for q in quoted):
            return i + 1
    return start + 1


def _table_line(text_lines: Sequence[str], header: str) -> int:
    """The 0-based line of ``[header]`` (or 0)."""
    pat = re.compile(r"^\s*\[\s*" + re.escape(header).replace(r"\.", r"\s*\.\s*") + r"\s*\]")
    return next((i for i, ln in enumerate(text_lines) if pat.match(ln)), 0)


def _check_uv_sources(doc: dict[str, Any], text_lines: Sequence[str], path: str) -> None:
    """[tool.uv.sources] entries that install from outside the index are refused, as URLs in a requirement are."""
    sources = doc.get("tool", {}).get("uv", {}).get("sources", {}) if isinstance(doc.get("tool"), dict) else {}
    if not isinstance(sources, dict):
        return
    start = _table_line(text_lines, "tool.uv.sources")
    for name, spec in sources.items():
        for one in spec if isinstance(spec, list) else [spec]:
            if not isinstance(one, dict):
                continue
            key = next((k for k in _DIRECT_SOURCES if k in one and one[k] is not False), None)
            if key is None:
                continue
            line = next((i + 1 for i in range(start, len(text_lines))
                         if re.match(rf"^\s*[\"']?{re.escape(name)}[\"']?\s*=", text_lines[i])), start + 1)
            raise RequirementsError(
                f"{_DIRECT_SOURCES[key]} sources are not allowed: [tool.uv.sources] {name} = {{ {key} = … }}",
                where=f"{path}:{line}",
                hint="the build installs packages from its own index only: publish the package there, or put its "
                     "code in your source",
            )


def parse_pyproject(data: bytes, path: str = "pyproject.toml", groups: Sequence[str] = ()) -> Requirements:
    """The requirements a pyproject.toml declares: ``[project] dependencies`` plus the *groups*."""
    doc = load_toml(data, path)
    text_lines = data.decode("utf-8-sig").splitlines()
    project = doc.get("project")
    if project is not None and not isinstance(project, dict):
        raise RequirementsError("[project] is not a table", where=path, hint="see PEP 621")
    project = project or {}
    if "dependencies" in (project.get("dynamic") or []):
        raise RequirementsError(
            "[project] dependencies are dynamic (the build backend computes them): they cannot be read "
            "without running the backend, which an upload never gets to do",
            where=f"{path}:{line_of(text_lines, 'dependencies')}",
            hint="list them in [project] dependencies, or write a requirements.txt or a lock",
        )
    _check_uv_sources(doc, text_lines, path)
    own = canonicalize_name(str(project.get("name", ""))) if project.get("name") else None
    specs: list[tuple[str, int]] = []
    deps = project.get("dependencies", [])
    if not isinstance(deps, list) or not all(isinstance(d, str) for d in deps):
        raise RequirementsError("[project] dependencies must be a list of strings",
                                where=f"{path}:{_table_line(text_lines, 'project') + 1}", hint="see PEP 621")
    start = _table_line(text_lines, "project")
    specs += [(d, line_of(text_lines, d, start)) for d in deps]
    if groups:
        table = doc.get("dependency-groups")
        if not isinstance(table, dict) or not table:
            raise RequirementsError(f"--group {groups[0]}: {path} has no [dependency-groups]", where=path,
                                    hint="declare the group (PEP 735), or drop --group")
        from dependency_groups import resolve as resolve_groups

        gstart = _table_line(text_lines, "dependency-groups")
        for group in groups:
            if canonicalize_name(group) not in {canonicalize_name(g) for g in table}:
                raise RequirementsError(f"--group {group}: no such group in [dependency-groups]",
                                        where=f"{path}:{gstart + 1}",
                                        hint=f"groups here: {', '.join(sorted(table)) or 'none'}")
            try:
                resolved = resolve_groups(table, group)
            except (ValueError, TypeError, LookupError) as exc:
                raise RequirementsError(f"[dependency-groups] {group}: {exc}", where=f"{path}:{gstart + 1}",
                                        hint="see PEP 735") from None
            specs += [(r, line_of(text_lines, r, gstart)) for r in resolved]
    lines: list[RequirementLine] = []
    seen: set[str] = set()
    optional = project.get("optional-dependencies") or {}
    for spec, line in specs:
        req = check_requirement(spec.strip(), f"{path}:{line}")
        if own is not None and canonicalize_name(req.name) == own:
            # The project itself (a group's "me[extra]"): never installed; its extras' requirements are.
            for extra in sorted(req.extras):
                for sub in optional.get(extra, []):
                    sub_req = check_requirement(sub, f"{path}:{line_of(text_lines, sub)}")
                    _add(lines, seen, RequirementLine(line_of(text_lines, sub), _with_marker(sub_req, req)))
            continue
        _add(lines, seen, RequirementLine(line, req))
    return Requirements(path, tuple(lines), lock_digest(tuple(lines)))


def _with_marker(req: Requirement, outer: Requirement) -> Requirement:
    if outer.marker is None:
        return req
    if req.marker is None:
        return Requirement(f"{req}; {outer.marker}")
    return Requirement(f"{str(req).split(';')[0]}; ({req.marker}) and ({outer.marker})")


def _add(lines: list[RequirementLine], seen: set[str], line: RequirementLine) -> None:
    key = str(line.requirement)
    if key not in seen:
        seen.add(key)
        lines.append(line)
