"""The pip backend: ``pip install --dry-run --report`` for the target, the image's pins as constraints.

pip's resolver is the authority: it builds the sdists a resolution needs (one round each),
moves preinstalled packages along with a ``--vendor-anyway`` one, and explains every failure
(a conflict from the user's files, an index that refuses us, a distribution with no file).
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from pathlib import Path

from packaging.utils import canonicalize_name

from packager.cache import Cache
from packager.deps.conflicts import chain, conflict_error
from packager.deps.indexes import diagnose, saw_no_versions
from packager.deps.pipout import conflict_causes, origins, pip_warnings
from packager.deps.piprun import (
    IndexConfig,
    conflict_text,
    last_error,
    missing_distribution,
    run_pip,
    target_args,
)
from packager.deps.profile import TargetProfile
from packager.deps.record import ResolutionRecord, ResolvedDist
from packager.deps.requirements import Requirements
from packager.deps.resolver import (
    MAX_SDIST_ROUNDS,
    Progress,
    ResolveRequest,
    SdistBuilder,
    constraints_text,
    requirements_in,
)
from packager.deps.stubs import ensure_stubs
from packager.errors import ResolveError, redact
from packager.uvenv import find_links_args

#: Rounds of moving a pinned package along with a --vendor-anyway one (one conflict per pip run).
MAX_MOVE_ROUNDS = 12


class PipResolver:
    """pip's resolver (``pip install --dry-run --report``): the authority, and the full diagnosis."""

    def resolve(self, request: ResolveRequest) -> ResolutionRecord:
        return _pip_resolve(request.reqs, request.profile, request.index, request.cache, request.vendor_anyway,
                            request.build_sdist, request.progress, request.launching)


def _pip_resolve(reqs: Requirements, profile: TargetProfile, index: IndexConfig, cache: Cache,
                 vendor_anyway: frozenset[str], build_sdist: SdistBuilder, progress: Progress,
                 launching: Callable[[], None]) -> ResolutionRecord:
    lines = [str(r.requirement) for r in reqs.for_target(profile.markers)]
    #: pinned packages that must move along with a --vendor-anyway one -> the chain that forced it
    moved: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="ignite-resolve-") as tmp:
        work = Path(tmp)
        req_in = str(work / "requirements.in")
        (work / "requirements.in").write_text(requirements_in(reqs, profile), "utf-8")
        # Not --quiet: pip's warnings are reported, and its "Collecting x (from y)" lines give the chains.
        args = ["install", "--dry-run", "--ignore-installed", "--report", str(work / "report.json"),
                "-r", req_in, "-c", str(work / "constraints.txt"),
                *target_args(profile), *index.pip_args(),
                *find_links_args([str(cache.built), str(ensure_stubs(profile, cache))])]
        tried: set[str] = set()
        for _ in range(MAX_SDIST_ROUNDS + MAX_MOVE_ROUNDS):
            anyway = vendor_anyway | frozenset(moved)
            (work / "constraints.txt").write_text(constraints_text(profile, anyway), "utf-8")
            progress("resolve", f"resolving {len(lines)} requirement(s) for {profile.name}")
            launching()
            res = run_pip("pip", args, profile)
            output = (res.stdout + "\n" + res.stderr).replace(req_in, reqs.path).replace(str(work), "…")
            if res.returncode == 0:
                report = json.loads((work / "report.json").read_text("utf-8"))
                return ResolutionRecord(tuple(
                    ResolvedDist(
                        canonicalize_name(item["metadata"]["name"]),
                        item["metadata"]["version"],
                        bool(item.get("requested")),
                        tuple(sorted(
                            f"{k}:{v}" for k, v in
                            item.get("download_info", {}).get("archive_info", {}).get("hashes", {}).items()
                            if k == "sha256"
                        )),
                        item.get("download_info", {}).get("url", ""),
                    )
                    for item in report.get("install", [])
                ), tuple(redact(w) for w in pip_warnings(output)), tuple(moved.items()))
            missing = missing_distribution(res.stderr)
            conflict = conflict_text(output)
            if not index.offline and ((missing and saw_no_versions(res.stderr)) or (not missing and not conflict)):
                # pip saw no file at all, or failed otherwise: an index failure (401, down, 5xx, TLS)
                # looks the same in its output, so ask the indexes what happened.
                failure = diagnose([missing[0]] if missing else lines, index, profile, where=reqs.path)
                if failure:
                    raise failure
            if missing and missing[0] not in tried:
                tried.add(missing[0])
                progress("resolve", f"no wheel of {missing[0]} for the target; trying its sdist")
                build_sdist(missing[0])  # raises a clear error if there is no usable sdist
                continue
            if conflict:
                causes = conflict_causes(output)
                found = origins(output)
                # A pinned package that a moving one (--vendor-anyway, or moved already) needs at
                # another version moves too; anything else is the user's conflict to explain.
                movable = [c for c in causes if c.parent and c.parent[0] in anyway and c.name not in anyway
                           and c.name in profile.preinstalled
                           and not c.requirement.specifier.contains(profile.preinstalled[c.name], prereleases=True)]
                if movable:
                    for c in movable:
                        moved.setdefault(c.name, chain(c, found))
                        progress("resolve", f"{c.name} must move along: {moved[c.name]}")
                    continue
                raise conflict_error(reqs, profile, causes, found, redact(conflict), anyway)
            if missing:
                raise ResolveError(
                    f"no distribution of {missing[0]} for CPython {profile.python_version} "
                    f"{', '.join(profile.platforms[:1])}" + (" in the offline cache/wheelhouse" if index.offline else ""),
                    where=reqs.path,
                    hint=("run once online to fill the cache, or pass --wheelhouse DIR" if index.offline else
                          "check the name and version; the package may not exist or may not support the target"),
                )
            raise ResolveError("resolution failed:\n" + last_error(output), where=reqs.path,
                               hint="run with the same requirements through pip to see the full log")
    raise ResolveError("resolution did not converge after building sdists and moving pinned packages",
                       where=reqs.path)
