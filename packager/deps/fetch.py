"""Fetch: the target's wheel for every pin, from the cache, a wheelhouse or the index.

A cached wheel is used only when its tags suit the target and its sha256 is
one the pin allows, so a corrupted cache entry is re-downloaded, never shipped.
Downloads go through ``pip download`` (the operator's pip configuration,
proxies and certificates apply) into the cache, renamed into place atomically.
sdist-only packages are built into wheels with ``build``.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import os
import re
import shutil
import ssl
import subprocess
import sys
import tempfile
import threading
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from packaging.utils import InvalidWheelFilename, canonicalize_name, parse_wheel_filename
from packaging.version import InvalidVersion, Version

from packager import __version__
from packager.artifact.tarball import DEFAULT_MTIME
from packager.cache import (
    SDIST_SIDECAR,
    Cache,
    atomic_bytes,
    discard,
    read_sidecar,
    sha256_file,
    wheel_object_key,
    write_sidecar,
)
from packager.deps.indexes import (
    configured_index_urls,
    credentials_for,
    diagnose,
    saw_no_versions,
)
from packager.deps.piprun import (
    IndexConfig,
    last_error,
    missing_distribution,
    out_of_space,
    run_pip,
    target_args,
)
from packager.deps.profile import TargetProfile
from packager.deps.resolve import Pin
from packager.deps.sdistbuild import describe, lend_tools, reproducible_env
from packager.deps.uvresolve import uv_settings
from packager.errors import FetchError, ResolveError, SdistBuildError, SourceError
from packager.runtime import PythonRef, clean_env, host_machine, resolve_python, run_child
from packager.source.intake import Limits, read_source

Progress = Callable[[str, str], None]
__all__ = ["SDIST_SIDECAR", "FetchedWheel", "SdistBuilderImpl", "fetch", "find_local"]


@dataclass(frozen=True)
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


def _same_name(a: str, b: str) -> bool:
    """Do two requirement strings name the same project?"""
    def name(s: str) -> str:
        return canonicalize_name(re.split(r"[\s\[<>=!~;@]", s.strip(), maxsplit=1)[0])
    return name(a) == name(b)


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
            digest = sha256_file(path)
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


def _unpack_sdist(sdist: Path, dest: Path) -> Path:
    """Extract an sdist through the same safe intake as uploads (sdists are untrusted too).

    As tarfile's ``data`` filter (PEP 706) does, a link that resolves inside the sdist is
    followed (written as a copy of its target); an absolute link, one leaving the tree and a
    device are refused, naming the member.
    """
    try:
        tree = read_source(sdist, Limits(max_total_bytes=512 * 1024 * 1024, inner_links=True))
    except SourceError as exc:
        raise SdistBuildError(f"unsafe or unreadable sdist: {exc.where + ': ' if exc.where else ''}{exc.message}",
                              where=sdist.name,
                              hint="this sdist cannot be used; pick another version") from exc
    for f in tree.files:
        target = dest / f.path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(f.data)
        if f.executable:
            os.chmod(target, 0o755)
    tops = {p.split("/", 1)[0] for p in tree.paths}
    return dest / tops.pop() if len(tops) == 1 and (dest / next(iter(tops))).is_dir() else dest


def build_has_uv_installer() -> bool:
    """``python -m build --installer uv`` exists from build 1.1."""
    import importlib.metadata  # ~13 ms of import: only when an sdist is built

    try:
        return Version(importlib.metadata.version("build")) >= Version("1.1")
    except (importlib.metadata.PackageNotFoundError, InvalidVersion):
        return False


def _host_builds_for_target(profile: TargetProfile) -> bool:
    """A C extension can be built here for the target only on Linux of the same architecture."""
    return sys.platform == "linux" and host_machine() == profile.machine


class SdistBuilderImpl:
    """Builds a wheel from a requirement's sdist and files it in the cache's ``built/``."""

    def __init__(self, profile: TargetProfile, index: IndexConfig, cache: Cache,
                 target_interpreter: PythonRef, progress: Progress, uv: Callable[[], Optional[str]] = lambda: None) -> None:
        self.profile, self.index, self.cache = profile, index, cache
        self.target_interpreter, self.progress = target_interpreter, progress
        self._find_uv = uv

    @functools.cached_property
    def uv(self) -> Optional[str]:
        """uv, when it makes build's isolated environment (``--installer uv``; its downloads kept in
        the cache's uv/, a warm build environment after the first sdist). Looked up at the first
        sdist: most builds have none, and the lookup costs ~40 ms of imports."""
        uv = self._find_uv()
        return uv if uv and not self.index.find_links and build_has_uv_installer() else None

    def __call__(self, spec: str, hashes: Sequence[str] = ()) -> Path:
        with tempfile.TemporaryDirectory(prefix="ignite-sdist-") as tmp:
            work = Path(tmp)
            req_file = work / "req.txt"
            req_file.write_text(spec + "".join(f" --hash={h}" for h in hashes) + "\n", "utf-8")
            self.progress("fetch", f"downloading the sdist of {spec}")
            quick = run_pip("sdist", [spec, str(work / "dl"), "--", *self.index.pip_args()], self.profile)
            if quick.returncode == 0 and hashes and not any(
                    f"sha256:{sha256_file(p)}" in hashes for p in (work / "dl").iterdir()):
                shutil.rmtree(work / "dl")  # not the locked file: pip download says so, with the hashes
                quick.returncode = 3
            # Offline, the sdist's build requirements cannot be fetched: use the packager's own.
            isolation = ["--no-build-isolation"] if self.index.offline else []
            res = quick if quick.returncode == 0 else run_pip(
                "pip", ["download", "--no-deps", "--no-binary=:all:", *isolation, "-d", str(work / "dl"),
                        "-r", str(req_file), *self.index.pip_args()], self.profile)
            if res.returncode != 0:
                # An index that refuses us, is down or lacks the project makes pip say "no matching
                # distribution" too: ask the indexes before blaming the requirement.
                failure = diagnose([spec], self.index, self.profile, where="requirements.txt")
                if failure:
                    raise failure
                missing = missing_distribution(res.stderr)
                if missing and _same_name(missing[0], spec):
                    raise ResolveError(
                        f"{spec}: no wheel for CPython {self.profile.python_version} linux {self.profile.machine} "
                        "and no sdist",
                        where="requirements.txt",
                        hint=("check the version: the index has the project but no file of it for the target; "
                              "the package may not exist at that version or may not support the target"),
                    )
                raise FetchError(f"could not download the sdist of {spec}:\n" + last_error(res.stderr),
                                 where=spec, hint="check the index settings and the network")
            sdists = sorted((work / "dl").iterdir())
            if not sdists:
                raise FetchError(f"pip downloaded nothing for {spec}", where=spec)
            sdist = sdists[0]
            sdist_sha = sha256_file(sdist)
            src = _unpack_sdist(sdist, work / "src")
            out = work / "out"
            self.progress("build", f"building a wheel from {sdist.name}"
                          + (" (uv build environment)" if self.uv and not self.index.offline else ""))
            wheel = self._build(src, out, sdist.name, work)
            write_sidecar(self.cache.built / wheel.name, sdist_sha, sha256_file(wheel))
            return self.cache.add_wheel(wheel, self.cache.built)

    def _run(self, argv: list[str], cwd: Path, work: Optional[Path] = None,
             more: Optional[dict[str, str]] = None) -> subprocess.CompletedProcess[str]:
        # Build dependencies come from the same index settings as everything else.
        extra: dict[str, str] = dict(more or {})
        if work is not None:  # the random work dir mapped away, temp files inside it (sdistbuild)
            extra.update(reproducible_env(work))
        if self.index.index_url:
            extra["PIP_INDEX_URL"] = self.index.index_url
        if self.index.extra_index_urls:
            extra["PIP_EXTRA_INDEX_URL"] = " ".join(self.index.extra_index_urls)
        if self.index.find_links:
            extra["PIP_FIND_LINKS"] = " ".join(self.index.find_links)
        if self.index.offline:
            extra["PIP_NO_INDEX"] = "1"
        if self.uv:  # build's --installer uv reads the binary from UV and the indexes from UV_*
            extra.update(uv_settings(), UV=self.uv, UV_CACHE_DIR=str(self.cache.root / "uv"))
            if self.index.index_url:
                extra["UV_INDEX_URL"] = self.index.index_url
            if self.index.extra_index_urls:
                extra["UV_EXTRA_INDEX_URL"] = " ".join(self.index.extra_index_urls)
        # Wheel builders stamp zip entries with the clock unless told otherwise: a fixed
        # epoch makes a rebuilt sdist give the same wheel bytes (reproducible artifacts).
        extra.setdefault("SOURCE_DATE_EPOCH", os.environ.get("SOURCE_DATE_EPOCH") or str(DEFAULT_MTIME))
        proc = run_child(argv, env=clean_env(extra), cwd=cwd, timeout=900,
                         tmpdir=extra.get("TMPDIR") if work is not None else None)
        if proc.returncode != 0:
            full = out_of_space(proc.stderr + "\n" + proc.stdout)
            if full is not None:
                raise full
        return proc

    def _built_wheel(self, out: Path) -> Optional[Path]:
        wheels = sorted(out.glob("*.whl")) if out.is_dir() else []
        return wheels[0] if wheels else None

    def _build(self, src: Path, out: Path, sdist_name: str, work: Optional[Path] = None) -> Path:
        p = self.profile
        # Offline, build requirements cannot be fetched: use the packager's own environment.
        isolation = (["--no-isolation", "--skip-dependency-check"] if self.index.offline
                     else ["--installer", "uv"] if self.uv else [])
        # The target's CPython compiles (its headers, its ABI); the host's only when it is the
        # target's version, or when this host cannot run one (then only a pure wheel is usable).
        host_is_target = "{}.{}".format(*sys.version_info[:2]) == p.python_version
        target = None if host_is_target or not _host_builds_for_target(p) else resolve_python(self.target_interpreter)
        python, more = sys.executable, {}
        if target:
            python = target
            more["PYTHONPATH"] = str(lend_tools(work or src.parent, self.index.offline))
        proc = self._run([python, "-m", "build", "--wheel", *isolation, "--outdir", str(out), str(src)], src,
                         work, more)
        wheel = self._built_wheel(out)
        if proc.returncode != 0 or wheel is None:
            used = describe(python, p.python_version if target else None)
            host_only = not target and not host_is_target
            raise SdistBuildError(
                f"building {sdist_name} with {used} failed:\n" + (proc.stderr or proc.stdout).strip()[-1500:],
                where=sdist_name,
                hint=(f"this host's Python is not the target's {p.python_version} and no CPython "
                      f"{p.python_version} was found: install one or pass --python PATH, "
                      "or pass --wheelhouse DIR with a wheel for the target" if host_only and
                      _host_builds_for_target(p)
                      else "pin a version that publishes a wheel, or pass --wheelhouse DIR with one"),
                details={"interpreter": python, "target": p.name},
            )
        if p.wheel_tag_rank(wheel.name) is not None:
            return wheel
        # A C extension built for this host, which cannot build for the target.
        why = (f"this host is {sys.platform} {host_machine()}" if not _host_builds_for_target(p)
               else f"no CPython {p.python_version} was found to build it with")
        raise SdistBuildError(
            f"{sdist_name} has a C extension and cannot be built here for CPython {p.python_version} "
            f"linux {p.machine} (target {p.name}): {why}",
            where=sdist_name,
            hint=(f"build the wheel on a linux {p.machine} machine with CPython {p.python_version} "
                  f"(e.g. in the {p.image or 'target'} image: `pip wheel --no-deps -w wheels/ <sdist>`) "
                  "and pass --wheelhouse wheels/, or pick a version that publishes a manylinux wheel"),
            details={"target": p.name, "machine": p.machine, "host_machine": host_machine()},
        )


def warm_up() -> None:
    """Make the TLS context in the background while the resolver runs (loading the CA bundle
    is ~20 ms that would otherwise sit between resolution and the first download)."""
    # Not a daemon (said explicitly: it is started from the early-resolution thread, which is
    # one, and a thread inherits that): a process that ends meanwhile (a failed resolution)
    # waits the few ms for it. As a daemon, exit() ran OpenSSL's cleanup under it: SIGSEGV.
    threading.Thread(target=_ssl_context, name="ignite-tls-warm-up", daemon=False).start()


def _ssl_context() -> ssl.SSLContext:
    """Trust what pip on this machine trusts: PIP_CERT, then the usual CA bundle variables."""
    for var in ("PIP_CERT", "REQUESTS_CA_BUNDLE", "SSL_CERT_FILE"):
        path = os.environ.get(var)
        if path and os.path.isfile(path):
            return _context_for(path, os.stat(path).st_mtime_ns)
    return _context_for(None, 0)


@functools.cache
def _context_for(cafile: Optional[str], mtime_ns: int) -> ssl.SSLContext:
    """One context per CA bundle (and version of it) for the process's life."""
    return ssl.create_default_context(cafile=cafile) if cafile else ssl.create_default_context()


