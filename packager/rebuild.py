"""``ignite-pack verify ARTIFACT --rebuild SOURCE``: what an independent rebuilder runs.

SOURCE is built again with the settings ARTIFACT's manifest records (profile, convention,
entry, init, slim, compile, level, mtime, the distributions vendored despite the image having
them), into a temporary cache unless one is given, and the two files are compared byte for
byte. When they differ, the first differing members are named (path, and on which side it is
missing or how it differs) with the likely cause: another source file, another lock, another
packager or compressor version, or the same files compressed differently.
"""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

from packager import __version__
from packager.artifact.manifest import LAUNCHER_DIR, MANIFEST_NAME, VENDOR_DIR, FileRecord, Manifest
from packager.build import build
from packager.deps.indexconfig import IndexConfig
from packager.deps.slim import SlimSettings
from packager.errors import IgniteError, VerifyError
from packager.options import BuildOptions
from packager.records import field, record
from packager.source.checks import EntryPoint

if TYPE_CHECKING:
    from packager.runtime import PythonRef

REBUILD_SCHEMA = "ignite-rebuild/1"
#: How many differing members a report names.
SHOWN = 10

Progress = Callable[[str, str], None]


@record
class MemberDifference:
    path: str
    #: ``changed`` (both have it, other bytes or mode), ``only-artifact``, ``only-rebuild``
    side: str
    artifact_sha256: Optional[str] = None
    rebuild_sha256: Optional[str] = None

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "side": self.side, "artifact_sha256": self.artifact_sha256,
                "rebuild_sha256": self.rebuild_sha256}

    def line(self) -> str:
        return {"changed": f"{self.path}: differs",
                "only-artifact": f"{self.path}: only in the artifact",
                "only-rebuild": f"{self.path}: only in the rebuild"}[self.side]


@record
class RebuildReport:
    artifact: str
    source: str
    artifact_sha256: str
    rebuild_sha256: str
    settings: dict[str, Any]
    differences: tuple[MemberDifference, ...] = ()
    total_differences: int = 0
    cause: str = ""
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def identical(self) -> bool:
        return self.artifact_sha256 == self.rebuild_sha256

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": REBUILD_SCHEMA, "ok": self.identical, "identical": self.identical,
            "artifact": self.artifact, "source": self.source,
            "artifact_sha256": self.artifact_sha256, "rebuild_sha256": self.rebuild_sha256,
            "settings": self.settings,
            "differences": [d.to_dict() for d in self.differences],
            "total_differences": self.total_differences, "cause": self.cause or None,
        }


def recorded_settings(m: Manifest) -> dict[str, Any]:
    """The build settings a manifest records, as ``BuildOptions`` fields (and the env's SOURCE_DATE_EPOCH)."""
    from packager.deps.profile import load_profile

    profile = str(m.target.get("profile") or "python3.12")
    try:
        preinstalled = set(load_profile(profile).preinstalled)
    except IgniteError:  # an unknown profile is reported by the build itself
        preinstalled = set()
    slim = SlimSettings.from_dict(m.slim) if m.slim else SlimSettings()
    return {
        "profile": profile,
        "convention": m.convention,
        "entry": f"{m.entry_module}:{m.entry_function}",
        "init": m.entry_init,
        "init_params": dict(m.entry_init_parameters),
        "lambda_payload": m.convention_options.get("payload"),
        # the dependency file is looked up again in SOURCE unless the build was told one inside it
        "requirements": m.requirements.get("file") if m.requirements.get("in_source") else None,
        "groups": list(m.requirements.get("groups") or []),
        "slim": slim.to_dict() if slim.active else None,
        "compile": m.compiled,
        "level": int(m.compression.get("level") or 4),
        "mtime": m.mtime,
        "vendor_anyway": sorted(v.name for v in m.vendored if v.name in preinstalled),
        "lock_digest": m.requirements.get("lock_digest"),
        "packager": m.packager_version,
        "deflate": m.compression.get("deflate"),
    }


def _differences(old: Manifest, new: Manifest, old_bytes: bytes, new_bytes: bytes,
                 ) -> list[MemberDifference]:
    """Every differing member, in the artifact's order (then the rebuild's extra ones)."""
    out: list[MemberDifference] = []
    if old_bytes != new_bytes:
        out.append(MemberDifference(MANIFEST_NAME, "changed", hashlib.sha256(old_bytes).hexdigest(),
                                    hashlib.sha256(new_bytes).hexdigest()))
    theirs: dict[str, FileRecord] = {f.path: f for f in new.files}
    mine = {f.path for f in old.files}
    for f in old.files:
        other = theirs.get(f.path)
        if other is None:
            out.append(MemberDifference(f.path, "only-artifact", f.sha256, None))
        elif (other.sha256, other.mode) != (f.sha256, f.mode):
            out.append(MemberDifference(f.path, "changed", f.sha256, other.sha256))
    out += [MemberDifference(f.path, "only-rebuild", None, f.sha256) for f in new.files if f.path not in mine]
    return out


