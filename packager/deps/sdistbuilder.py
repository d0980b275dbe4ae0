"""sdist builds: download a requirement's sdist, unpack it safely, build its wheel, file it in the cache.

How the wheel is built reproducibly, and with which interpreter, is :mod:`packager.deps.sdistbuild`'s.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Optional

from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from packager.artifact.tarball import DEFAULT_MTIME
from packager.cache import Cache, sha256_file, write_sidecar
from packager.deps.indexes import diagnose
from packager.deps.piprun import (
    IndexConfig,
    last_error,
    missing_distribution,
    out_of_space,
    run_pip,
)
from packager.deps.profile import TargetProfile
from packager.deps.sdistbuild import describe, lend_tools, reproducible_env
from packager.errors import FetchError, ResolveError, SdistBuildError, SourceError
from packager.runtime import clean_env, host_machine, resolve_python, run_child
from packager.source.intake import Limits, read_source
from packager.uvenv import uv_settings

if TYPE_CHECKING:
    from packager.runtime import PythonRef

Progress = Callable[[str, str], None]


def same_name(a: str, b: str) -> bool:
    """Do two requirement strings name the same project?"""
    def name(s: str) -> str:
        return canonicalize_name(re.split(r"[\s\[<>=!~;@]", s.strip(), maxsplit=1)[0])
    return name(a) == name(b)


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
    def _found_uv(self) -> Optional[str]:
        """The uv binary fit to stand in for pip, if any. Looked up at the first sdist: most builds
        have none, and the lookup costs ~40 ms of imports."""
        return self._find_uv()

    @functools.cached_property
    def uv(self) -> Optional[str]:
        """uv, when it makes build's isolated environment (``--installer uv``; its downloads kept in
        the cache's uv/, a warm build environment after the first sdist)."""
        uv = self._found_uv
        return uv if uv and not self.index.find_links and build_has_uv_installer() else None

    def __call__(self, spec: str, hashes: Sequence[str] = ()) -> Path:
        with tempfile.TemporaryDirectory(prefix="ignite-sdist-") as tmp:
            work = Path(tmp)
            self.progress("fetch", f"downloading the sdist of {spec}")
            if not self._sdist_by_uv(spec, hashes, work / "dl"):
                self._sdist_by_pip(spec, hashes, work)
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

    def _sdist_by_pip(self, spec: str, hashes: Sequence[str], work: Path) -> None:
        """The sdist downloaded into ``work/dl`` by pip's finder; a clear error when there is none."""
        req_file = work / "req.txt"
        req_file.write_text(spec + "".join(f" --hash={h}" for h in hashes) + "\n", "utf-8")
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
            if missing and same_name(missing[0], spec):
                raise ResolveError(
                    f"{spec}: no wheel for CPython {self.profile.python_version} linux {self.profile.machine} "
                    "and no sdist",
                    where="requirements.txt",
                    hint=("check the version: the index has the project but no file of it for the target; "
                          "the package may not exist at that version or may not support the target"),
                )
            raise FetchError(f"could not download the sdist of {spec}:\n" + last_error(res.stderr),
                             where=spec, hint="check the index settings and the network")

    def _sdist_by_uv(self, spec: str, hashes: Sequence[str], dest: Path) -> bool:
        """The sdist downloaded into ``dest`` as uv finds it (and our downloader fetches it), or
        False: then pip's finder does it (it explains failures, and handles what this does not:
        offline, local files, credentials in URLs, a hash not the lock's)."""
        uv = self._found_uv
        if uv is None or self.index.offline:
            return False
        from packager.deps.download import download_direct
        from packager.deps.resolve import Pin
        from packager.deps.uvresolve import uv_sdist

        found = uv_sdist(uv, spec, self.profile, self.index, self.cache.root / "uv")
        if found is None or (hashes and not set(found.hashes) & set(hashes)):
            return False
        pin = Pin(found.name, found.version, found.hashes, url=found.url)
        if download_direct([pin], dest, self.index, suffixes=(".tar.gz", ".zip")):
            shutil.rmtree(dest, ignore_errors=True)
            return False
        return True

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
                extra["UV_INDEX_STRATEGY"] = "unsafe-best-match"  # pip's: the best version of any index
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