def _download_one(pin: Pin, dest: Path, context: ssl.SSLContext, index_urls: Sequence[str]) -> Optional[Path]:
    """Download the file the resolver chose; None on any failure (pip download is the fallback).

    Basic-auth credentials for the file's host (an index URL's userinfo, or
    netrc) are sent as an unredirected header: a redirect to another host never
    carries them.
    """
    url = pin.url.split("#", 1)[0]
    parts = urllib.parse.urlsplit(url)
    if parts.username is not None or parts.password is not None:
        return None  # a URL carrying credentials is pip's to handle (never logged, never cached)
    name = urllib.parse.unquote(url.rsplit("/", 1)[-1])
    if not name.endswith(".whl") or "/" in name or name.startswith("."):
        return None
    try:
        req = urllib.request.Request(url, headers={"User-Agent": f"ignite-pack/{__version__}"})
        creds = credentials_for(url, index_urls) if parts.scheme in ("http", "https") else None
        if creds:
            token = base64.b64encode(f"{creds[0]}:{creds[1]}".encode()).decode("ascii")
            req.add_unredirected_header("Authorization", f"Basic {token}")
        with urllib.request.urlopen(req, timeout=120, context=context) as resp:
            data = resp.read()
    except (OSError, ValueError):
        return None
    digest = hashlib.sha256(data).hexdigest()
    if pin.hashes and f"sha256:{digest}" not in pin.hashes:
        return None
    path = dest / name
    path.write_bytes(data)
    return path


