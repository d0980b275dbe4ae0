"""How an sdist is built into a wheel: which interpreter, and an environment that makes the wheel reproducible.

- **The target's CPython compiles.** A C extension built by the host's interpreter is built
  against the host's headers (``include/python3.11``) and may not even compile there; when the
  host is not the target's version, the target's CPython (``packager.runtime``) runs ``build``
  itself. ``build`` and, for offline builds without isolation, the packager's own setuptools
  and wheel are lent to it on ``PYTHONPATH`` (pure Python; a target interpreter rarely has them).
- **Reproducible output.** The work directory is random (``ignite-sdist-XXXX``) and ends up in
  compiled files (``__FILE__``, DWARF ``DW_AT_comp_dir`` and file names): it is mapped to
  :data:`BUILD_ROOT` with ``-ffile-prefix-map`` (GCC >= 8, clang >= 10), temporary files
  (``build``'s isolated environments) are made inside it, and ``SOURCE_DATE_EPOCH`` and
  ``PYTHONHASHSEED`` are fixed. Two builds of one sdist in two directories give the same wheel.
"""

from __future__ import annotations

import subprocess
import sys
import sysconfig
from functools import lru_cache
from pathlib import Path
from typing import Optional

#: What the random work directory is called inside compiled files.
BUILD_ROOT = "/ignite-build"

#: Pure-Python packages lent to a target interpreter: ``build`` and what it imports, and for
#: offline builds (no isolation, nothing fetched) the setuptools backend too.
_BUILD_TOOLS = ("build", "pyproject_hooks", "packaging")
_BACKEND_TOOLS = ("setuptools", "wheel")


@lru_cache(maxsize=1)
def _map_option() -> str:
    """``-ffile-prefix-map`` when the C compiler takes it (GCC >= 8, clang >= 10), else the older
    ``-fdebug-prefix-map`` (debug information only); none without a compiler."""
    cc = (sysconfig.get_config_var("CC") or "cc").split()
    for option in ("-ffile-prefix-map", "-fdebug-prefix-map"):
        try:
            proc = subprocess.run([*cc, f"{option}=/a=/b", "-fsyntax-only", "-x", "c", "-"], input="int x;\n",
                                  capture_output=True, text=True, timeout=30, check=False)
        except (OSError, subprocess.SubprocessError):
            return ""
        if proc.returncode == 0:
            return option
    return ""


def reproducible_env(work: Path) -> dict[str, str]:
    """Environment for the build backend: the work dir mapped away, temp files inside it."""
    tmp = work / "tmp"
    tmp.mkdir(exist_ok=True)
    option = _map_option()
    mapping = f"{option}={work}={BUILD_ROOT}" if option else ""
    return {
        "CFLAGS": mapping, "CXXFLAGS": mapping,
        "TMPDIR": str(tmp),
        "PYTHONHASHSEED": "0",
    }


def lend_tools(work: Path, offline: bool) -> Path:
    """A directory of links to this environment's build tools (packages and their ``.dist-info``,
    whose entry points register setuptools' commands), for a target interpreter's PYTHONPATH."""
    import importlib.metadata  # (~10 ms of import: only when an sdist is built)

    lent = work / "tools"
    lent.mkdir(exist_ok=True)
    for dist_name in _BUILD_TOOLS + (_BACKEND_TOOLS if offline else ()):
        try:
            dist = importlib.metadata.distribution(dist_name)
        except importlib.metadata.PackageNotFoundError:
            continue
        tops = {f.parts[0] for f in dist.files or () if f.parts and not f.parts[0].startswith("..")
                and not f.parts[0].endswith((".pth", ".data")) and f.parts[0] != "__pycache__"}
        for top in sorted(tops):
            path = Path(str(dist.locate_file(top)))
            link = lent / top
            if path.exists() and not link.exists():
                link.symlink_to(path, target_is_directory=path.is_dir())
    return lent


def include_dir(python: str) -> str:
    """Where *python*'s C headers are (``sysconfig``'s ``include``), for error messages."""
    if python == sys.executable:
        return sysconfig.get_paths()["include"]
    try:
        proc = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['include'])"],
                              capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL, check=False)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return proc.stdout.strip() or "unknown"


def describe(python: str, version: Optional[str] = None) -> str:
    """``CPython 3.12 (/usr/bin/python3.12, headers /usr/include/python3.12)``."""
    label = version or "{}.{}".format(*sys.version_info[:2])
    return f"CPython {label} ({python}, headers {include_dir(python)})"
