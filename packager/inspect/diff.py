"""What changed between two artifacts, from their manifests alone (pure; never prints).

``ignite-pack diff OLD NEW`` prints :meth:`ArtifactDiff.to_dict` under
``--json`` (schema ``packager/schemas/diff.json``) and exits 0 when the two are
identical (same file tree and same metadata), 1 when they differ.
"""

from __future__ import annotations

import json
from typing import Any, Optional

from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from packager.artifact.manifest import LAUNCHER_DIR, VENDOR_DIR, FileRecord, Manifest
from packager.errors import SizeBudgetExceeded
from packager.inspect.inspection import ArtifactInfo, is_compiled_path, sizes_by_top_level
from packager.records import record

DIFF_SCHEMA = "ignite-diff/1"


@record
class FileChanges:
    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    changed: tuple[str, ...] = ()

    @property
    def empty(self) -> bool:
        return not (self.added or self.removed or self.changed)

    def to_dict(self) -> dict[str, list[str]]:
        return {"added": list(self.added), "removed": list(self.removed), "changed": list(self.changed)}


@record
class DistChange:
    name: str
    old: str | None  # version; None when added
    new: str | None  # version; None when removed
    kind: str  # added | removed | upgraded | downgraded | rebuilt

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "old": self.old, "new": self.new, "change": self.kind}


@record
class SizeDelta:
    path: str
    old: int
    new: int

    @property
    def delta(self) -> int:
        return self.new - self.old

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "old": self.old, "new": self.new, "delta": self.delta}


@record
class FieldChange:
    field: str
    old: Any
    new: Any

    def to_dict(self) -> dict[str, Any]:
        return {"field": self.field, "old": self.old, "new": self.new}


@record
class ArtifactDiff:
    old: ArtifactInfo
    new: ArtifactInfo
    source: FileChanges
    vendor: FileChanges
    launcher: FileChanges
    compiled: FileChanges
    distributions: tuple[DistChange, ...]
    sizes: tuple[SizeDelta, ...]
    metadata: tuple[FieldChange, ...]

    @property
    def same_tree(self) -> bool:
        return self.old.manifest.tree_digest == self.new.manifest.tree_digest

    @property
    def identical(self) -> bool:
        """Same file tree and same metadata (the compression level and file name aside)."""
        return self.same_tree and not self.metadata

    @property
    def size_delta(self) -> int:
        return self.new.size - self.old.size

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": DIFF_SCHEMA,
            "identical": self.identical,
            "same_bytes": self.old.sha256 == self.new.sha256,
            "same_tree": self.same_tree,
            "old": _side(self.old),
            "new": _side(self.new),
            "artifact_size_delta": self.size_delta,
            "source": self.source.to_dict(),
            "vendor_files": self.vendor.to_dict(),
            "launcher_files": self.launcher.to_dict(),
            "compiled_files": self.compiled.to_dict(),
            "distributions": [d.to_dict() for d in self.distributions],
            "sizes_by_top_level": [s.to_dict() for s in self.sizes],
            "metadata": [c.to_dict() for c in self.metadata],
        }


def _side(info: ArtifactInfo) -> dict[str, Any]:
    return {"path": str(info.path), "sha256": info.sha256, "size": info.size,
            "tree_digest": info.manifest.tree_digest}


def _area(path: str) -> str:
    if path.startswith(f"{LAUNCHER_DIR}/"):
        return "launcher"  # its own pycs included: they come with the launcher, not --compile
    if is_compiled_path(path):
        return "compiled"
    if path.startswith(f"{VENDOR_DIR}/"):
        return "vendor"
    return "source"


def _file_changes(old: dict[str, FileRecord], new: dict[str, FileRecord], area: str) -> FileChanges:
    o = {p for p in old if _area(p) == area}
    n = {p for p in new if _area(p) == area}
    changed = sorted(p for p in o & n if (old[p].sha256, old[p].mode) != (new[p].sha256, new[p].mode))
    return FileChanges(tuple(sorted(n - o)), tuple(sorted(o - n)), tuple(changed))


def _version_cmp(a: str, b: str) -> int:
    try:
        va, vb = Version(a), Version(b)
    except InvalidVersion:
        return (a > b) - (a < b)
    return (va > vb) - (va < vb)


def _dist_changes(old: Manifest, new: Manifest) -> tuple[DistChange, ...]:
    o = {canonicalize_name(v.name): v for v in old.vendored}
    n = {canonicalize_name(v.name): v for v in new.vendored}
    out: list[DistChange] = []
    for name in sorted(o.keys() | n.keys()):
        a, b = o.get(name), n.get(name)
        if a is None and b is not None:
            out.append(DistChange(b.name, None, b.version, "added"))
        elif b is None and a is not None:
            out.append(DistChange(a.name, a.version, None, "removed"))
        elif a is not None and b is not None:
            cmp = _version_cmp(a.version, b.version)
            if cmp < 0:
                out.append(DistChange(b.name, a.version, b.version, "upgraded"))
            elif cmp > 0:
                out.append(DistChange(b.name, a.version, b.version, "downgraded"))
            elif a.wheel_sha256 != b.wheel_sha256:
                out.append(DistChange(b.name, a.version, b.version, "rebuilt"))
    return tuple(out)


def _size_deltas(old: Manifest, new: Manifest) -> tuple[SizeDelta, ...]:
    o = {d["path"]: int(d["size"]) for d in sizes_by_top_level(old.files)}
    n = {d["path"]: int(d["size"]) for d in sizes_by_top_level(new.files)}
    deltas = [SizeDelta(p, o.get(p, 0), n.get(p, 0)) for p in o.keys() | n.keys()]
    return tuple(sorted(deltas, key=lambda s: (-abs(s.delta), s.path)))


