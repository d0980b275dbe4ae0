"""Metadata stubs: wheels that stand for the image's preinstalled pins in a resolution.

Both resolver backends find them (``--find-links``) next to the cache's built wheels, so a
resolution never downloads what the image already has; they are never installed.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

from packaging.utils import NormalizedName

from packager.cache import Cache, atomic_bytes
from packager.deps.profile import TargetProfile

STUB_BUILD_TAG = "0ignite"


def stub_metadata(profile: TargetProfile, name: NormalizedName, version: str) -> str:
    """The METADATA of a stub: name, version and the distribution's real extras.

    Its base dependencies are left out (the closure is pinned as a whole), but
    each extra keeps its Requires-Dist lines: ``pydantic[email]`` must still
    pull email-validator into the resolution while pydantic stays the image's.
    """
    extras = profile.preinstalled_extras.get(name, {})
    lines = ["Metadata-Version: 2.1", f"Name: {name}", f"Version: {version}"]
    lines += [f"Provides-Extra: {e}" for e in sorted(extras)]
    lines += [f"Requires-Dist: {r}" for r in dict.fromkeys(r for e in sorted(extras) for r in extras[e])]
    return "\n".join(lines) + "\n"


def ensure_stubs(profile: TargetProfile, cache: Cache) -> Path:
    """Metadata-only wheels standing for the preinstalled pins.

    A stub declares the distribution's extras but no base dependencies (see
    :func:`stub_metadata`). Tagged with the target's best tag plus a build tag, a stub
    wins pip's tie-break against the real wheel of the same version: resolution
    never downloads numpy or pandas just to learn what the image already has,
    and works offline. Stubs are never installed: preinstalled pins are skipped.
    """
    stubs = cache.root / "stubs" / profile.digest[:16]
    tag = f"{profile.implementation}{profile.python_version.replace('.', '')}-{profile.abi}-{profile.platforms[0]}"
    for name, version in profile.preinstalled.items():
        dist = name.replace("-", "_")
        path = stubs / f"{dist}-{version}-{STUB_BUILD_TAG}-{tag}.whl"
        if path.is_file():
            continue
        info = f"{dist}-{version}.dist-info"
        files = {
            f"{info}/METADATA": stub_metadata(profile, name, version),
            f"{info}/WHEEL": f"Wheel-Version: 1.0\nGenerator: ignite-pack\nRoot-Is-Purelib: false\nTag: {tag}\nBuild: {STUB_BUILD_TAG}\n",
            f"{info}/RECORD": "",
        }
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as zf:
            for p, c in files.items():
                zf.writestr(zipfile.ZipInfo(p, date_time=(1980, 1, 1, 0, 0, 0)), c)
        atomic_bytes(path, buf.getvalue())
    return stubs
