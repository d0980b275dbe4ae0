"""Local lookup: a verified wheel for a pin from a wheelhouse or the cache, before any download.

A cached wheel is used only when its tags suit the target and its sha256 is one the pin
allows (a wheel the cache built: its sdist's), so a corrupted entry is made again, never shipped.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Optional

from packaging.utils import InvalidWheelFilename, parse_wheel_filename
from packaging.version import InvalidVersion, Version

from packager.cache import Cache, discard, noted_sha256, read_sidecar, sha256_file
from packager.deps.profile import TargetProfile
from packager.deps.resolve import Pin
from packager.records import record


@record
class FetchedWheel:
    pin: Pin
    path: Path
    sha256: str
    built_from_sdist: bool = False


def _same_version(a: str, b: str) -> bool:
    try:
        return Version(a) == Version(b)
    except InvalidVersion:
        return a == b


def _candidates(pin: Pin, dirs: Iterable[Path], profile: TargetProfile) -> list[tuple[int, Path]]:
    out: list[tuple[int, Path]] = []
    for d in dirs:
        if not d.is_dir():
            continue
        prefix = pin.name.replace("-", "_").lower()
        for p in d.iterdir():
            if not p.name.endswith(".whl") or not p.name.lower().replace("-", "_").startswith(prefix):
                continue
            try:
                name, version, _build, tags = parse_wheel_filename(p.name)
            except InvalidWheelFilename:
                continue
            if name != pin.name or not _same_version(str(version), pin.version):
                continue
            rank = profile.rank_tags(tags)
            if rank is not None:
                out.append((rank, p))
    return sorted(out)


def _allowed(pin: Pin, digest: str, sdist: Optional[str]) -> bool:
    if not pin.hashes:
        return True
    if f"sha256:{digest}" in pin.hashes:
        return True
    return sdist is not None and f"sha256:{sdist}" in pin.hashes


def find_local(pin: Pin, dirs: Sequence[Path], profile: TargetProfile,
               cache: Optional[Cache] = None) -> Optional[FetchedWheel]:
    """A local wheel for *pin*, verified; with *cache*, its bad entries are dropped to be made again.

    A wheel of the cache's ``built/`` counts only with its sidecar (the sdist's and the wheel's
    sha256) and only when its bytes are the ones recorded there: a lost sidecar or a corrupted
    wheel is rebuilt from the sdist, never shipped and never reported as a hash mismatch.
    """
    for _rank, path in _candidates(pin, dirs, profile):
        ours = cache is not None and path.parent in (cache.wheels, cache.built)
        try:
            if not path.is_file():
                raise IsADirectoryError(path)
            digest = noted_sha256(cache, path) if cache is not None and ours else sha256_file(path)
        except OSError:
            if ours:
                discard(path)  # a directory or an unreadable file where a wheel was: made again
            continue
        sdist, recorded = read_sidecar(path)
        if cache is not None and path.parent == cache.built:
            if sdist is None or recorded != digest:
                continue  # sidecar lost, or the wheel is not the one built: rebuilt from its sdist
        elif sdist is not None and recorded != digest:
            sdist = None
        if _allowed(pin, digest, sdist):
            return FetchedWheel(pin, path, digest, sdist is not None)
    return None
