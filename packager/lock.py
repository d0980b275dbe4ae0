"""Lock: requirements.txt -> a pip-tools lock for the target (exact pins + hashes).

pip-compile does the locking; :mod:`packager.deps._pipshim` makes it evaluate
markers for the target, and the target's tags are passed as pip arguments. The
preinstalled pins are constraints, so the lock agrees with the image.
"""

from __future__ import annotations

import shlex
import tempfile
from collections.abc import Callable
from pathlib import Path

from packaging.utils import canonicalize_name

from packager.artifact.tarball import atomic_write
from packager.cache import SDIST_SIDECAR, Cache, read_sidecar
from packager.deps.fetch import BuildsSdists, fetch
from packager.deps.indexes import diagnose
from packager.deps.inputs import load
from packager.deps.lockfiles import parse_pylock, pylock_text
from packager.deps.piprun import last_error, missing_distribution, run_pip, target_args
from packager.deps.profile import TargetProfile, load_profile
from packager.deps.requirements import Requirements, parse_requirements
from packager.deps.resolve import Resolution
from packager.deps.resolver import constraints_text
from packager.deps.stubs import ensure_stubs
from packager.errors import RequirementsError, ResolveError, io_error
from packager.options import BuildOptions
from packager.records import record, replace
from packager.resolution import resolve_for
from packager.source.checks import check_source, version_tuple
from packager.source.intake import SourceTree, read_source
from packager.uvenv import find_links_args

Progress = Callable[[str, str], None]


@record
class LockResult:
    output: Path
    pins: list[str]
    digest: str
    profile: str
    warnings: tuple[str, ...] = ()


def mark_preinstalled(text: str, profile: TargetProfile, vendor_anyway: frozenset[str]) -> str:
    """Turn pip-compile's blocks for the image's pins into ``# preinstalled: name==version`` comments.

    Their hashes would be those of metadata stubs (see stubs.ensure_stubs), and
    the build never installs them anyway.
    """
    out: list[str] = []
    skipping = False
    for line in text.splitlines():
        if line and not line[0].isspace() and not line.startswith("#"):
            name, _, version = line.split(" ", 1)[0].partition("==")
            key = canonicalize_name(name)
            skipping = key in profile.preinstalled and key not in vendor_anyway
            if skipping:
                out.append(f"# preinstalled: {key}=={version.strip()}")
                continue
        if skipping:
            stripped = line.strip()
            if stripped.startswith("#"):
                out.append(f"#   {stripped.lstrip('#').strip()}")
            continue
        out.append(line)
    return "\n".join(out) + "\n"


def add_sdist_hashes(text: str, cache: Cache) -> str:
    """Add the sdist's hash to the pins of packages that exist only as sdists.

    pip-compile hashes the wheel we built (from the cache's built/); a build from
    the lock on another machine downloads the sdist, which must verify too.
    """
    sdist_hash: dict[tuple[str, str], str] = {}
    for sidecar in cache.built.glob("*.whl" + SDIST_SIDECAR):
        name, version = sidecar.name.split("-")[:2]
        sdist = read_sidecar(sidecar.with_name(sidecar.name[: -len(SDIST_SIDECAR)]))[0]
        if sdist:
            sdist_hash[(canonicalize_name(name), version)] = sdist
    out: list[str] = []
    for line in text.splitlines():
        out.append(line)
        if line and not line[0].isspace() and "==" in line and line.rstrip().endswith("\\"):
            name, _, version = line.split(" ", 1)[0].partition("==")
            digest = sdist_hash.get((canonicalize_name(name), version))
            if digest:
                out.append(f"    --hash=sha256:{digest} \\")
    return "\n".join(out) + "\n"


def declared_requirements(tree: SourceTree, options: BuildOptions, profile: TargetProfile) -> Requirements:
    """What a lock is made from: the build's dependency declaration (requirements.txt, else pyproject.toml)."""
    source = options.dependency_source(tree, declarations_only=True).source
    if source is None:
        raise RequirementsError("no requirements.txt or pyproject.toml dependencies in the source",
                                where="requirements.txt",
                                hint="add requirements.txt (or [project] dependencies in pyproject.toml) next to "
                                     "handler.py, or name the file with --requirements")
    if source.locked:
        raise RequirementsError(f"{source.path} is already a lock ({source.kind}); `ignite-pack lock` locks a "
                                "declaration", where=source.path,
                                hint="name requirements.txt or pyproject.toml with --requirements")
    return load(source, profile)