def _metadata(m: Manifest) -> dict[str, Any]:
    """What, besides the file tree, makes an artifact itself (compression and source kind excluded)."""
    return {
        "entry": f"{m.entry_module}:{m.entry_function}" + (f" (init {m.entry_init})" if m.entry_init else "")
        + (f" init_parameters {json.dumps(m.entry_init_parameters, sort_keys=True)}" if m.entry_init_parameters
           else ""),
        "convention": m.convention + "".join(f" ({k} {v})" for k, v in sorted(m.convention_options.items())),
        "target": m.target,
        "launcher_version": m.launcher_version,
        "packager_version": m.packager_version,
        "format_version": m.format_version,
        "lock_digest": m.requirements.get("lock_digest"),
        "locked": m.requirements.get("locked"),
        "skipped": sorted(f"{s.name}=={s.version}" for s in m.skipped),
        "vendored": sorted(f"{v.name}=={v.version} {v.wheel_sha256}" for v in m.vendored),
        "compiled": m.compiled,
        "slim": {"patterns": m.slim.get("patterns", []), "keep": m.slim.get("keep", [])} if m.slim else None,
        "mtime": m.mtime,
    }


def diff_artifacts(old: ArtifactInfo, new: ArtifactInfo) -> ArtifactDiff:
    """Compare two artifacts' manifests (nothing is unpacked)."""
    om, nm = old.manifest, new.manifest
    of = {f.path: f for f in om.files}
    nf = {f.path: f for f in nm.files}
    a, b = _metadata(om), _metadata(nm)
    meta = tuple(FieldChange(k, a[k], b[k]) for k in a if a[k] != b[k])
    return ArtifactDiff(
        old=old, new=new,
        source=_file_changes(of, nf, "source"),
        vendor=_file_changes(of, nf, "vendor"),
        launcher=_file_changes(of, nf, "launcher"),
        compiled=_file_changes(of, nf, "compiled"),
        distributions=_dist_changes(om, nm),
        sizes=_size_deltas(om, nm),
        metadata=meta,
    )


@record
class GrowthBudget:
    """How much an artifact may grow from one build to the next: a percentage or a number of bytes.

    Checked on both the unpacked size (what the platform unpacks and imports) and the compressed
    size (what is stored and shipped); either one past the budget fails.
    """

    text: str  # as the user wrote it, for messages
    percent: Optional[float] = None
    bytes: Optional[int] = None

    def limit(self, old: int) -> int:
        """The largest allowed growth over *old* bytes."""
        if self.percent is not None:
            return int(old * self.percent / 100)
        return int(self.bytes or 0)


@record
class GrowthCheck:
    """One measured size (``unpacked`` or ``compressed``) against the budget."""

    measure: str
    old: int
    new: int
    allowed: int

    @property
    def growth(self) -> int:
        return self.new - self.old

    @property
    def ok(self) -> bool:
        return self.growth <= self.allowed

    def to_dict(self) -> dict[str, Any]:
        return {"measure": self.measure, "old": self.old, "new": self.new, "growth": self.growth,
                "allowed": self.allowed, "ok": self.ok}


def _unpacked(m: Manifest) -> int:
    return sum(f.size for f in m.files)


def dist_growth(result: ArtifactDiff) -> list[dict[str, Any]]:
    """Vendored distributions whose unpacked size changed, most grown first (added ones count whole)."""
    old = {canonicalize_name(v.name): v for v in result.old.manifest.vendored}
    new = {canonicalize_name(v.name): v for v in result.new.manifest.vendored}
    rows = []
    for key in old.keys() | new.keys():
        a, b = old.get(key), new.get(key)
        delta = (b.size if b else 0) - (a.size if a else 0)
        if delta:
            rows.append({"name": (b or a).name, "old": a.size if a else 0, "new": b.size if b else 0,  # type: ignore[union-attr]
                         "delta": delta, "version": b.version if b else None})
    return sorted(rows, key=lambda r: (-r["delta"], r["name"]))


def check_growth(result: ArtifactDiff, budget: GrowthBudget) -> tuple[GrowthCheck, ...]:
    """Both sizes against *budget*; :class:`SizeBudgetExceeded` naming what grew most when one is past it."""
    o, n = result.old, result.new
    checks = (
        GrowthCheck("unpacked", _unpacked(o.manifest), _unpacked(n.manifest), budget.limit(_unpacked(o.manifest))),
        GrowthCheck("compressed", o.size, n.size, budget.limit(o.size)),
    )
    failed = [c for c in checks if not c.ok]
    if failed:
        grew = [r for r in dist_growth(result) if r["delta"] > 0][:5]
        named = ", ".join(f"{r['name']} +{r['delta']} B" + (" (new)" if not r["old"] else "") for r in grew)
        what = "; ".join(f"{c.measure} {c.old} -> {c.new} bytes (+{c.growth}, budget +{c.allowed})" for c in failed)
        raise SizeBudgetExceeded(
            f"the artifact grew past the budget of {budget.text}: {what}",
            where=str(n.path),
            hint=(f"grew most: {named}; " if named else "no vendored distribution grew: the source or launcher did; ")
            + "drop or slim what is not needed (ignite-pack inspect --html, --slim), or raise --max-growth",
            details={"checks": [c.to_dict() for c in checks], "grew": grew},
        )
    return checks
