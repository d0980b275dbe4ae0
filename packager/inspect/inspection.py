"""Offline inspection and verification of an artifact, without unpacking to disk.

:func:`inspect_artifact` reads only the manifest (the head of the file) and
digests the file; :meth:`ArtifactInfo.to_dict` is the versioned report that
``ignite-pack inspect --json`` prints (schema ``packager/schemas/inspect.json``).

:func:`verify_artifact` streams every member and checks it against the
manifest; with ``strict=True`` it also checks each vendored distribution's
``RECORD`` against what ships, the vendored wheels still in a local cache or
wheelhouse, precompiled ``.pyc`` files, and that the entry parses as Python of the target's version.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import posixpath
import tarfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import InvalidVersion, Version

from packager.artifact.manifest import LAUNCHER_DIR, MANIFEST_NAME, VENDOR_DIR, FileRecord, Manifest
from packager.artifact.tarball import artifact_digest, iter_members, read_manifest
from packager.deps.slim import SlimSettings
from packager.errors import ArtifactError, HandlerError, VerifyError
from packager.records import field, record

if TYPE_CHECKING:
    from packager.artifact.tarball import AnySegment
    from packager.runtime import PythonRef

INSPECT_SCHEMA = "ignite-inspect/1"
VERIFY_SCHEMA = "ignite-verify/1"

#: pyc header of CPython 3.12 (``importlib.util.MAGIC_NUMBER`` there); flags 0b01 = unchecked hash (PEP 552).
PYC_MAGIC_312 = b"\xcb\r\r\n"
#: The magic number of each target Python version (what its importlib accepts, and nothing else).
PYC_MAGIC = {"3.12": PYC_MAGIC_312, "3.13": b"\xf3\r\r\n"}
PYC_UNCHECKED_HASH = 0b01


def top_level(path: str) -> str:
    """``vendor/x/y.py`` -> ``vendor/``; ``handler.py`` -> ``handler.py``."""
    head, sep, _ = path.partition("/")
    return head + "/" if sep else head


def is_compiled_path(path: str) -> bool:
    return path.endswith(".pyc") and "/__pycache__/" in f"/{path}"


def sizes_by_top_level(files: Iterable[FileRecord]) -> list[dict[str, Any]]:
    """Uncompressed bytes and file count per top-level entry, largest first."""
    acc: dict[str, list[int]] = {}
    for f in files:
        slot = acc.setdefault(top_level(f.path), [0, 0])
        slot[0] += f.size
        slot[1] += 1
    return [{"path": p, "size": s, "files": n} for p, (s, n) in sorted(acc.items(), key=lambda kv: (-kv[1][0], kv[0]))]


def size_contributors(manifest: Manifest, limit: int = 10) -> dict[str, list[dict[str, Any]]]:
    """The biggest contributors to an artifact: top-level entries and vendored distributions."""
    dists = sorted(manifest.vendored, key=lambda v: (-v.size, v.name))
    return {
        "top_level": sizes_by_top_level(manifest.files)[:limit],
        "vendored": [{"name": v.name, "version": v.version, "size": v.size, "files": v.files} for v in dists[:limit]],
    }


def _fmt(n: float) -> str:
    for unit in ("B", "kB", "MB"):
        if abs(n) < 1000:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} GB"


def budget_error(exc: ArtifactError, manifest: Manifest, segments: Sequence[AnySegment], level: int) -> ArtifactError:
    """The size-budget error, with the biggest contributors (compressed, per segment) named."""
    from packager.artifact.tarball import CompressedSegment, compress_segment

    comp: list[dict[str, Any]] = []
    for seg in segments:
        n = (seg if isinstance(seg, CompressedSegment) else compress_segment(seg, manifest.mtime, level)).size
        comp.append({"name": seg.name, "compressed": n, "size": sum(r.size for r in seg.records)})
    comp.sort(key=lambda c: (-c["compressed"], c["name"]))
    size, budget = int(exc.details["size"]), int(exc.details["max_size"])
    top = ", ".join(f"{c['name']} {_fmt(c['compressed'])}" for c in comp[:5])
    return ArtifactError(
        f"artifact would be {_fmt(size)} ({size} bytes), over the budget of {_fmt(budget)} ({budget} bytes); "
        f"biggest contributors (compressed): {top}",
        where=exc.where,
        hint="drop or replace the largest vendored distributions (a preinstalled one is free: see "
             "`ignite-pack inspect`), remove large data files from the source, or raise --max-size",
        details={"size": size, "max_size": budget, "over_by": size - budget,
                 "segments": comp[:10], **size_contributors(manifest)},
    )


def slim_summary(m: Manifest) -> Optional[dict[str, Any]]:
    """What ``--slim`` saved, for ``inspect``: None when the artifact was not slimmed.

    ``ratio`` is the unpacked size of the artifact over what it would have been
    without slim (manifest excluded).
    """
    if not m.slim:
        return None
    dropped: dict[str, Any] = m.slim.get("dropped", {})
    saved = sum(int(d.get("bytes", 0)) for d in dropped.values())
    shipped = sum(f.size for f in m.files)
    return {
        "patterns": list(m.slim.get("patterns", [])),
        "keep": list(m.slim.get("keep", [])),
        "dropped_files": sum(int(d.get("files", 0)) for d in dropped.values()),
        "dropped_bytes": saved,
        "ratio": round(shipped / (shipped + saved), 4) if shipped + saved else 1.0,
        "distributions": [
            {"name": name, "files": int(d.get("files", 0)), "bytes": int(d.get("bytes", 0))}
            for name, d in sorted(dropped.items(), key=lambda kv: (-int(kv[1].get("bytes", 0)), kv[0]))
        ],
    }


@record
class ArtifactInfo:
    """An artifact's manifest plus the digest and size of the file itself."""

    path: Path
    sha256: str
    size: int
    manifest: Manifest

    @property
    def lock_digest(self) -> Optional[str]:
        d = self.manifest.requirements.get("lock_digest")
        return str(d) if d else None

    def to_dict(self) -> dict[str, Any]:
        """The ``ignite-inspect/1`` report (stable; see packager/schemas/inspect.json)."""
        m = self.manifest
        return {
            "schema": INSPECT_SCHEMA,
            "artifact": {"path": str(self.path), "sha256": self.sha256, "size": self.size},
            "format_version": m.format_version,
            "entry": m.entry(),
            "convention": m.convention,
            "target": dict(m.target),
            "packager_version": m.packager_version,
            "launcher_version": m.launcher_version,
            "tree_digest": m.tree_digest,
            "lock_digest": self.lock_digest,
            "requirements": dict(m.requirements),
            "vendored": [
                {"name": v.name, "version": v.version, "wheel": v.wheel, "wheel_sha256": v.wheel_sha256,
                 "files": v.files, "size": v.size, "built_from_sdist": v.built_from_sdist}
                for v in sorted(m.vendored, key=lambda v: (-v.size, v.name))
            ],
            "skipped": [{"name": s.name, "version": s.version, "reason": s.reason} for s in m.skipped],
            "compiled": m.compiled,
            "slim": slim_summary(m),
            "mtime": m.mtime,
            "totals": {"files": len(m.files), "bytes": sum(f.size for f in m.files)},
            "sizes_by_top_level": sizes_by_top_level(m.files),
            "files": [f.to_dict() for f in m.files],
        }


