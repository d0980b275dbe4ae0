"""Offline inspection and verification of an artifact, without unpacking to disk."""

from __future__ import annotations

import hashlib
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from packager.artifact import artifact_digest, iter_members, read_manifest
from packager.errors import VerifyError
from packager.manifest import LAUNCHER_DIR, MANIFEST_NAME, Manifest


@dataclass(frozen=True)
class ArtifactInfo:
    """An artifact's manifest plus the digest and size of the file itself."""

    path: Path
    sha256: str
    size: int
    manifest: Manifest

    def to_dict(self) -> dict[str, Any]:
        m = self.manifest
        by_top: dict[str, int] = {}
        for f in m.files:
            top = f.path.split("/", 1)[0] + ("/" if "/" in f.path else "")
            by_top[top] = by_top.get(top, 0) + f.size
        return {
            "artifact": {"path": str(self.path), "sha256": self.sha256, "size": self.size},
            "entry": {"module": m.entry_module, "function": m.entry_function},
            "convention": m.convention,
            "target": m.target,
            "packager_version": m.packager_version,
            "launcher_version": m.launcher_version,
            "tree_digest": m.tree_digest,
            "requirements": m.requirements,
            "vendored": [v.__dict__ for v in m.vendored],
            "skipped": [s.__dict__ for s in m.skipped],
            "compiled": m.compiled,
            "mtime": m.mtime,
            "total_file_bytes": sum(f.size for f in m.files),
            "sizes_by_top_level": dict(sorted(by_top.items(), key=lambda kv: (-kv[1], kv[0]))),
            "files": [f.to_dict() for f in m.files],
        }


def inspect_artifact(path: Path) -> ArtifactInfo:
    """Read the manifest (the head only) and digest the file."""
    manifest = read_manifest(path)
    sha, size = artifact_digest(path)
    return ArtifactInfo(Path(path), sha, size, manifest)


@dataclass(frozen=True)
class VerifyReport:
    """What verification checked."""

    info: ArtifactInfo
    files_checked: int


def verify_artifact(path: Path) -> VerifyReport:
    """Recompute every file's sha256 against the manifest; raise on the first mismatch."""
    info = inspect_artifact(path)
    m = info.manifest
    expected = {f.path: f for f in m.files}
    seen: set[str] = set()
    first = True
    for member in iter_members(path):
        where = f"member {member.path!r}"
        if first:
            first = False
            continue  # the manifest itself, already parsed
        if member.path == MANIFEST_NAME:
            raise VerifyError("a second manifest.json is in the artifact", where=where, hint="rebuild it")
        if member.type not in (tarfile.REGTYPE, tarfile.AREGTYPE):
            raise VerifyError("member is not a regular file", where=where, hint="rebuild the artifact")
        rec = expected.get(member.path)
        if rec is None:
            raise VerifyError("member is not listed in the manifest", where=where,
                              hint="the artifact was modified after it was built; rebuild it")
        if member.path in seen:
            raise VerifyError("member appears twice", where=where, hint="rebuild the artifact")
        seen.add(member.path)
        digest = hashlib.sha256(member.data).hexdigest()
        if digest != rec.sha256 or len(member.data) != rec.size:
            raise VerifyError(
                f"sha256 mismatch (manifest {rec.sha256[:12]}…, content {digest[:12]}…)",
                where=where, hint="the artifact was modified after it was built; rebuild it",
            )
        if (member.mode & 0o777) != rec.mode:
            raise VerifyError(
                f"mode {member.mode & 0o777:04o} differs from the manifest's {rec.mode:04o}",
                where=where, hint="rebuild the artifact",
            )
    missing = sorted(set(expected) - seen)
    if missing:
        raise VerifyError(
            f"{len(missing)} file(s) listed in the manifest are missing", where=f"member {missing[0]!r}",
            hint="the artifact is truncated or was modified; rebuild it",
        )
    if f"{LAUNCHER_DIR}/__main__.py" not in expected:
        raise VerifyError("the launcher is missing", where=f"{LAUNCHER_DIR}/__main__.py", hint="rebuild the artifact")
    base = m.entry_module.replace(".", "/")
    if f"{base}.py" not in expected and f"{base}/__init__.py" not in expected:
        raise VerifyError(
            f"the entry module {m.entry_module!r} is not in the artifact", where=f"{base}.py",
            hint="rebuild the artifact",
        )
    return VerifyReport(info=info, files_checked=len(seen))
