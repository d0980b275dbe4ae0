"""Metadata stubs: wheels that stand for the image's preinstalled pins in a resolution.

Both resolver backends find them (``--find-links``) next to the cache's built wheels, so a
resolution never downloads what the image already has; they are never installed.
"""

from __future__ import annotations

from pathlib import Path

from packaging.utils import NormalizedName

from packager.cache import Cache, atomic_bytes
from packager.deps.profile import TargetProfile
from packager.profilefiles import shipped_stubs_dir

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


def stub_wheels(profile: TargetProfile) -> dict[str, bytes]:
    """The profile's stubs: file name -> wheel bytes (the same bytes on every host and run).

    A stub declares the distribution's extras but no base dependencies (see
    :func:`stub_metadata`). Tagged with the target's best tag plus a build tag, a stub
    wins pip's tie-break against the real wheel of the same version: resolution
    never downloads numpy or pandas just to learn what the image already has,
    and works offline. Stubs are never installed: preinstalled pins are skipped.
    """
    import io
    import zipfile  # (~2-7 ms of import: only where stubs are made, not for the built-in profiles)

    tag = _tag(profile)
    wheels: dict[str, bytes] = {}
    for name, version in profile.preinstalled.items():
        info = f"{name.replace('-', '_')}-{version}.dist-info"
        files = {
            f"{info}/METADATA": stub_metadata(profile, name, version),
            f"{info}/WHEEL": f"Wheel-Version: 1.0\nGenerator: ignite-pack\nRoot-Is-Purelib: false\nTag: {tag}\nBuild: {STUB_BUILD_TAG}\n",
            f"{info}/RECORD": "",
        }
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as zf:
            for p, c in files.items():
                zf.writestr(zipfile.ZipInfo(p, date_time=(1980, 1, 1, 0, 0, 0)), c)
        wheels[_file_name(profile, name, version)] = buf.getvalue()
    return wheels


def ensure_stubs(profile: TargetProfile, cache: Cache) -> Path:
    """The directory of the profile's stubs (:func:`stub_wheels`), for ``--find-links``.

    A built-in profile's are shipped with the packager (made by ``python -m
    packager.deps.profiles.generate --twins``, in a directory named by the TOML's sha256,
    like the cache's): a cold build writes none, and the directory is known before anything
    is imported (:mod:`packager.prestart`). Another profile's are written to the cache once.
    """
    shipped = shipped_stubs_dir(profile.digest)
    if profile.digest and shipped.is_dir():
        return shipped
    stubs = cache.root / "stubs" / profile.digest[:16]
    missing = {_file_name(profile, n, v) for n, v in profile.preinstalled.items()}
    missing = {name for name in missing if not (stubs / name).is_file()}
    if missing:
        for name, data in stub_wheels(profile).items():
            if name in missing:
                atomic_bytes(stubs / name, data)
    return stubs


def _tag(profile: TargetProfile) -> str:
    return f"{profile.implementation}{profile.python_version.replace('.', '')}-{profile.abi}-{profile.platforms[0]}"


def _file_name(profile: TargetProfile, name: str, version: str) -> str:
    return f"{name.replace('-', '_')}-{version}-{STUB_BUILD_TAG}-{_tag(profile)}.whl"
