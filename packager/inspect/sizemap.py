"""Where an artifact's size goes: a tree of its files with unpacked and compressed bytes.

The tree is ``source`` / ``launcher`` / ``vendor`` -> one node per vendored distribution (its
files found through its own ``RECORD``) -> directories -> files, read from the artifact alone.

Compressed bytes are measured, not estimated from ratios: the gzip stream is inflated in small
steps while recording how much of the compressed input was consumed at each output offset, and
every tar member is charged the compressed bytes between its header and the next member's. Each
segment (a distribution, the source, the launcher) is a full-flushed deflate run of its own
(:mod:`packager.artifact.tarball`), so a distribution's figure is exact to one step
(:data:`STEP` bytes); a single file's is exact to a step as well, which for a tiny file is most
of its size: the page says so.
"""

from __future__ import annotations

import bisect
import csv
import io
import tarfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from packaging.utils import canonicalize_name

from packager.artifact.manifest import LAUNCHER_DIR, MANIFEST_NAME, VENDOR_DIR, Manifest
from packager.deps.slim import SlimSettings
from packager.errors import VerifyError
from packager.inspect.inspection import inspect_artifact
from packager.inspect.metadata import license_of, read_metadata
from packager.inspect.why import Graph, chains_to, dependency_graph
from packager.records import record

#: Compressed bytes fed to the inflater per step: the resolution of every compressed figure.
STEP = 256


@dataclass
class Node:
    """One box of the treemap."""

    name: str
    kind: str  # "root" | "area" | "dist" | "dir" | "file"
    size: int = 0  # unpacked bytes
    compressed: int = 0
    files: int = 0
    children: dict[str, Node] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)

    def child(self, name: str, kind: str) -> Node:
        node = self.children.get(name)
        if node is None:
            node = self.children[name] = Node(name, kind)
        return node

    def add(self, size: int, compressed: int) -> None:
        self.size += size
        self.compressed += compressed
        self.files += 1

    def to_dict(self) -> dict[str, Any]:
        """Compact keys: a 3,000-file artifact's page stays well under a megabyte of data."""
        out: dict[str, Any] = {"n": self.name, "k": self.kind, "s": self.size, "c": self.compressed}
        if self.kind != "file":
            out["f"] = self.files
        if self.info:
            out["i"] = self.info
        if self.children:
            out["ch"] = [c.to_dict() for c in sorted(self.children.values(), key=lambda c: (-c.size, c.name))]
        return out


@record
class SizeMap:
    """The tree plus what the page lists beside it."""

    artifact: str
    sha256: str
    compressed_total: int
    root: Node
    dists: tuple[dict[str, Any], ...]
    preinstalled: tuple[dict[str, Any], ...]
    slim_applied: bool

    def to_dict(self) -> dict[str, Any]:
        return {"artifact": self.artifact, "sha256": self.sha256, "compressed": self.compressed_total,
                "step": STEP, "slim_applied": self.slim_applied, "tree": self.root.to_dict(),
                "dists": list(self.dists), "preinstalled": list(self.preinstalled)}


def _inflate_with_offsets(raw: bytes) -> tuple[bytes, list[int], list[int]]:
    """The tar stream and checkpoints: ``outs[i]`` bytes of tar came from ``ins[i]`` compressed bytes."""
    d = zlib.decompressobj(16 + zlib.MAX_WBITS)
    out = bytearray()
    outs, ins = [0], [0]
    try:
        for pos in range(0, len(raw), STEP):
            out += d.decompress(raw[pos:pos + STEP])
            outs.append(len(out))
            ins.append(min(pos + STEP, len(raw)))
            if d.eof:
                break
    except zlib.error as exc:
        raise VerifyError(f"artifact is corrupt: {exc}", hint="rebuild it") from exc
    return bytes(out), outs, ins


def _compressed_at(offset: int, outs: list[int], ins: list[int]) -> int:
    """Compressed bytes consumed when the inflater had produced *offset* bytes of tar."""
    return ins[min(bisect.bisect_left(outs, offset), len(ins) - 1)]


def _members(tar: bytes, outs: list[int], ins: list[int]) -> Iterator[tuple[str, bytes, int]]:
    """(path, data, compressed bytes) of every regular file, headers and padding included in the last."""
    with tarfile.open(fileobj=io.BytesIO(tar), mode="r:") as tf:
        infos = tf.getmembers()
        starts = [i.offset for i in infos] + [len(tar)]
        for idx, info in enumerate(infos):
            if not info.isfile():
                continue
            fh = tf.extractfile(info)
            data = fh.read() if fh is not None else b""
            comp = _compressed_at(starts[idx + 1], outs, ins) - _compressed_at(starts[idx], outs, ins)
            yield info.name, data, comp


