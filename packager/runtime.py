"""Finding the target interpreter (CPython 3.12) on this host.

``python3.12`` on PATH may be a pyenv shim that exists but fails, so every
candidate is *run* before it is trusted.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Optional

from packager.errors import RuntimeNotFound

_PROBE = "import sys; print('%d.%d' % sys.version_info[:2], sys.implementation.name)"


def _candidates(version: str) -> list[str]:
    out: list[str] = []
    env = os.environ.get("IGNITE_PYTHON")
    if env:
        out.append(env)
    if "{}.{}".format(*sys.version_info[:2]) == version:
        out.append(sys.executable)
    for name in (f"python{version}", "python3", "python"):
        found = shutil.which(name)
        if found:
            out.append(found)
    roots = [os.environ.get("PYENV_ROOT", ""), str(Path.home() / ".pyenv")]
    for root in roots:
        if root:
            out.extend(sorted(glob.glob(f"{root}/versions/{version}*/bin/python{version}"), reverse=True))
    out.extend(
        [
            f"/usr/local/bin/python{version}",
            f"/usr/bin/python{version}",
            f"/opt/python/cp{version.replace('.', '')}-cp{version.replace('.', '')}/bin/python",
        ]
    )
    seen: set[str] = set()
    unique = []
    for c in out:
        if c not in seen:
            seen.add(c)
            unique.append(c)
    return unique


def probe(python: str, version: str) -> bool:
    """True when *python* runs and is CPython *version*."""
    try:
        proc = subprocess.run(
            [python, "-c", _PROBE],
            capture_output=True,
            text=True,
            timeout=20,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return False
    return proc.returncode == 0 and proc.stdout.split() == [version, "cpython"]


def find_python(version: str = "3.12", explicit: Optional[str] = None) -> str:
    """Return the path of a working CPython *version*, or raise RuntimeNotFound."""
    if explicit:
        if probe(explicit, version):
            return explicit
        raise RuntimeNotFound(
            f"{explicit} is not a working CPython {version}",
            where="--python",
            hint=f"pass the path of a CPython {version} interpreter",
        )
    for cand in _candidates(version):
        if (os.path.exists(cand) or os.sep not in cand) and probe(cand, version):
            return cand
    raise RuntimeNotFound(
        f"no working CPython {version} found on this machine",
        hint=(
            f"install CPython {version} (e.g. `pyenv install {version}` or your distribution's "
            f"python{version} package), or pass --python PATH / set IGNITE_PYTHON"
        ),
    )