def _write_pylock(reqs: Requirements, resolution: Resolution, cache: Cache, builder: BuildsSdists,
                  profile: TargetProfile, options: BuildOptions, progress: Progress) -> LockResult:
    """``--format pylock``: the resolution's wheels for the target, each with its URL and sha256 (PEP 751)."""
    wheels = fetch(resolution.pins, profile, index=options.index, cache=cache, build_sdist=builder,
                   wheelhouses=[Path(w) for w in options.wheelhouses], progress=progress)
    rows: list[tuple[str, str, str, str, str]] = []
    for w in wheels:
        url = w.pin.url.split("#", 1)[0]
        if w.built_from_sdist or not url or url.rsplit("/", 1)[-1] != w.path.name:
            raise ResolveError(
                f"{w.pin.name} {w.pin.version}: " + ("no wheel for the target (built from its sdist)"
                                                    if w.built_from_sdist else "the index gave no URL for its wheel")
                + "; a pylock.toml needs each wheel's URL", where=reqs.path,
                hint="lock with the default format (requirements.lock), which records sdists' hashes")
        rows.append((w.pin.name, w.pin.version, w.path.name, url, w.sha256))
    comment = (f"Lock for {profile.name} ({profile.image}, CPython {profile.python_version} {profile.machine}), "
               f"written by `ignite-pack lock --format pylock` from {reqs.path}.\n"
               "A build for another target refuses it; [tool.ignite-pack] preinstalled lists the image's own pins "
               "(never installed).")
    text = pylock_text(profile, rows, [(s.name, s.version) for s in resolution.skipped], comment)
    data = text.encode()
    locked = parse_pylock(data, str(options.output), profile)  # what a build will read: it must read it
    atomic_write(Path(options.output), [data])
    return LockResult(Path(options.output), [f"{r.name}=={r.pinned_version}" for r in locked.lines],
                      locked.digest, profile.name, resolution.warnings)


def lock_source(options: BuildOptions, progress: Progress, fmt: str = "requirements") -> LockResult:
    """Lock the source's declaration for the target: ``requirements.lock`` (pip-compile) or, with
    *fmt* ``pylock``, a PEP 751 pylock.toml. OSErrors are classified as a build's are (errors.io_error)."""
    try:
        result = _lock_source(options, progress, fmt)
    except OSError as exc:
        raise io_error(exc, output=Path(options.output), cache=options.cache().root) from exc
    degraded = options.cache().degraded
    return replace(result, warnings=(degraded, *result.warnings)) if degraded else result


def _lock_source(options: BuildOptions, progress: Progress, fmt: str) -> LockResult:
    tree = read_source(Path(options.source), options.limits)
    options.check_python()
    profile = load_profile(options.profile)
    check_source(tree, options.entry, target_interpreter=options.target_python, convention=options.convention,
                 init=options.init, init_params=options.init_params,
                 target_version=version_tuple(profile.python_version))
    reqs = declared_requirements(tree, options, profile)
    # Resolve first: checks pins against the image and builds any sdist-only package into the cache.
    resolution, cache, builder = resolve_for(reqs, profile, options, progress)
    if fmt == "pylock":
        return _write_pylock(reqs, resolution, cache, builder, profile, options, progress)
    # The --vendor-anyway names and what had to move with them are vendored, not the image's.
    vendor_anyway = frozenset(canonicalize_name(n) for n in options.vendor_anyway) | {
        s.name for s in resolution.shadowed}
    with tempfile.TemporaryDirectory(prefix="ignite-lock-") as tmp:
        work = Path(tmp)
        (work / "constraints.txt").write_text(constraints_text(profile, vendor_anyway), "utf-8")
        lines = ["-c constraints.txt", *(str(r.requirement) for r in reqs.lines)]
        (work / "requirements.in").write_text("\n".join(lines) + "\n", "utf-8")
        pip_args = [*target_args(profile), *options.index.pip_args(),
                    *find_links_args([str(cache.built), str(ensure_stubs(profile, cache))])]
        progress("lock", f"pip-compile for {profile.name}")
        res = run_pip("compile", [
            "--quiet", "--no-header", "--strip-extras", "--generate-hashes", "--allow-unsafe",
            "--no-emit-index-url", "--no-emit-trusted-host", "--no-emit-find-links", "--no-emit-options",
            "--cache-dir", str(cache.root / "pip-tools"), "--pip-args", shlex.join(pip_args),
            "-o", str(work / "requirements.lock"), "requirements.in",
        ], profile, cwd=work)
        if res.returncode != 0:
            absent = missing_distribution(res.stderr)
            failure = diagnose([absent[0]] if absent else [r.name for r in reqs.lines], options.index, profile,
                               where=reqs.path)
            if failure:
                raise failure
            raise ResolveError("pip-compile failed:\n" + last_error(res.stderr), where=reqs.path,
                               hint="the same requirements must first build with `ignite-pack build`")
        text = (work / "requirements.lock").read_text("utf-8")
    header = (f"# Lock for {profile.name} ({profile.image}, CPython {profile.python_version} {profile.machine}), "
              "written by `ignite-pack lock` with pip-compile.\n"
              f"# ignite-profile: {profile.name}\n"
              "# A build for another target refuses this lock; `ignite-pack lock --profile NAME` makes one for it.\n"
              "# `# preinstalled:` lines are the image's own pins: listed, never vendored.\n"
              + "".join(f"# shadows the image's {s.name}=={s.image_version}: {s.name}=={s.version} ({s.why})\n"
                        for s in resolution.shadowed))
    body = add_sdist_hashes(mark_preinstalled(text.replace(str(work) + "/", ""), profile, vendor_anyway), cache)
    data = (header + body).encode()
    locked = parse_requirements(data, "requirements.lock")
    if not locked.is_lock:
        raise ResolveError("pip-compile produced a lock without hashes for every pin", where="requirements.lock")
    atomic_write(Path(options.output), [data])
    return LockResult(Path(options.output), [f"{r.name}=={r.pinned_version}" for r in locked.lines],
                      locked.digest, profile.name, resolution.warnings)