def inspect_artifact(path: Path) -> ArtifactInfo:
    """Read the manifest (the head only) and digest the file."""
    manifest = read_manifest(path)
    sha, size = artifact_digest(path)
    return ArtifactInfo(Path(path), sha, size, manifest)


@record
class VerifyReport:
    """What verification checked."""

    info: ArtifactInfo
    files_checked: int
    strict: bool = False
    checks: tuple[str, ...] = ()
    records_checked: int = 0
    wheels_checked: tuple[str, ...] = ()
    pycs_checked: int = 0
    warnings: tuple[str, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        """The ``ignite-verify/1`` report (see packager/schemas/verify.json)."""
        return {
            "schema": VERIFY_SCHEMA,
            "ok": True,
            "artifact": {"path": str(self.info.path), "sha256": self.info.sha256, "size": self.info.size},
            "strict": self.strict,
            "files_checked": self.files_checked,
            "records_checked": self.records_checked,
            "wheels_checked": list(self.wheels_checked),
            "pycs_checked": self.pycs_checked,
            "checks": list(self.checks),
            "warnings": list(self.warnings),
        }


_REBUILD = "the artifact was modified after it was built; rebuild it"


def verify_artifact(
    path: Path,
    *,
    strict: bool = False,
    target_interpreter: PythonRef = None,
    wheel_dirs: Sequence[Path] = (),
) -> VerifyReport:
    """Recompute every file's sha256 against the manifest; raise on the first mismatch.

    ``strict`` adds the checks of :func:`_strict_checks`; *wheel_dirs* are
    searched (not recursively) for the vendored wheels to compare against.
    """
    info = inspect_artifact(path)
    m = info.manifest
    expected = {f.path: f for f in m.files}
    seen: set[str] = set()
    kept: dict[str, bytes] = {}  # the members strict mode reads again
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
            raise VerifyError("member is not listed in the manifest", where=where, hint=_REBUILD)
        if member.path in seen:
            raise VerifyError("member appears twice", where=where, hint="rebuild the artifact")
        seen.add(member.path)
        digest = hashlib.sha256(member.data).hexdigest()
        if digest != rec.sha256 or len(member.data) != rec.size:
            raise VerifyError(
                f"sha256 mismatch (manifest {rec.sha256[:12]}…, content {digest[:12]}…)",
                where=where, hint=_REBUILD,
            )
        if (member.mode & 0o777) != rec.mode:
            raise VerifyError(
                f"mode {member.mode & 0o777:04o} differs from the manifest's {rec.mode:04o}",
                where=where, hint="rebuild the artifact",
            )
        if strict and _kept_for_strict(member.path, m):
            kept[member.path] = member.data
    missing = sorted(set(expected) - seen)
    if missing:
        raise VerifyError(
            f"{len(missing)} file(s) listed in the manifest are missing", where=f"member {missing[0]!r}",
            hint="the artifact is truncated or was modified; rebuild it",
        )
    if f"{LAUNCHER_DIR}/__main__.py" not in expected:
        raise VerifyError("the launcher is missing", where=f"{LAUNCHER_DIR}/__main__.py", hint="rebuild the artifact")
    entry_file = _entry_file(m, expected)
    checks = ["sha256", "mode", "manifest-complete", "launcher-present", "entry-present"]
    if not strict:
        return VerifyReport(info=info, files_checked=len(seen), checks=tuple(checks))
    return _strict_checks(info, kept, entry_file, checks, target_interpreter, wheel_dirs, len(seen))


def _entry_file(m: Manifest, expected: dict[str, FileRecord]) -> str:
    base = m.entry_module.replace(".", "/")
    for cand in (f"{base}.py", f"{base}/__init__.py"):
        if cand in expected:
            return cand
    raise VerifyError(
        f"the entry module {m.entry_module!r} is not in the artifact", where=f"{base}.py",
        hint="rebuild the artifact",
    )


def _kept_for_strict(path: str, m: Manifest) -> bool:
    if path.startswith(f"{VENDOR_DIR}/") and path.endswith(".dist-info/RECORD") and path.count("/") == 2:
        return True
    if is_compiled_path(path):
        return True
    base = m.entry_module.replace(".", "/")
    return path in (f"{base}.py", f"{base}/__init__.py")


def _record_digest(hex_sha256: str) -> str:
    """A RECORD hash value (urlsafe base64, unpadded) from a hex sha256."""
    return base64.urlsafe_b64encode(bytes.fromhex(hex_sha256)).decode().rstrip("=")


def _safe_relpath(p: str) -> bool:
    return bool(p) and not p.startswith("/") and "\\" not in p and ".." not in p.split("/") and posixpath.normpath(p) == p


def _strict_checks(
    info: ArtifactInfo,
    kept: dict[str, bytes],
    entry_file: str,
    checks: list[str],
    target_interpreter: PythonRef,
    wheel_dirs: Sequence[Path],
    files_checked: int,
) -> VerifyReport:
    m = info.manifest
    expected = {f.path: f for f in m.files}
    warnings: list[str] = []

    # 1. Paths: nothing absolute, no traversal, nothing that is not source, vendor/ or the launcher.
    for f in m.files:
        if not _safe_relpath(f.path):
            raise VerifyError("unsafe path in the manifest", where=f"member {f.path!r}", hint=_REBUILD)
    checks.append("paths")

    # 2. RECORD files: every listed file ships with that hash and size; nothing in vendor/ is unlisted.
    listed: dict[str, str] = {}  # vendor path -> the RECORD that lists it
    records = sorted(p for p in kept if p.endswith(".dist-info/RECORD"))
    dist_infos: dict[NormalizedName, str] = {}  # canonical name -> dist-info dir
    for rec_path in records:
        info_dir = rec_path.rsplit("/", 1)[0]
        stem = info_dir.split("/", 1)[1][: -len(".dist-info")]
        name, _, _version = stem.rpartition("-")
        dist_infos[canonicalize_name(name)] = info_dir
        try:
            rows = list(csv.reader(io.StringIO(kept[rec_path].decode("utf-8"))))
        except (UnicodeDecodeError, csv.Error) as exc:
            raise VerifyError(f"RECORD cannot be read: {exc}", where=f"member {rec_path!r}", hint=_REBUILD) from exc
        for lineno, row in enumerate(rows, 1):
            if not row:
                continue
            where = f"{rec_path}:{lineno}"
            if len(row) != 3:
                raise VerifyError(f"RECORD row has {len(row)} fields, not 3", where=where, hint=_REBUILD)
            rel, hash_, size = row
            full = f"{VENDOR_DIR}/{rel}"
            if not _safe_relpath(rel):
                raise VerifyError(f"RECORD lists a path outside vendor/: {rel!r}", where=where, hint=_REBUILD)
            frec = expected.get(full)
            if frec is None:
                raise VerifyError(f"RECORD lists {rel!r}, which is not in the artifact", where=where, hint=_REBUILD)
            if full in listed:
                raise VerifyError(f"{rel!r} is listed by two RECORD files ({listed[full]})", where=where,
                                  hint=_REBUILD)
            listed[full] = rec_path
            if full == rec_path:
                continue  # RECORD does not hash itself
            algo, _, value = hash_.partition("=")
            if algo != "sha256" or value != _record_digest(frec.sha256):
                raise VerifyError(
                    f"{rel!r} does not match its RECORD hash ({hash_ or 'none'})", where=where,
                    hint="a vendored file was changed after the wheel was installed; rebuild the artifact",
                )
            if size != str(frec.size):
                raise VerifyError(f"{rel!r} is {frec.size} bytes, RECORD says {size}", where=where, hint=_REBUILD)
    pycs = {p for p in kept if is_compiled_path(p)}
    for f in m.files:
        if f.path.startswith(f"{VENDOR_DIR}/") and f.path not in listed and f.path not in pycs:
            raise VerifyError(
                "vendored file is not listed in any distribution's RECORD", where=f"member {f.path!r}",
                hint="something was added to vendor/ after the wheels were installed; rebuild the artifact",
            )
    checks.append("records")

    # 3. Each vendored distribution in the manifest has its dist-info, and vice versa.
    names = {canonicalize_name(v.name): v for v in m.vendored}
    for cname, v in names.items():
        d = dist_infos.get(cname)
        if d is None:
            raise VerifyError(f"vendored {v.name} {v.version} has no .dist-info/RECORD in vendor/",
                              where=f"{VENDOR_DIR}/", hint=_REBUILD)
        if not _same_version(d[: -len(".dist-info")].rsplit("-", 1)[1], v.version):
            raise VerifyError(f"{d} does not match the manifest's {v.name} {v.version}", where=d, hint=_REBUILD)
    for dname, ddir in dist_infos.items():
        if dname not in names:
            raise VerifyError("distribution is in vendor/ but not in the manifest", where=ddir, hint=_REBUILD)
    checks.append("distributions")

    # 4. Slim: nothing that the recorded patterns drop ships (the user's source is never slimmed).
    slim = SlimSettings.from_dict(m.slim) if m.slim else None
    if slim is not None and slim.active:
        matcher = slim.matcher()
        prefix = f"{VENDOR_DIR}/"
        for f in m.files:
            if f.path.startswith(prefix) and not is_compiled_path(f.path) and matcher.drops(f.path[len(prefix):]):
                raise VerifyError("a file that the recorded slim patterns drop is in vendor/",
                                  where=f"member {f.path!r}", hint=_REBUILD)
        checks.append("slim")

    # 5. Vendored wheels still at hand: same sha256, and installing them (with the
    #    recorded slim settings) gives what ships.
    wheels_checked: list[str] = []
    for v in sorted(m.vendored, key=lambda v: v.name):
        wheel = next((Path(d) / v.wheel for d in wheel_dirs if (Path(d) / v.wheel).is_file()), None)
        if wheel is None:
            continue
        from packager.cache import sha256_file
        from packager.deps.install import install_wheel

        digest = sha256_file(wheel)
        if digest != v.wheel_sha256:
            warnings.append(f"{wheel} has sha256 {digest[:12]}…, the manifest records {v.wheel_sha256[:12]}… "
                            "(a different build of the same file name); not compared")
            continue
        for e in install_wheel(wheel, slim).entries:
            frec = expected.get(e.path)
            if frec is None or frec.sha256 != e.record().sha256:
                raise VerifyError(
                    f"{e.path} differs from what {v.wheel} installs", where=f"member {e.path!r}",
                    hint="a vendored file was changed after the wheel was installed; rebuild the artifact",
                )
        wheels_checked.append(v.wheel)
    checks.append("wheels")

    # 6. Precompiled files: only when the manifest says so, each next to its source, the target's
    #    version (its cache tag and magic number), unchecked-hash.
    version = str(m.target.get("python") or "3.12")
    suffix = f".cpython-{version.replace('.', '')}.pyc"
    for p in sorted(pycs):
        data = kept[p]
        where = f"member {p!r}"
        if not m.compiled and not p.startswith(f"{LAUNCHER_DIR}/"):  # the launcher ships its own pycs
            raise VerifyError("a .pyc is in an artifact not built with --compile", where=where, hint=_REBUILD)
        d, _, fname = ("/" + p).rpartition("/__pycache__/")
        stem = fname[: -len(suffix)]
        src = f"{d.lstrip('/')}/{stem}.py".lstrip("/")
        if not fname.endswith(suffix) or src not in expected:
            raise VerifyError(f"{fname} is not the CPython {version} pyc of a file in the artifact", where=where,
                              hint=_REBUILD)
        if data[:4] != PYC_MAGIC.get(version) or int.from_bytes(data[4:8], "little") != PYC_UNCHECKED_HASH:
            raise VerifyError(f"not a CPython {version} unchecked-hash pyc", where=where, hint=_REBUILD)
    if pycs:
        checks.append("pycs")

    # 7. The entry parses as Python of the target's version.
    from packager.source.checks import decode_utf8, parse_for_target, version_tuple
    from packager.source.intake import SourceFile

    sf = SourceFile(entry_file, kept[entry_file])
    try:
        parse_for_target(sf, decode_utf8(sf), target_interpreter, version_tuple(version))
    except HandlerError as exc:
        raise VerifyError(f"the entry does not parse as Python {version}: {exc.message}", where=exc.where or entry_file,
                          hint="rebuild the artifact from a valid source") from exc
    checks.append("entry-parses")

    return VerifyReport(info=info, files_checked=files_checked, strict=True, checks=tuple(checks),
                        records_checked=len(records), wheels_checked=tuple(wheels_checked),
                        pycs_checked=len(pycs), warnings=tuple(warnings))


def _same_version(a: str, b: str) -> bool:
    try:
        return Version(a) == Version(b)
    except InvalidVersion:
        return a == b