def _record_owners(files: dict[str, bytes], manifest: Manifest) -> dict[str, str]:
    """``vendor/``-relative path -> the vendored distribution (display name) whose RECORD lists it."""
    names = {canonicalize_name(v.name): v.name for v in manifest.vendored}
    owners: dict[str, str] = {}
    for path, data in files.items():
        parts = path.split("/")
        if len(parts) != 3 or parts[0] != VENDOR_DIR or not parts[1].endswith(".dist-info") or parts[2] != "RECORD":
            continue
        dist = names.get(canonicalize_name(parts[1][: -len(".dist-info")].rsplit("-", 1)[0]))
        if dist is None:
            continue
        for row in csv.reader(io.StringIO(data.decode("utf-8", "replace"))):
            if row:
                owners[row[0]] = dist
        owners[f"{parts[1]}/RECORD"] = dist
    return owners


def _why_text(graph: Graph, name: str) -> list[str]:
    chains, more = chains_to(graph, canonicalize_name(name), limit=3)
    return [c.text(graph) for c in chains] + ([f"… and {more} more"] if more else [])


def size_map(path: Path) -> SizeMap:
    """The size tree of the artifact at *path* (offline; the artifact is read into memory once)."""
    info = inspect_artifact(path)
    m = info.manifest
    raw = Path(path).read_bytes()
    tar, outs, ins = _inflate_with_offsets(raw)
    members = list(_members(tar, outs, ins))
    owners = _record_owners({p: d for p, d, _ in members if p.endswith("/RECORD")}, m)
    slim_applied = bool(m.slim)
    matcher = SlimSettings(tests=True).matcher()
    root = Node(Path(path).name, "root")
    vendor_area = root.child("vendor", "area")
    dist_nodes: dict[str, Node] = {}
    would_drop: dict[str, list[int]] = {}
    for p, data, comp in members:
        size = len(data)
        if p == MANIFEST_NAME:
            root.child(MANIFEST_NAME, "file").add(size, comp)
            root.add(size, comp)
            continue
        if p.startswith(VENDOR_DIR + "/"):
            rel_path = p[len(VENDOR_DIR) + 1:]
            dist = owners.get(rel_path, "(not in any RECORD)")
            parent = dist_nodes.get(dist)
            if parent is None:
                parent = dist_nodes[dist] = vendor_area.child(dist, "dist")
            rel = rel_path.split("/")
            if not slim_applied and matcher.drops(rel_path):
                acc = would_drop.setdefault(dist, [0, 0])
                acc[0] += 1
                acc[1] += size
            chain = [root, vendor_area, parent]
        elif p.startswith(LAUNCHER_DIR + "/"):
            parent = root.child(LAUNCHER_DIR, "area")
            rel = p[len(LAUNCHER_DIR) + 1:].split("/")
            chain = [root, parent]
        else:
            parent = root.child("source", "area")
            rel = p.split("/")
            chain = [root, parent]
        node = parent
        for part in rel[:-1]:
            node = node.child(part, "dir")
            chain.append(node)
        node.child(rel[-1], "file").add(size, comp)
        for n in chain:
            n.add(size, comp)
    if not vendor_area.children:
        del root.children["vendor"]
    graph = dependency_graph(path) if m.vendored or m.skipped else None
    metas = read_metadata(path) if m.vendored else {}
    slim_dropped = (m.slim or {}).get("dropped", {})
    dists = []
    for v in sorted(m.vendored, key=lambda v: canonicalize_name(v.name)):
        dnode = dist_nodes.get(v.name)
        meta = metas.get(canonicalize_name(v.name), {})
        lic = license_of(meta)
        d: dict[str, Any] = {
            "name": v.name, "version": v.version, "size": dnode.size if dnode else v.size,
            "compressed": dnode.compressed if dnode else 0, "files": dnode.files if dnode else v.files,
            "license": lic[1] if lic else None, "built_from_sdist": v.built_from_sdist,
            "why": _why_text(graph, v.name) if graph else [],
        }
        if slim_applied:
            dropped = slim_dropped.get(v.name) or {}
            d["slim"] = {"applied": True, "files": int(dropped.get("files", 0)), "bytes": int(dropped.get("bytes", 0))}
        else:
            files, size = would_drop.get(v.name, [0, 0])
            d["slim"] = {"applied": False, "files": files, "bytes": size}
        dists.append(d)
        if dnode is not None:
            dnode.info = {k: d[k] for k in ("version", "license", "why", "slim") if d.get(k) is not None}
    preinstalled = tuple(
        {"name": s.name, "version": s.version, "reason": s.reason,
         "why": _why_text(graph, s.name) if graph else []}
        for s in sorted(m.skipped, key=lambda s: canonicalize_name(s.name))
    )
    return SizeMap(artifact=str(path), sha256=info.sha256, compressed_total=len(raw), root=root,
                   dists=tuple(dists), preinstalled=preinstalled, slim_applied=slim_applied)

