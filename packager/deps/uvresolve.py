"""Resolve with uv when it is there: the same pins as pip's resolver, in a fraction of the time.

A cold pip resolution is mostly pip's own start-up (imports, TLS set-up) and
Python-level page parsing; ``uv pip compile`` does the same in native code. uv is
an accelerator, never an authority: it runs only where it sees exactly what pip
would see (no pip configuration file or PIP_* index setting it would ignore, not
offline), and any failure, warning or answer it cannot express (an sdist to
build, a conflict, an index error) falls back to the pip path, which gives the
full diagnosis. The answer is a :class:`~packager.deps.record.ResolutionRecord`, as pip's is.

Used by ``--resolver auto`` (the default) when uv was installed with ignite-pack (a default
dependency on the hosts uv has wheels for; ``pip install 'ignite-packager[uv]'`` elsewhere) or
``IGNITE_UV`` names a uv binary;
``--resolver uv`` requires it, ``--resolver pip`` never uses it. Locks stay pip-tools'.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import urllib.parse
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Optional

from packaging.utils import canonicalize_name

from packager.cache import sha256_file
from packager.deps.indexconfig import IndexConfig
from packager.deps.profile import TargetProfile
from packager.deps.record import ResolutionRecord, ResolvedDist
from packager.deps.resolver import (
    MAX_SDIST_ROUNDS,
    Resolver,
    ResolveRequest,
    constraints_text,
    requirements_in,
)
from packager.deps.stubs import ensure_stubs
from packager.errors import UsageError, redact
from packager.prestart import adopt, settle
from packager.records import record
from packager.runtime import run_child, stopping
from packager.tomlparser import parser
from packager.uvenv import (
    compile_argv,
    pip_variable_uv_would_miss,
    target_options,
    uv_environment,
    uv_platform,
    wheel_options,
)

RESOLVERS = ("auto", "pip", "uv")

@record
class UvAnswer:
    """What uv said: the resolution (or None) and, when None, why pip runs instead."""

    data: Optional[ResolutionRecord]
    why_not: str = ""
    #: the distribution uv found no usable wheel of (from its hint): its sdist is what to build
    needs_sdist: str = ""


#: uv's hint when the resolution failed for want of a wheel (``--only-binary :all:``); 0.8 to 0.13
#: print it so, wrapped at the terminal's width or not. Only a shortcut: anything else goes to pip.
_NEEDS_WHEEL = re.compile(r"Wheels are required for `([A-Za-z0-9][A-Za-z0-9._-]*)`")


def find_uv(environ: Optional[Mapping[str, str]] = None) -> Optional[str]:
    """``IGNITE_UV``, else the uv installed with ignite-pack (the ``uv`` extra). Not any uv on PATH:
    whether builds use uv is decided by how ignite-pack was installed, not by the machine."""
    env = os.environ if environ is None else environ
    if env.get("IGNITE_UV"):
        return shutil.which(env["IGNITE_UV"]) or None
    try:
        from uv import find_uv_bin  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        return None
    try:
        return str(find_uv_bin())
    except FileNotFoundError:
        return None


def pip_setting_uv_would_miss() -> Optional[str]:
    """The pip configuration file or PIP_* variable that makes uv unfit to stand in for pip, if any.

    The files are the ones pip reads (pip._internal.configuration.get_configuration_files,
    built from pip's own appdirs; importing that module costs ~0.17 s, its appdirs 7 ms).
    """
    variable = pip_variable_uv_would_miss(os.environ)
    if variable:
        return variable
    named = os.environ.get("PIP_CONFIG_FILE")
    if named == os.devnull:
        return None  # pip then reads no file at all
    from pip._internal.utils import appdirs

    base = "pip.ini" if sys.platform == "win32" else "pip.conf"
    candidates = [os.path.join(d, base) for d in appdirs.site_config_dirs("pip")]
    candidates += [os.path.join(sys.prefix, base),
                   os.path.join(os.path.expanduser("~"), "pip" if sys.platform == "win32" else ".pip", base),
                   os.path.join(appdirs.user_config_dir("pip"), base)]
    if named:
        candidates.append(named)
    return next((c for c in candidates if os.path.isfile(c)), None)


def choose(resolver: str, index: IndexConfig, environ: Optional[Mapping[str, str]] = None,
           ) -> tuple[Optional[str], str]:
    """(uv binary, "") when uv resolves, else (None, why pip does). ``--resolver uv`` without uv is an error."""
    if resolver not in RESOLVERS:
        raise UsageError(f"unknown resolver {resolver!r}", where="resolver",
                         hint="use one of: " + ", ".join(RESOLVERS))
    if resolver == "pip":
        return None, "--resolver pip"
    uv = find_uv(environ)
    if uv is None:
        if resolver == "uv":
            raise UsageError("--resolver uv: uv is not installed with ignite-pack",
                             where="--resolver",
                             hint="pip install 'ignite-packager[uv]' (or set IGNITE_UV to a uv binary), "
                                  "or use --resolver auto")
        return None, "uv is not installed"
    if index.offline:
        return None, "offline"
    blocker = pip_setting_uv_would_miss()
    if blocker:
        return None, f"pip is configured by {blocker}, which uv does not read"
    return uv, ""


def _target(profile: TargetProfile, index: IndexConfig) -> tuple[str, str, list[str]]:
    """The target's full version and uv platform, and the indexes in pip's spelling, which uv shares."""
    assert not index.offline
    return (profile.markers.get("python_full_version", profile.python_version),
            uv_platform(profile.platforms[0], profile.machine), index.pip_args())


def uv_args(profile: TargetProfile, index: IndexConfig, find_links: Sequence[str] = ()) -> list[str]:
    """uv's options for the target's wheels, then *find_links* (never offline here)."""
    return wheel_options(*_target(profile, index), find_links)


def _file_sha256(url: str) -> Optional[str]:
    from urllib.request import url2pathname  # ~8 ms of imports (http.client, email, ssl): only here

    path = Path(url2pathname(urllib.parse.urlsplit(url).path))
    return sha256_file(path) if path.is_file() else None


def _best_wheel(wheels: list[dict[str, Any]], profile: TargetProfile) -> Optional[dict[str, Any]]:
    """The wheel pip would pick: the best tag rank for the target (older uv lists every wheel
    of the version; newer uv only the target's). A tie (build tags) is left to pip."""
    ranked: list[tuple[int, dict[str, Any]]] = []
    for w in wheels:
        filename = str(w.get("url", "")).rsplit("/", 1)[-1].split("#")[0]
        rank = profile.wheel_tag_rank(filename) if filename.endswith(".whl") else None
        if rank is not None:
            ranked.append((rank, w))
    ranked.sort(key=lambda item: item[0])
    if not ranked or (len(ranked) > 1 and ranked[0][0] == ranked[1][0]):
        return None
    return ranked[0][1]


def _compile(uv: str, requirements_in: str, options: list[str], cache_dir: Path, constraints: str = "",
             launching: Callable[[], None] = lambda: None) -> tuple[subprocess.CompletedProcess[str], Any]:
    """``uv pip compile --format pylock.toml`` of *requirements_in* with *options*: the process, and
    the lock it wrote (None when it failed). OSError and TimeoutExpired are the caller's."""
    with tempfile.TemporaryDirectory(prefix="ignite-uv-") as tmp:
        work = Path(tmp)
        (work / "requirements.in").write_text(requirements_in, "utf-8")
        out = work / "pylock.toml"
        if constraints.strip():
            (work / "constraints.txt").write_text(constraints, "utf-8")
        argv = compile_argv(uv, work, cache_dir, options, bool(constraints.strip()))
        launching()
        taken = adopt(argv, work, stopping)  # the same compile, if packager.prestart started it: its answer
        if taken is not None:
            proc, text = taken
        else:
            settle()  # uv's look at the interpreter, if packager.prestart started one: not twice
            proc = run_child(argv, env=uv_environment(), timeout=600)
            text = out.read_text("utf-8") if proc.returncode == 0 else None
        if proc.returncode != 0 or text is None:
            return proc, None
        # (the parser's import after uv's start: packager.resolution makes it while uv runs)
        return proc, parser().loads(text)


def uv_resolve(uv: str, requirements_in: str, constraints: str, find_links: list[str], profile: TargetProfile,
               index: IndexConfig, cache_dir: Path, requested: frozenset[str],
               launching: Callable[[], None] = lambda: None) -> UvAnswer:
    """``uv pip compile --format pylock.toml``: pins with each wheel's URL and sha256, or why not."""
    options = uv_args(profile, index, find_links)
    try:
        proc, lock = _compile(uv, requirements_in, options, cache_dir, constraints, launching)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return UvAnswer(None, f"uv did not run: {exc}")
    said = [line.strip() for line in proc.stderr.splitlines() if line.strip()]
    if proc.returncode != 0:
        first = next((line for line in said if line.startswith(("error", "\u00d7"))), said[0] if said else "")
        wheel_less = _NEEDS_WHEEL.findall(proc.stderr)
        return UvAnswer(None, f"uv could not resolve ({redact(first)[:200]})",
                        needs_sdist=wheel_less[0] if len(set(wheel_less)) == 1 else "")
    if lock is None:
        return UvAnswer(None, "uv wrote no lock")
    warned = next((line for line in said if line.lower().startswith("warning")), None)
    if warned:
        return UvAnswer(None, f"uv warned ({redact(warned)[:200]}); pip's warnings are the ones reported")
    install: list[ResolvedDist] = []
    for pkg in lock.get("packages", []):
        wheel = _best_wheel(pkg.get("wheels") or [], profile)
        if wheel is None:
            return UvAnswer(None, f"uv's answer for {pkg.get('name')} has no single best wheel for the target")
        name = canonicalize_name(str(pkg["name"]))
        # pip reports the sha256 of a wheel in a local --find-links directory (it hashes the file);
        # uv versions differ on whether they do. The pins' digest must be pip's: hash it here.
        url = str(wheel["url"])
        sha = (_file_sha256(url) if url.startswith("file:") else (wheel.get("hashes") or {}).get("sha256"))
        install.append(ResolvedDist(name, str(pkg["version"]), name in requested,
                                    (f"sha256:{sha}",) if sha else (), url))
    return UvAnswer(ResolutionRecord(tuple(install), resolver="uv"))


def uv_sdist(uv: str, spec: str, profile: TargetProfile, index: IndexConfig, cache_dir: Path,
             ) -> Optional[ResolvedDist]:
    """The sdist ``spec`` names, as ``pip download --no-binary :all:`` would pick it, found by uv;
    None when uv cannot say (then pip's finder is asked).

    ``uv pip compile --no-deps --no-binary :all:`` chooses the version from the index pages and
    needs no metadata, so nothing is built: ~0.06 s after the resolution (its interpreter facts
    are cached by then), where a pip start to ask its finder is ~0.5 s.
    """
    try:
        _proc, lock = _compile(uv, spec + "\n", ["--quiet", "--no-deps", "--no-binary", ":all:",
                                                 *target_options(*_target(profile, index))], cache_dir)
    except (OSError, subprocess.TimeoutExpired, ValueError):  # (TOMLDecodeError is a ValueError)
        return None
    packages = (lock or {}).get("packages", [])
    sdist = packages[0].get("sdist") if len(packages) == 1 else None
    if not isinstance(sdist, dict):
        return None
    sha = (sdist.get("hashes") or {}).get("sha256")
    url = str(sdist.get("url") or "")
    if not sha or not url.startswith(("https:", "http:")):
        return None  # a local file (find-links) or no hash: pip's finder handles those
    return ResolvedDist(canonicalize_name(str(packages[0]["name"])), str(packages[0]["version"]), True,
                        (f"sha256:{sha}",), url)


class UvResolver:
    """uv (``uv pip compile``) where it may stand in for pip, *fallback* (pip) for anything it cannot answer."""

    def __init__(self, uv: str, fallback: Resolver) -> None:
        self.uv, self.fallback = uv, fallback

    def resolve(self, request: ResolveRequest) -> ResolutionRecord:
        return self._uv_resolution(request) or self.fallback.resolve(request)

    def _uv_resolution(self, request: ResolveRequest) -> Optional[ResolutionRecord]:
        """uv's answer, or None (then the fallback resolves, and explains any failure).

        When uv says a distribution has no usable wheel, its sdist is built (as the pip path
        would, without first running pip to hear the same) and uv asked again; the same
        distribution twice, or any other failure, goes to pip, which explains it.
        """
        reqs, profile, index, cache = request.reqs, request.profile, request.index, request.cache
        vendor_anyway, build_sdist, progress, launching = (request.vendor_anyway, request.build_sdist,
                                                           request.progress, request.launching)
        lines = reqs.for_target(profile.markers)
        built: set[str] = set()
        for _ in range(MAX_SDIST_ROUNDS):
            progress("resolve", f"resolving {len(lines)} requirement(s) for {profile.name} (uv)")
            answer = uv_resolve(self.uv, requirements_in(reqs, profile), constraints_text(profile, vendor_anyway),
                                [str(cache.built), str(ensure_stubs(profile, cache))], profile, index,
                                cache.root / "uv",
                                frozenset(line.name for line in lines), launching)
            if answer.data is not None:
                return answer.data
            name = canonicalize_name(answer.needs_sdist) if answer.needs_sdist else None
            if name is None or name in built:
                break
            built.add(name)
            # A direct requirement's versions (docopt<0.6 must not build the latest sdist).
            spec = next((f"{name}{line.requirement.specifier}" for line in lines if line.name == name), name)
            progress("resolve", f"no wheel of {spec} for the target; trying its sdist")
            build_sdist(spec)  # early (before the checks): stops here; no usable sdist: a clear error
        progress("resolve", f"{answer.why_not}; resolving with pip")
        return None
