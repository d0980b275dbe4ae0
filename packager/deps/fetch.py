"""Fetch: the target's wheel for every pin, from the cache, a wheelhouse or the index.

The order of the sources, and the errors, are this module's; each source is its own module
(:mod:`~packager.deps.local`, the shared tier here, :mod:`~packager.deps.download`,
:mod:`~packager.deps.sdistbuilder`). A cached wheel is used only when its tags suit the target and its sha256 is
one the pin allows, so a corrupted cache entry is re-downloaded, never shipped.
Downloads go through ``pip download`` (the operator's pip configuration,
proxies and certificates apply) into the cache, renamed into place atomically.
sdist-only packages are built into wheels with ``build``.
"""

from __future__ import annotations

import hashlib
import re
import tempfile
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Optional, Protocol

from packaging.utils import InvalidWheelFilename, canonicalize_name, parse_wheel_filename
from packaging.version import Version

from packager.cache import (
    SDIST_SIDECAR,
    Cache,
    atomic_bytes,
    read_sidecar,
    wheel_object_key,
    write_sidecar,
)
from packager.deps.download import download_direct, warm_up
from packager.deps.indexes import diagnose, saw_no_versions
from packager.deps.local import FetchedWheel, find_local
from packager.deps.piprun import IndexConfig, last_error, missing_distribution, run_pip, target_args
from packager.deps.profile import TargetProfile
from packager.deps.resolve import Pin
from packager.errors import FetchError


class BuildsSdists(Protocol):
    """Builds the wheel of ``spec`` from its sdist into the cache (packager.deps.sdistbuilder)."""

    def __call__(self, spec: str, hashes: Sequence[str] = ...) -> Path: ...


Progress = Callable[[str, str], None]
#: The stages' names, for the callers that take them from here (local lookup, download and sdist
#: builds are packager.deps.local, .download and .sdistbuilder).
__all__ = ["SDIST_SIDECAR", "BuildsSdists", "FetchedWheel", "download_direct", "fetch", "find_local", "warm_up"]


def fetch(pins: Sequence[Pin], profile: TargetProfile, *, index: IndexConfig, cache: Cache,
          build_sdist: BuildsSdists, wheelhouses: Sequence[Path] = (),
          progress: Progress = lambda s, m: None,
          on_ready: Callable[[FetchedWheel], None] = lambda w: None) -> list[FetchedWheel]:
    """A verified wheel for every pin; network only for what no local copy has.

    ``on_ready`` is called with each wheel as soon as it is verified (local ones first,
    downloads as they land, from the download threads), so installing can overlap the
    downloads; the returned list is in the pins' order, as before.
    """
    dirs = [*wheelhouses, cache.wheels, cache.built]
    found: dict[str, FetchedWheel] = {}
    missing: list[Pin] = []
    for pin in pins:
        hit = find_local(pin, dirs, profile, cache)
        if hit:
            found[pin.name] = hit
            on_ready(hit)
        else:
            missing.append(pin)

    if missing and cache.tier is not None and not index.offline:
        missing = _from_tier(missing, cache, dirs, profile, found, on_ready)

    def landed(pin: Pin, path: Path) -> None:
        cache.add_wheel(path)
        path.unlink()
        hit = find_local(pin, dirs, profile, cache)
        if hit is not None:
            found[pin.name] = hit
            on_ready(hit)

    # A wheel the cache built from an sdist and has lost (or holds corrupted): rebuilt from that
    # sdist (its hash is the pin's), as the first build made it; no index has the wheel itself.
    for pin in [p for p in missing if p.from_sdist]:
        progress("fetch", f"the wheel built from the sdist of {pin.name}=={pin.version} is missing or damaged "
                          "in the cache: building it again")
        build_sdist(f"{pin.name}=={pin.version}", pin.hashes)
        hit = find_local(pin, dirs, profile, cache)
        if hit is not None:
            missing.remove(pin)
            found[pin.name] = hit
            on_ready(hit)
    if missing:
        if index.offline:
            names = ", ".join(f"{p.name}=={p.version}" for p in missing[:5])
            raise FetchError(f"offline, and not in the cache or wheelhouse: {names}", where="--offline",
                             hint="run once without --offline to fill the cache, or pass --wheelhouse DIR")
        progress("fetch", f"downloading {len(missing)} wheel(s): "
                 + ", ".join(f"{p.name}=={p.version}" for p in missing[:6]) + (" …" if len(missing) > 6 else ""))
        with tempfile.TemporaryDirectory(prefix="ignite-fetch-") as tmp:
            work = Path(tmp)
            rest = download_direct(missing, work / "dl", index, landed)
            while rest:
                all_hashed = all(p.hashes for p in rest)
                lines = [f"{p.name}=={p.version}" + ("".join(f" --hash={h}" for h in p.hashes) if all_hashed else "")
                         for p in rest]
                (work / "req.txt").write_text("\n".join(lines) + "\n", "utf-8")
                res = run_pip("pip", ["download", "--no-deps", "-d", str(work / "dl"), "-r", str(work / "req.txt"),
                                      *target_args(profile), *index.pip_args(),
                                      *[a for d in wheelhouses for a in ("--find-links", str(d))]], profile)
                if res.returncode == 0:
                    break
                absent = missing_distribution(res.stderr)
                if not absent or saw_no_versions(res.stderr):
                    failure = diagnose([absent[0]] if absent else [p.name for p in rest], index, profile,
                                       where="requirements.txt")
                    if failure:
                        raise failure
                if not absent:
                    changed = "DO NOT MATCH THE HASHES" in res.stderr and any(p.url for p in rest)
                    raise FetchError("download failed:\n" + last_error(res.stderr), where="fetch",
                                     hint=("the index now serves a file whose sha256 differs from the one "
                                           "resolved (a cached resolution): build again with --refresh" if changed
                                           else "check the index settings and the network; hashes must match "
                                                "the lock"))
                # pip stops at the first pin with no wheel for the target: leave that one to the
                # sdist path below and download the others.
                before = len(rest)
                from packager.deps.sdistbuilder import same_name

                rest = [p for p in rest if not same_name(p.name, absent[0])]
                if len(rest) == before:
                    break
            for f in sorted((work / "dl").glob("*.whl")) if (work / "dl").is_dir() else []:
                cache.add_wheel(f)
        for pin in missing:
            if pin.name in found:
                continue
            hit = find_local(pin, dirs, profile, cache)
            if hit is None:
                # No wheel for the target on the index: build the sdist (hash-checked against the pin).
                build_sdist(f"{pin.name}=={pin.version}", pin.hashes)
                hit = find_local(pin, dirs, profile, cache)
            if hit is None:
                resolved = bool(pin.url or pin.from_sdist)  # a lock's pins carry neither
                raise FetchError(
                    f"no wheel of {pin.name}=={pin.version} matching its hashes for the target",
                    where=pin.name,
                    hint=("the index now serves a file whose sha256 differs from the one resolved (cached "
                          "resolution): build again with --refresh" if resolved else
                          "the index served a file whose sha256 is not in the lock; re-lock"),
                )
            found[pin.name] = hit
            on_ready(hit)
    if cache.tier is not None:
        _record_in_tier(cache, [found[p.name] for p in pins])
    return [found[p.name] for p in pins]


