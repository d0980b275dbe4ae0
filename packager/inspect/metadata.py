"""What the artifact's vendored ``*.dist-info/METADATA`` say: license, requirements on the target.

Shared by the SBOM, ``inspect --why`` and the size map, which all read the artifact alone.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Optional

from packaging.markers import InvalidMarker, UndefinedEnvironmentName
from packaging.metadata import parse_email
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from packager.artifact.manifest import VENDOR_DIR
from packager.artifact.tarball import iter_members
from packager.deps.profile import load_profile
from packager.errors import IgniteError

#: A License field longer than this (or on several lines) is the license's full text, not its name.
_SHORT_LICENSE = 100


def license_of(meta: Mapping[str, Any]) -> Optional[tuple[str, str]]:
    """License-Expression, else a short License field, else the License classifiers."""
    expr = meta.get("license_expression") or meta.get("license-expression")
    if isinstance(expr, str) and expr.strip():
        return ("expression", expr.strip())
    text = meta.get("license")
    if isinstance(text, str):
        text = text.strip()
        if text and text.upper() not in ("UNKNOWN", "NONE") and "\n" not in text and len(text) <= _SHORT_LICENSE:
            return ("name", text)
    names = sorted({c.split("::")[-1].strip() for c in meta.get("classifiers") or []
                    if c.startswith("License ::") and c.count("::") >= 2})
    if names:
        return ("name", " OR ".join(names)) if len(names) > 1 else ("name", names[0])
    return None


def requires_on_target(meta: Mapping[str, Any], markers: Optional[dict[str, str]]) -> tuple[str, ...]:
    """Requires-Dist names whose markers hold on the target (all unconditional ones when unknown)."""
    out: set[str] = set()
    for line in meta.get("requires_dist") or []:
        try:
            req = Requirement(str(line))
        except InvalidRequirement:
            continue
        if req.marker is not None:
            if markers is None:
                continue
            try:
                if not req.marker.evaluate({**markers, "extra": ""}):
                    continue
            except (InvalidMarker, UndefinedEnvironmentName):
                continue
        out.add(canonicalize_name(req.name))
    return tuple(sorted(out))


def target_markers(target: Mapping[str, Any]) -> Optional[dict[str, str]]:
    try:
        return dict(load_profile(str(target.get("profile") or "python3.12")).markers)
    except IgniteError:
        return None


def read_metadata(path: Path) -> dict[str, dict[str, Any]]:
    """canonical name -> parsed METADATA of every vendored distribution (streamed, nothing on disk)."""
    out: dict[str, dict[str, Any]] = {}
    for m in iter_members(path):
        parts = m.path.split("/")
        if len(parts) == 3 and parts[0] == VENDOR_DIR and parts[1].endswith(".dist-info") and parts[2] == "METADATA":
            raw, unparsed = parse_email(m.data)
            meta: dict[str, Any] = {**{k.lower(): v for k, v in unparsed.items()}, **raw}
            name = meta.get("name") or parts[1][: -len(".dist-info")].rsplit("-", 1)[0]
            out[canonicalize_name(str(name))] = meta
    return out