def likely_cause(old: Manifest, new: Manifest, diffs: list[MemberDifference]) -> str:
    files = [d for d in diffs if d.path != MANIFEST_NAME]
    source = [d.path for d in files if not d.path.startswith((f"{VENDOR_DIR}/", f"{LAUNCHER_DIR}/", "__pycache__/"))
              and "/__pycache__/" not in d.path]
    if old.packager_version != new.packager_version:
        return (f"different packager version: the artifact was built by {old.packager_version}, "
                f"this is {new.packager_version}")
    if old.compression.get("deflate") != new.compression.get("deflate"):
        return (f"different compressor: the artifact's is {old.compression.get('deflate')}, "
                f"this packager's {new.compression.get('deflate')}")
    if source:
        return "different source file(s): " + ", ".join(source[:SHOWN])
    if old.requirements.get("lock_digest") != new.requirements.get("lock_digest") or \
            [(v.name, v.version, v.wheel_sha256) for v in old.vendored] != \
            [(v.name, v.version, v.wheel_sha256) for v in new.vendored]:
        return "different lock: other distributions or wheels were vendored (pass the same --lock, or a lock in SOURCE)"
    if files:
        return "different vendored or launcher files from the same wheels: a different packager build"
    if diffs:
        a, b = old.to_dict(), new.to_dict()
        return "different manifest: " + ", ".join(sorted(k for k in a.keys() | b.keys() if a.get(k) != b.get(k)))
    return "same files and manifest, other compressed bytes: a different compressor or packager version"


def verify_rebuild(
    artifact: Path,
    source: Path,
    *,
    cache_dir: Optional[Path] = None,
    lock: Optional[Path] = None,
    wheelhouses: tuple[Path, ...] = (),
    index: Optional[IndexConfig] = None,
    target_interpreter: PythonRef = None,
    progress: Optional[Progress] = None,
) -> RebuildReport:
    """Rebuild *source* with *artifact*'s recorded settings and compare (see the module doc)."""
    from packager.artifact.tarball import artifact_digest, iter_members, read_manifest

    old = read_manifest(artifact)
    settings = recorded_settings(old)
    old_sha, _ = artifact_digest(artifact)
    with tempfile.TemporaryDirectory(prefix="ignite-rebuild-") as tmp:
        out = Path(tmp) / "rebuild.tar.gz"
        options = BuildOptions(
            source=source, output=out, entry=EntryPoint.parse(settings["entry"]),
            convention=settings["convention"], init=settings["init"],
            init_params=tuple(settings["init_params"].items()), lambda_payload=settings["lambda_payload"],
            requirements=Path(source) / settings["requirements"] if settings["requirements"] else None,
            groups=tuple(settings["groups"]), profile=settings["profile"],
            target_interpreter=target_interpreter, level=settings["level"],
            env={"SOURCE_DATE_EPOCH": str(settings["mtime"])},
            index=index or IndexConfig(), cache_dir=cache_dir or Path(tmp) / "cache",
            wheelhouses=wheelhouses, lock=lock, vendor_anyway=frozenset(settings["vendor_anyway"]),
            compile=settings["compile"],
            slim=SlimSettings.from_dict(settings["slim"]) if settings["slim"] else SlimSettings(),
        )
        result = build(options, progress or (lambda stage, message: None))
        new = result.manifest
        if result.sha256 == old_sha:
            return RebuildReport(str(artifact), str(source), old_sha, result.sha256, settings)

        def manifest_bytes(path: Path) -> bytes:
            for m in iter_members(path):
                return m.data if m.path == MANIFEST_NAME else b""
            return b""

        diffs = _differences(old, new, manifest_bytes(artifact), manifest_bytes(out))
    return RebuildReport(str(artifact), str(source), old_sha, result.sha256, settings,
                         tuple(diffs[:SHOWN]), len(diffs), likely_cause(old, new, diffs))


def rebuild_error(report: RebuildReport) -> VerifyError:
    """The exit-11 error for a rebuild that differs (``details`` is the report)."""
    shown = "; ".join(d.line() for d in report.differences) or "no member differs"
    more = report.total_differences - len(report.differences)
    return VerifyError(
        f"the rebuild differs from the artifact ({report.artifact_sha256[:16]}… vs "
        f"{report.rebuild_sha256[:16]}…): {shown}" + (f" (and {more} more)" if more > 0 else "")
        + f". Likely cause: {report.cause}",
        where=report.artifact,
        hint="rebuild from the exact source and lock the artifact was made from, with packager "
             f"{report.settings.get('packager')} (this is {__version__})",
        details=report.to_dict(),
    )
