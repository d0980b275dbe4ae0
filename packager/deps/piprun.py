"""Running pip (and pip-compile) for the target, with a scrubbed environment.

Index settings come from ignite-pack's own options and the operator's pip
configuration, never from the upload. The child environment keeps only what
pip needs (paths, locale, proxies, certificates, PIP_* settings): the build
host's secrets are not passed to code that an upload can influence.
"""

from __future__ import annotations

import errno
import functools
import importlib
import json
import os
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from packager.deps.indexconfig import (
    IndexConfig as IndexConfig,  # (where most stages import it from)
)
from packager.deps.profile import TargetProfile
from packager.errors import IgniteError, ToolchainError, io_error
from packager.runtime import clean_env, run_child

#: The oldest pip the packager can run. Resolution is ``pip install --dry-run --report``
#: with ``--platform``/``--python-version``/``--abi``; pip refuses those options without
#: ``--target`` before 23.3 ("Can not use any platform or abi specific options..."). Tried:
#: 23.2.1 fails, 23.3 resolves, downloads and locks (CI runs the suite with it: .ci/lowest.txt).
#: Keep in step with ``pip>=`` in pyproject.toml.
PIP_FLOOR = "23.3"


def target_args(profile: TargetProfile) -> list[str]:
    """pip options that select wheels for the target, every platform tag listed."""
    args = ["--only-binary=:all:", "--python-version", profile.python_version,
            "--implementation", profile.implementation, "--abi", profile.abi]
    for plat in profile.platforms:
        args += ["--platform", plat]
    return args


@dataclass
class PipResult:
    returncode: int
    stdout: str
    stderr: str
    args: list[str] = field(default_factory=list)


@functools.cache
def pip_version() -> Optional[str]:
    """The version of the pip that :func:`run_pip` runs: the one this interpreter imports."""
    try:
        pip = importlib.import_module("pip")
    except ImportError:
        return None
    return str(getattr(pip, "__version__", "0"))


def ensure_pip() -> str:
    """Fail before running pip when it is missing or older than :data:`PIP_FLOOR`.

    An older pip would reject the target options with its own confusing error; the
    environment ignite-pack is installed in can always have had pip downgraded.
    """
    found = pip_version()
    fix = f"{sys.executable} -m pip install -U 'pip>={PIP_FLOOR}'"
    details: dict[str, object] = {"found": found, "required": f">={PIP_FLOOR}", "python": sys.executable}
    if found is None:
        raise ToolchainError(
            f"pip is not installed in ignite-pack's environment; pip>={PIP_FLOOR} is required "
            "to resolve, download and lock requirements",
            where=sys.executable, details=details,
            hint=f"install it into that environment: {sys.executable} -m ensurepip && {fix} "
                 f"(uv: uv pip install --python {sys.executable} 'pip>={PIP_FLOOR}')")
    from packaging.version import InvalidVersion, Version

    try:
        too_old = Version(found) < Version(PIP_FLOOR)
    except InvalidVersion:
        too_old = True
    if too_old:
        raise ToolchainError(
            f"pip {found} is older than {PIP_FLOOR}, the oldest pip that can resolve for the "
            "target (--platform with --dry-run)",
            where=sys.executable, details=details,
            hint=f"upgrade pip in the environment ignite-pack is installed in: {fix}")
    return found


def run_pip(tool: str, args: Sequence[str], profile: TargetProfile, *, cwd: Optional[Path] = None,
            timeout: float = 900) -> PipResult:
    """Run ``pip``, ``pip-compile``, the index probe or the sdist fetch through the shim.

    ``tool`` = "pip" | "compile" | "probe" | "sdist" (see :mod:`packager.deps._pipshim`).
    """
    ensure_pip()
    argv = [sys.executable, "-m", "packager.deps._pipshim", tool, *args]
    env = clean_env({
        "IGNITE_TARGET_MARKERS": json.dumps(profile.markers),
        "IGNITE_TARGET_TAGS": json.dumps({
            "python_version": profile.python_version, "platforms": list(profile.platforms),
            "abis": [profile.abi, "abi3", "none"], "implementation": profile.implementation,
        }),
    })
    if os.environ.get("IGNITE_PIP_PLAIN"):  # pip without the shim's speed-ups, to compare
        env["IGNITE_PIP_PLAIN"] = "1"
    # The shim must import *this* packager even from another working directory.
    root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = root
    proc = run_child(argv, env=env, cwd=cwd, timeout=timeout)
    if proc.returncode != 0:
        full = out_of_space(proc.stderr)
        if full is not None:
            raise full
    return PipResult(proc.returncode, proc.stdout, proc.stderr, list(args))


_NO_SPACE = re.compile(r"^.*(?:\[Errno (28|122)\]|No space left on device|Disk quota exceeded).*$", re.MULTILINE)


def out_of_space(stderr: str) -> Optional[IgniteError]:
    """A pip (or build backend) run that failed for want of disk space: that, not the index or the
    requirement, is the error (a full TMPDIR is not "the index is unreachable")."""
    found = _NO_SPACE.search(stderr)
    if found is None:
        return None
    code = errno.EDQUOT if found.group(1) == "122" or "quota" in found.group(0) else errno.ENOSPC
    error = io_error(OSError(code, os.strerror(code)))
    error.message += f" (pip: {found.group(0).strip()[:300]})"
    return error


_NO_MATCH = re.compile(r"No matching distribution found for ([^\s]+)")
_UNAVAILABLE = re.compile(r"Could not find a version that satisfies the requirement ([^\s]+) \(from versions: ([^)]*)\)")


def missing_distribution(stderr: str) -> Optional[tuple[str, str]]:
    """(requirement, versions-seen) when pip found no usable file for a requirement."""
    m = _UNAVAILABLE.search(stderr)
    if m:
        return m.group(1), m.group(2)
    m2 = _NO_MATCH.search(stderr)
    return (m2.group(1), "") if m2 else None


def conflict_text(stderr: str) -> Optional[str]:
    """pip's own explanation of a resolution conflict, trimmed to the useful lines."""
    if "ResolutionImpossible" not in stderr and "conflict" not in stderr.lower():
        return None
    lines = [ln.strip() for ln in stderr.splitlines()]
    keep: list[str] = []
    grab = False
    for ln in lines:
        if ln.startswith(("The conflict is caused by", "Cannot install", "ERROR: Cannot install")):
            grab = True
        if grab and ln and not ln.startswith(("To fix this", "1. ", "2. ", "ERROR: ResolutionImpossible")):
            keep.append(ln)
        if ln.startswith("To fix this"):
            break
    return "\n".join(keep) or None


def last_error(stderr: str, limit: int = 6) -> str:
    lines = stderr.splitlines()
    for i, ln in enumerate(lines):
        if "DO NOT MATCH THE HASHES" in ln:
            detail = [x.strip() for x in lines[i + 1:] if x.strip() and ("sha256" in x or "==" in x)]
            return "hash mismatch (the file differs from the lock):\n" + "\n".join(detail[:2 * limit])
    errs = [ln for ln in lines if ln.startswith("ERROR")]
    return "\n".join(errs[-limit:]) or stderr.strip()[-800:]
