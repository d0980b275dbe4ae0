"""What a build can start before its command line is parsed: uv's look at the interpreter.

Before its first resolution in an empty uv cache, uv runs the interpreter it is given
(``--python``) to learn its markers, tags and paths, and caches the answer: a Python start
plus imports, ~60-70 ms here, which ``uv pip compile`` spent on the critical path of every
cold build, after ~0.1 s of our own start-up (click, the pipeline's modules, the source and
its requirements). ``uv python find`` with the same interpreter, cache and environment
caches the same answer; started here, on the other core, it runs while this process imports
the CLI, and the resolution finds the answer cached (a cold S1 build: ~0.43 -> ~0.37 s).

Only a guess, never an authority: started only for ``build`` of a source that may declare
dependencies (a directory with a requirements.txt or a pyproject.toml, or an archive), when
uv would be used and its cache directory does not exist yet. It reads no file of the
source, passes uv nothing of it, touches no network (``UV_PYTHON_DOWNLOADS=never``, no
index) and cannot fail a build: the resolution waits for it (:func:`settle`), and whatever
it did not finish uv does again. Its argv and environment are the resolution's own
(:func:`packager.uvenv.uv_environment`), so the cache entry is the one
the resolution looks up.

Imports only the standard library, and is imported before click.
"""

from __future__ import annotations

import atexit
import os
import signal
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Optional

#: Files at a source directory's root that mean a build may resolve (packager.deps.inputs
#: reads locks too, but installs them without resolving).
_DECLARES = ("requirements.txt", "pyproject.toml")
_ARCHIVES = (".zip", ".tar.gz", ".tgz")
_TRUE = ("1", "true", "t", "yes", "y", "on")  # click's BOOL for an envvar flag

#: the pid of the started ``uv python find``, until it is reaped
_started: Optional[int] = None


def uv_cache_dir(argv: Sequence[str], environ: Mapping[str, str]) -> Optional[Path]:
    """The uv cache a build with *argv* uses: ``<ignite cache>/uv``, the cache being ``--cache-dir``
    or :func:`packager.cachedir.default_cache_dir`; None without a home directory to put it in
    (the build then says so, or uses no cache)."""
    from packager.cachedir import default_cache_dir

    root: Optional[str] = None
    for i, arg in enumerate(argv):
        if arg == "--cache-dir" and i + 1 < len(argv):
            root = argv[i + 1]
        elif arg.startswith("--cache-dir="):
            root = arg.split("=", 1)[1]
    if root:
        return Path(root) / "uv"
    try:
        return default_cache_dir(environ) / "uv"
    except (RuntimeError, KeyError):
        return None


def _may_resolve(arg: str) -> bool:
    """Whether the command-line word *arg* names a source that may declare dependencies.

    Every word but ``-o``'s value is tried (other options' values included): which words are
    options' values is click's to say, and a wrong guess costs one uv run on the other core,
    nothing else."""
    if arg.endswith(_ARCHIVES):
        return os.path.isfile(arg)
    if not os.path.isdir(arg) or os.path.isfile(os.path.join(arg, "ignite.toml")):
        return False  # (a configuration file may name another cache or resolver: no guess)
    found = [name for name in _DECLARES if os.path.isfile(os.path.join(arg, name))]
    if "pyproject.toml" in found:
        try:
            with open(os.path.join(arg, "pyproject.toml"), "rb") as f:
                if b"[tool.ignite" in f.read(1 << 20):
                    return False
        except OSError:
            return False
    return bool(found)


def _uv_binary(environ: Mapping[str, str]) -> Optional[str]:
    """The uv a build would use (packager.deps.uvresolve.find_uv), found without importing uv's
    package: ``IGNITE_UV``, else the uv installed beside this interpreter (a venv's bin/)."""
    import shutil

    if environ.get("IGNITE_UV"):
        return shutil.which(environ["IGNITE_UV"])
    beside = os.path.join(os.path.dirname(sys.executable), "uv")
    return beside if os.access(beside, os.X_OK) else None


def wanted(argv: Sequence[str], environ: Mapping[str, str]) -> Optional[list[str]]:
    """The ``uv python find`` to start for ``ignite-pack *argv*``, or None."""
    if not argv or argv[0] != "build" or any(a in ("-h", "--help", "--offline", "--no-config") for a in argv):
        return None
    if environ.get("IGNITE_OFFLINE", "").lower() in _TRUE or environ.get("IGNITE_RESOLVER") == "pip":
        return None
    if "pip" in (argv[i + 1] for i, a in enumerate(argv[:-1]) if a == "--resolver") or "--resolver=pip" in argv:
        return None
    outputs = {i + 1 for i, a in enumerate(argv) if a in ("-o", "--output")}  # (an earlier artifact is no source)
    if not any(_may_resolve(a) for i, a in enumerate(argv) if i > 0 and i not in outputs and not a.startswith("-")):
        return None
    uv = _uv_binary(environ)
    cache = uv_cache_dir(argv, environ)
    if uv is None or cache is None or not sys.executable:
        return None
    if cache.exists():
        return None  # uv ran here before: its answer about this interpreter is cached
    return [uv, "python", "find", "--no-config", "--cache-dir", str(cache), sys.executable]


def begin(argv: Sequence[str]) -> None:
    """Start uv's look at the interpreter if a build will want it (see the module's docstring).

    With ``os.posix_spawn`` and the environment module alone: importing ``subprocess`` and the
    runtime first (~10 ms) would start it that much later, and it is on a cold build's critical
    path (the resolution waits for it). Where posix_spawn is missing, nothing is started."""
    global _started
    argv_uv = wanted(argv, os.environ)
    if argv_uv is None or not hasattr(os, "posix_spawn"):
        return
    from packager.uvenv import uv_environment

    quiet = [(os.POSIX_SPAWN_OPEN, fd, os.devnull, os.O_RDWR, 0) for fd in (0, 1, 2)]
    try:
        _started = os.posix_spawn(argv_uv[0], argv_uv, uv_environment(), file_actions=quiet)
    except OSError:
        return
    atexit.register(stop)


def _ended(wait: bool = False) -> bool:
    """Whether the started look has ended (and is reaped); with *wait*, until it has."""
    global _started
    if _started is None:
        return True
    try:
        pid, _status = os.waitpid(_started, 0 if wait else os.WNOHANG)
    except ChildProcessError:  # (reaped already)
        pid = _started
    if pid == 0:
        return False
    _started = None
    return True


def settle(timeout: float = 5.0) -> None:
    """Before uv runs for the build: let a started look finish (so uv does not look twice), at most
    *timeout* seconds; then it is stopped and uv looks again."""
    deadline = time.monotonic() + timeout
    while not _ended():
        if time.monotonic() >= deadline:
            stop()
            return
        time.sleep(0.002)


def stop() -> None:
    """End a look still running (the build is over or stopping)."""
    if _started is not None and not _ended():
        try:
            os.kill(_started, signal.SIGKILL)
        except ProcessLookupError:
            pass
        _ended(wait=True)