def download_direct(pins: Sequence[Pin], dest: Path, index: Optional[IndexConfig] = None,
                    landed: Optional[Callable[[Pin, Path], None]] = None) -> list[Pin]:
    """Download pins that carry the resolver's URL, in parallel; return the pins still missing.

    pip downloads one file at a time and costs another interpreter start; the
    resolver already chose each file, so its URL is enough. A private index
    works here too: credentials for the file's host come from the configured
    index URLs or netrc. Anything unusual (no URL, an HTTP error, a hash
    mismatch) is left to pip download.
    """
    def direct_ok(p: Pin) -> bool:
        return urllib.parse.urlsplit(p.url).scheme in ("https", "http", "file")

    direct = [p for p in pins if direct_ok(p)]
    if not direct:
        return list(pins)
    dest.mkdir(parents=True, exist_ok=True)
    context = _ssl_context()
    index_urls = configured_index_urls(index or IndexConfig())

    def one(p: Pin) -> Optional[Path]:
        path = _download_one(p, dest, context, index_urls)
        if path is not None and landed is not None:
            landed(p, path)  # each file as it lands: the next stage need not wait for the slowest
        return path

    with ThreadPoolExecutor(max_workers=min(8, len(direct))) as pool:
        got = dict(zip([p.name for p in direct], pool.map(one, direct)))
    return [p for p in pins if got.get(p.name) is None]


def fetch(pins: Sequence[Pin], profile: TargetProfile, *, index: IndexConfig, cache: Cache,
          build_sdist: SdistBuilderImpl, wheelhouses: Sequence[Path] = (),
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
                rest = [p for p in rest if not _same_name(p.name, absent[0])]
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