def _tier_key(w: FetchedWheel) -> str:
    sdist = read_sidecar(w.path)[0] if w.built_from_sdist else None  # validated hex, or None
    return wheel_object_key("built" if sdist else "wheels", w.pin.name, w.pin.version, w.path.name, w.sha256, sdist)


def _record_in_tier(cache: Cache, wheels: list[FetchedWheel]) -> None:
    """The cache's wheels this build used, for the tier's upload (never a --wheelhouse's own files)."""
    assert cache.tier is not None
    mine = {cache.wheels.resolve(), cache.built.resolve()}
    for w in wheels:
        try:
            if w.path.parent.resolve() in mine:
                cache.tier.record(_tier_key(w), w.path, False)
        except (OSError, ValueError):  # an unreadable sidecar: that wheel is not shared, the build goes on
            continue


def _from_tier(missing: list[Pin], cache: Cache, dirs: Sequence[Path], profile: TargetProfile,
               found: dict[str, FetchedWheel], on_ready: Callable[[FetchedWheel], None]) -> list[Pin]:
    """Wheels missing locally, from the shared tier (in parallel); the pins still missing.

    A candidate must suit the target's tags and the pin's hashes (a built wheel: its sdist's
    hash), and its bytes must match the sha256 its key names; anything else is passed over
    (and counted as rejected), and the index is asked as before.
    """
    from packaging.utils import canonicalize_version

    tier = cache.tier
    assert tier is not None

    def one(pin: Pin) -> Optional[FetchedWheel]:
        version = canonicalize_version(pin.version)
        cands: list[tuple[int, str, str, Optional[str], str]] = []
        for kind in ("wheels", "built"):
            for rel in tier.listing(f"{kind}/{pin.name}/{version}/"):
                parts = rel.split("/")
                sdist = parts[4] if kind == "built" and len(parts) == 6 else None
                if len(parts) != (6 if kind == "built" else 5):
                    continue
                sha, filename = parts[3], parts[-1]
                if not filename.endswith(".whl") or filename.startswith(".") or len(sha) != 64:
                    continue
                try:
                    name, wversion, _b, tags = parse_wheel_filename(filename)
                except InvalidWheelFilename:
                    continue
                if canonicalize_name(name) != canonicalize_name(pin.name) or wversion != Version(pin.version) \
                        or not re.fullmatch(r"[0-9a-f]{64}", sha) or (sdist and not re.fullmatch(r"[0-9a-f]{64}", sdist)):
                    continue  # listed under the pin's prefix, but another project, version or a bad key
                rank = profile.rank_tags(tags)
                if rank is None:
                    continue
                ok = (not pin.hashes or f"sha256:{sha}" in pin.hashes
                      or (sdist is not None and f"sha256:{sdist}" in pin.hashes))
                if ok:
                    cands.append((rank, rel, sha, sdist, filename))
        for _rank, rel, sha, sdist, filename in sorted(cands):
            data = tier.fetch(rel)
            if data is None:
                continue
            if hashlib.sha256(data).hexdigest() != sha:
                tier.rejected(rel)
                continue
            dest = (cache.built if sdist else cache.wheels) / filename
            try:
                if sdist:
                    write_sidecar(dest, sdist, sha)
                atomic_bytes(dest, data)
            except OSError:  # the local cache cannot take it (full, read-only): the index, as without the tier
                return None
            hit = find_local(pin, dirs, profile)
            if hit is not None:
                on_ready(hit)  # from this thread, as downloads do: the segments' lookups run in parallel too
                return hit
        return None

    with ThreadPoolExecutor(max_workers=min(8, len(missing))) as pool:
        got = list(pool.map(one, missing))
    rest: list[Pin] = []
    for pin, hit in zip(missing, got):
        if hit is None:
            rest.append(pin)
        else:
            found[pin.name] = hit
    return rest
