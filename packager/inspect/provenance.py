"""``build --provenance FILE``: an in-toto Statement v1 with an SLSA Provenance v1 predicate.

- subject: the artifact (file name + sha256);
- externalParameters: the source (its name, kind, file sha256 when it is one file, and a
  digest of its tree as shipped) and the settings that shape the artifact (profile, entry,
  convention, init, level, compile, slim, mtime, the lock digest, the index settings without
  credentials or host paths);
- resolvedDependencies: every vendored wheel (purl, file name, sha256, the index it came
  from), the target profile (its digest), the packager, the compressor and the Python that ran
  the build.

Deterministic: the same build gives the same bytes (sorted keys, no timestamp unless
SOURCE_DATE_EPOCH is set, then ``finishedOn`` is that instant). Signing it is the job of
cosign / sigstore (``cosign attest --type slsaprovenance1 --predicate``; docs/reproducibility.md).
"""

from __future__ import annotations

import hashlib
import json
import platform
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Optional

from packager import __version__
from packager.artifact.manifest import LAUNCHER_DIR, VENDOR_DIR, Manifest
from packager.cache import sha256_file
from packager.errors import redact

STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PREDICATE_TYPE = "https://slsa.dev/provenance/v1"
#: What this build was: the template the external parameters fill in.
BUILD_TYPE = "urn:ignite-packager:build-type:artifact/v1"
#: The builder, unless the platform running the build names itself (``IGNITE_BUILDER_ID``).
DEFAULT_BUILDER_ID = "urn:ignite-packager:builder:local"


def _source_files_digest(m: Manifest) -> str:
    """sha256 over (path, mode, sha256) of the user's files as shipped (vendor/, the launcher and bytecode aside)."""
    h = hashlib.sha256()
    for f in sorted(m.files, key=lambda r: r.path):
        if f.path.startswith((f"{VENDOR_DIR}/", f"{LAUNCHER_DIR}/", "__pycache__/")) or "/__pycache__/" in f.path:
            continue
        h.update(f"{f.path}\0{f.mode:o}\0{f.sha256}\n".encode())
    return h.hexdigest()


def _indexes(index_url: Optional[str], extra_index_urls: tuple[str, ...], wheelhouses: int) -> list[str]:
    out = [redact(index_url) if index_url else "default"]
    out += [redact(u) for u in extra_index_urls]
    out += ["wheelhouse"] * bool(wheelhouses)  # a local directory: its path is the host's, not the build's
    return out


def provenance(
    artifact: Path,
    sha256: str,
    m: Manifest,
    *,
    source: Path,
    index_url: Optional[str] = None,
    extra_index_urls: tuple[str, ...] = (),
    wheelhouses: int = 0,
    env: Optional[dict[str, str]] = None,
) -> dict[str, Any]:
    """The statement for *artifact* (its *sha256* and manifest *m*), built from *source*."""
    from packager.artifact.deflate import PINNED_DISTRIBUTION

    env = env or {}
    indexes = _indexes(index_url, extra_index_urls, wheelhouses)
    external: dict[str, Any] = {
        "source": {
            "name": source.resolve().name,
            "kind": m.source.get("kind"),
            "sha256": sha256_file(source) if source.is_file() else None,  # an upload file; None for a directory
            "files_sha256": _source_files_digest(m),
        },
        "profile": m.target.get("profile"),
        "entry": m.entry(),
        "convention": m.convention,
        "compression_level": m.compression.get("level"),
        "compile": m.compiled,
        "slim": {k: m.slim[k] for k in ("tests", "drop", "keep") if k in m.slim} if m.slim else None,
        "mtime": m.mtime,
        "lock_digest": m.requirements.get("lock_digest"),
        "locked": bool(m.requirements.get("locked")),
        "indexes": indexes,
    }
    deflate = m.compression.get("deflate") or {}
    resolved: list[dict[str, Any]] = [
        {
            "uri": f"pkg:pypi/{v.name}@{v.version}",
            "name": v.wheel,
            "digest": {"sha256": v.wheel_sha256},
            "annotations": {"built_from_sdist": v.built_from_sdist, "indexes": indexes},
        }
        for v in sorted(m.vendored, key=lambda v: v.name)
    ]
    resolved += [
        {"uri": f"urn:ignite-packager:profile:{m.target.get('profile')}", "name": "target profile",
         "digest": {"sha256": str(m.target.get("profile_digest") or "")},
         "annotations": {"python": m.target.get("python"), "machine": m.target.get("machine"),
                         "image": m.target.get("image")}},
        {"uri": f"pkg:pypi/ignite-packager@{m.packager_version}", "name": "ignite-packager",
         "annotations": {"launcher": m.launcher_version}},
        {"uri": f"pkg:pypi/{PINNED_DISTRIBUTION}@{deflate.get('version')}", "name": "compressor",
         "annotations": {"library": deflate.get("library"), "version": deflate.get("version")}},
        {"uri": f"pkg:generic/{platform.python_implementation().lower()}@{platform.python_version()}",
         "name": "build python"},
    ]
    metadata: dict[str, Any] = {}
    epoch = (env.get("SOURCE_DATE_EPOCH") or "").strip()
    if epoch.isdigit():
        metadata["finishedOn"] = datetime.fromtimestamp(int(epoch), tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    run_details: dict[str, Any] = {
        "builder": {"id": env.get("IGNITE_BUILDER_ID") or DEFAULT_BUILDER_ID,
                    "version": {"ignite-packager": __version__}},
    }
    if metadata:
        run_details["metadata"] = metadata
    return {
        "_type": STATEMENT_TYPE,
        "subject": [{"name": artifact.name, "digest": {"sha256": sha256}}],
        "predicateType": PREDICATE_TYPE,
        "predicate": {
            "buildDefinition": {
                "buildType": BUILD_TYPE,
                "externalParameters": external,
                "internalParameters": {"format_version": m.format_version},
                "resolvedDependencies": resolved,
            },
            "runDetails": run_details,
        },
    }


def provenance_bytes(statement: dict[str, Any]) -> bytes:
    return (json.dumps(statement, sort_keys=True, indent=2, ensure_ascii=False) + "\n").encode()
