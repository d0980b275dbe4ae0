"""``inspect --why NAME``: the requirement chains that brought a distribution into an artifact.

Read from the artifact alone: the roots are the requirement lines of the requirements file the
manifest names (shipped with the source), the edges the vendored distributions' ``Requires-Dist``
evaluated for the target, and the profile's record of what the image's preinstalled packages
require. A chain reads ``requirements.txt:1 scikit-learn -> scipy -> numpy (preinstalled)``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Optional

from packaging.utils import NormalizedName, canonicalize_name

from packager.artifact.manifest import Manifest
from packager.artifact.tarball import iter_members
from packager.deps.profile import load_profile
from packager.deps.pyproject import parse_pyproject
from packager.deps.requirements import parse_requirements
from packager.errors import IgniteError, NotInArtifact
from packager.inspect.inspection import inspect_artifact
from packager.inspect.metadata import read_metadata, requires_on_target, target_markers
from packager.records import record

WHY_SCHEMA = "ignite-why/1"
#: More chains than this are summarized: a name that half the closure needs has hundreds.
MAX_CHAINS = 20


@record
class Root:
    """A requirement line of the function's own file."""

    name: NormalizedName
    where: str  # "requirements.txt:3"
    text: str  # the requirement as written, without hashes


@record
class Graph:
    """Who requires whom on the target, and how each distribution got into the artifact."""

    roots: tuple[Root, ...]
    requires: Mapping[NormalizedName, tuple[NormalizedName, ...]]
    #: canonical name -> (display name, version, "vendored" | "preinstalled")
    dists: Mapping[NormalizedName, tuple[str, str, str]]


@record
class Chain:
    root: Root
    path: tuple[NormalizedName, ...]  # root's name first, the asked-for name last

    def to_dict(self, graph: Graph) -> dict[str, Any]:
        return {"file": self.root.where, "requirement": self.root.text,
                "path": [{"name": graph.dists[n][0], "version": graph.dists[n][1], "kind": graph.dists[n][2]}
                         for n in self.path]}

    def text(self, graph: Graph) -> str:
        names = [graph.dists[n][0] + (" (preinstalled)" if graph.dists[n][2] == "preinstalled" else "")
                 for n in self.path]
        return f"{self.root.where} " + " -> ".join(names)


@record
class WhyReport:
    name: str
    version: str
    kind: str
    chains: tuple[Chain, ...]
    more: int  # chains not listed beyond MAX_CHAINS
    graph: Graph

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "version": self.version, "kind": self.kind,
                "chains": [c.to_dict(self.graph) for c in self.chains], "more_chains": self.more}

    def lines(self) -> list[str]:
        head = f"{self.name} {self.version} ({self.kind})"
        if not self.chains:
            return [head, "  no requirement chain leads to it: it is listed without a requirement "
                          "(e.g. --vendor-anyway, or an older artifact without its requirements file)"]
        out = [head] + [f"  {c.text(self.graph)}" for c in self.chains]
        if self.more:
            out.append(f"  … and {self.more} more chains")
        return out


def _roots(manifest: Manifest, files: Mapping[str, bytes], markers: Optional[dict[str, str]],
           requires: Mapping[NormalizedName, tuple[NormalizedName, ...]],
           known: set[NormalizedName]) -> tuple[Root, ...]:
    name = str(manifest.requirements.get("file") or "")
    data = files.get(name)
    kind = str(manifest.requirements.get("kind") or "")
    if data is not None and (kind == "pyproject.toml" or (name.endswith((".txt", ".lock", ".in"))
                             and kind in ("", "requirements.txt", "requirements.lock"))):
        try:
            reqs = (parse_pyproject(data, name, tuple(manifest.requirements.get("groups") or ()))
                    if kind == "pyproject.toml" else parse_requirements(data, name))
        except IgniteError:
            reqs = None
        if reqs is not None:
            lines = reqs.for_target(markers) if markers is not None else reqs.lines
            return tuple(Root(r.name, f"{name}:{r.line}", r.without_hashes()) for r in lines if r.name in known)
    # No readable requirement lines (another input format, an old artifact): what nothing else needs.
    needed = {d for deps in requires.values() for d in deps}
    return tuple(Root(n, name or "(top level)", n) for n in sorted(known - needed))


def dependency_graph(path: Path) -> Graph:
    """The artifact's requirement graph on its target (one streaming read plus the manifest)."""
    m = inspect_artifact(path).manifest
    metas = read_metadata(path)
    markers = target_markers(m.target)
    dists: dict[NormalizedName, tuple[str, str, str]] = {}
    for v in m.vendored:
        dists[canonicalize_name(v.name)] = (v.name, v.version, "vendored")
    for s in m.skipped:
        dists.setdefault(canonicalize_name(s.name), (s.name, s.version, "preinstalled"))
    known = set(dists)
    requires: dict[NormalizedName, tuple[NormalizedName, ...]] = {}
    for name, meta in metas.items():
        requires[canonicalize_name(name)] = tuple(
            canonicalize_name(r) for r in requires_on_target(meta, markers) if canonicalize_name(r) in known)
    try:
        profile = load_profile(str(m.target.get("profile") or "python3.12"))
    except IgniteError:
        profile = None
    if profile is not None:
        for n, deps in profile.preinstalled_requires.items():
            if n in known and n not in requires:
                requires[n] = tuple(d for d in deps if d in known)
    req_file = str(m.requirements.get("file") or "")
    files = {mem.path: mem.data for mem in iter_members(path) if req_file and mem.path == req_file}
    return Graph(roots=_roots(m, files, markers, requires, known), requires=requires, dists=dists)


def chains_to(graph: Graph, target: NormalizedName, limit: int = MAX_CHAINS) -> tuple[list[Chain], int]:
    """Every simple path from a root to *target* (shortest first), at most *limit*, and how many more."""
    found: list[Chain] = []
    for root in graph.roots:
        stack: list[tuple[NormalizedName, ...]] = [(root.name,)]
        while stack:
            path = stack.pop()
            node = path[-1]
            if node == target:
                found.append(Chain(root, path))
                continue
            for nxt in sorted(graph.requires.get(node, ()), reverse=True):
                if nxt not in path:
                    stack.append((*path, nxt))
    found.sort(key=lambda c: (len(c.path), c.root.where, c.path))
    return found[:limit], max(0, len(found) - limit)


def why(path: Path, name: str) -> WhyReport:
    """The chains that brought *name* into the artifact; :class:`NotInArtifact` when it is not there."""
    graph = dependency_graph(path)
    key = canonicalize_name(name)
    if key not in graph.dists:
        listed = ", ".join(sorted(graph.dists[n][0] for n in graph.dists)) or "none"
        raise NotInArtifact(
            f"{name!r} is neither vendored in this artifact nor a preinstalled package it relies on",
            where=str(path), hint=f"distributions in the artifact: {listed}",
        )
    chains, more = chains_to(graph, key)
    display, version, kind = graph.dists[key]
    return WhyReport(display, version, kind, tuple(chains), more, graph)
