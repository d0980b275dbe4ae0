"""What a build can start before its command line is parsed: its uv resolution, or uv's look at the interpreter.

A cold build's ``uv pip compile`` used to start ~0.1 s into the run, after the CLI, the
pipeline's modules, packaging's requirement parser (~12 ms of import), the source and its
requirements; in an empty uv cache that run then also started the interpreter it is given to
learn about it (~60-80 ms here). Started here instead, as the build's first act (~35 ms into
the run), uv works on the other core while this process imports and checks. Two things may be
started, never both, only for ``build`` when uv would resolve and its cache directory does not
exist yet (a first build with this cache):

* **The resolution itself** (:func:`speculate`), for the build's commonest shape
  (:func:`packager.buildargs.parameters`: ``build DIR [-o OUT] [-q] [--json] [--index-url URL]
  [--extra-index-url URL]``, no configuration file, no pip setting that uv would miss) of a
  directory whose one dependency file is a requirements.txt of plain lines (``name`` or
  ``name==version``, comments, blank lines), for the default profile: the ``uv pip compile``
  the resolver would run (:func:`packager.uvenv.compile_argv`), with the input files it would
  write, made from the raw text. A guess, never an authority: the resolver takes its answer
  (:func:`adopt`) only when its own command line and input files are the same byte for byte
  (the work directory's path aside); otherwise it is stopped and the resolver runs uv itself.
* Otherwise **uv's look at the interpreter** (``uv python find`` with the same interpreter, cache
  and environment caches the answer the resolution then finds), for a build of any source that
  may declare dependencies. The resolution waits for it (:func:`settle`).

Neither can fail a build: what was not finished uv does again. Like the build's early
resolution, the guess reaches the index before the handler's checks: only for the names of a
regular file of plain lines (the resolver would ask for the same). Imports only the standard
library and the packager's bottom layer, before click.
"""

from __future__ import annotations

import atexit
import os
import signal
import sys
import time
from _thread import allocate_lock
from functools import lru_cache
from pathlib import Path
from stat import S_ISREG

from packager.childenv import private_tmp_prefix

#: typing and collections.abc only for the type checker: this module is imported before uv is started
#: (packager.prestart), and typing's import was ~3 ms of that wait.
TYPE_CHECKING = False
if TYPE_CHECKING:
    import subprocess
    from collections.abc import Callable, Mapping, Sequence
    from typing import Any, Optional

#: Files at a source directory's root that mean a build may resolve (packager.deps.inputs
#: reads locks too, but installs them without resolving).
_DECLARES = ("requirements.txt", "pyproject.toml")
_ARCHIVES = (".zip", ".tar.gz", ".tgz")
_TRUE = ("1", "true", "t", "yes", "y", "on")  # click's BOOL for an envvar flag

#: The dependency files of a source directory's root besides requirements.txt
#: (packager.deps.inputs) and the configuration file: with one of them, no guess at the resolution.
_OTHER_INPUTS = ("pyproject.toml", "ignite.toml", "uv.lock", "requirements.lock", "pylock.toml")
#: What the resolution writes in its work directory besides the lock (packager.uvenv.compile_argv).
_INPUT_FILES = ("requirements.in", "constraints.txt")
#: A guess reaches the index before the upload's checks: only for a file of a plausible size.
_MAX_REQUIREMENTS = 64 * 1024
_MAX_LINES = 200


class _Child:
    """A uv process started here, until it is reaped: its argv, and a resolution's work directory."""

    __slots__ = ("argv", "exit_code", "pid", "work")

    def __init__(self, pid: int, argv: list[str], work: Optional[str]) -> None:
        self.pid, self.argv, self.work = pid, argv, work
        self.exit_code: Optional[int] = None


_started: Optional[_Child] = None


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
    if environ.get("IGNITE_UV"):
        import shutil  # (~4 ms with the bz2 and lzma it imports: only here)

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


def speculate(argv: Sequence[str], environ: Mapping[str, str]) -> Optional[tuple[list[str], Path]]:
    """The resolution to start for ``ignite-pack *argv*`` (module docstring): its uv command line and
    its work directory, made with the input files in it; or None."""
    from packager.buildargs import parameters

    p = parameters(argv, environ)
    if p is None or not sys.executable or not sys.platform.startswith("linux"):
        return None  # (elsewhere pip reads configuration files that _pip_configured does not know)
    wanted_in = _plain_requirements(p["source"])
    uv = _uv_binary(environ)
    root = p["cache_dir"] or _default_root(environ)
    if wanted_in is None or uv is None or root is None or (root / "uv").exists() or _pip_configured(environ):
        return None
    from packager.profilefiles import shipped_stubs_dir
    from packager.uvenv import compile_argv, index_args, uv_platform, wheel_options

    twin = _default_twin()
    if twin is None:
        return None
    try:  # (what packager.deps.uvresolve.uv_resolve asks for, from the profile's twin)
        doc = twin["document"]
        markers, python, pins = doc["markers"], doc["python"], doc["preinstalled"]["pins"]
        options = wheel_options(str(markers.get("python_full_version", python["version"])),
                                uv_platform(str(doc["platform"]["tags"][0]),
                                            str(markers.get("platform_machine", "x86_64"))),
                                index_args(p["index_url"], p["extra_index_urls"]),
                                [str(root / "built"), str(shipped_stubs_dir(str(twin["toml_sha256"])))])
        constraints = "".join(f"{n}=={v}\n" for n, v in sorted(pins.items()))
    except (KeyError, TypeError, IndexError, AttributeError):
        return None
    work = Path(_temp_root(environ)) / f"{private_tmp_prefix()}uv{os.urandom(4).hex()}"
    try:
        (root / "built").mkdir(parents=True, exist_ok=True)  # (uv refuses a --find-links that is missing)
        work.mkdir(mode=0o700)
        (work / "requirements.in").write_text(wanted_in, "utf-8")
        if constraints:
            (work / "constraints.txt").write_text(constraints, "utf-8")
    except OSError:
        _remove(str(work))
        return None
    return compile_argv(uv, work, root / "uv", options, bool(constraints)), work


@lru_cache(maxsize=1)
def _default_twin() -> Optional[dict[str, Any]]:
    """The default profile's twin (packager.profilefiles), read once: the guessed resolution and
    the interpreter's probe both need it."""
    from packager.profilefiles import DEFAULT_PROFILE, profiles_dir, read_twin

    return read_twin(profiles_dir() / f"{DEFAULT_PROFILE}.toml")


def _plain_requirements(source: Path) -> Optional[str]:
    """The resolver's requirements.in for *source* (packager.deps.resolver.requirements_in) when the
    directory's one dependency file is a requirements.txt of plain lines, which the requirement
    parser gives back unchanged; else None."""
    try:
        names = os.listdir(source)
        # (not a symlink, nor a FIFO that would block: opened without following or waiting, then checked)
        fd = os.open(source / "requirements.txt", os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        try:
            st = os.fstat(fd)
            if not S_ISREG(st.st_mode) or st.st_size > _MAX_REQUIREMENTS:
                return None
            text = os.read(fd, _MAX_REQUIREMENTS + 1).decode("utf-8-sig")
        finally:
            os.close(fd)
    except (OSError, UnicodeDecodeError):
        return None
    if any(n in _OTHER_INPUTS or (n.startswith("pylock.") and n.endswith(".toml")) for n in names):
        return None
    slots: list[str] = []
    for no, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if line and not line.startswith("#"):
            if not _plain(line) or len(slots) >= _MAX_LINES:
                return None
            slots += [""] * (no - 1 - len(slots)) + [line]
    return "\n".join(slots) + "\n" if slots else None


def _plain(line: str) -> bool:
    """``name`` or ``name==version`` (ASCII letters, digits and ``.``): what ``str(Requirement(line))`` is."""
    name, pinned, version = line.partition("==")
    return (line.isascii() and name[:1].isalnum() and name[-1:].isalnum()
            and all(c.isalnum() or c in "._-" for c in name)
            and (not pinned or (version[:1].isdigit() and all(c.isalnum() or c == "." for c in version))))


def _default_root(environ: Mapping[str, str]) -> Optional[Path]:
    from packager.cachedir import default_cache_dir

    try:
        return default_cache_dir(environ)
    except (RuntimeError, KeyError):
        return None


def _pip_configured(environ: Mapping[str, str]) -> bool:
    """Whether pip may be configured where uv would not see it: a PIP_* variable or a pip.conf in
    pip's places on Linux (packager.deps.uvresolve.pip_setting_uv_would_miss decides; this guess
    spares its import of pip's appdirs, 7 ms)."""
    from packager.uvenv import pip_variable_uv_would_miss

    if pip_variable_uv_would_miss(environ):
        return True
    named = environ.get("PIP_CONFIG_FILE")
    if named == os.devnull:
        return False
    home = environ.get("HOME") or os.path.expanduser("~")
    places = [os.path.join(d, "pip", "pip.conf") for d in (environ.get("XDG_CONFIG_DIRS") or "/etc/xdg").split(":")]
    places += ["/etc/pip.conf", os.path.join(sys.prefix, "pip.conf"), os.path.join(home, ".pip", "pip.conf"),
               os.path.join(environ.get("XDG_CONFIG_HOME") or os.path.join(home, ".config"), "pip", "pip.conf")]
    return any(os.path.isfile(p) for p in (*places, *([named] if named else [])))


def _temp_root(environ: Mapping[str, str]) -> str:
    """tempfile.gettempdir()'s first choice, without importing tempfile (~3 ms)."""
    return next((environ[k] for k in ("TMPDIR", "TEMP", "TMP") if environ.get(k)), "/tmp")


def begin(argv: Sequence[str]) -> None:
    """Start the build's resolution, or uv's look at the interpreter, if a build will want it (see
    the module's docstring); and the probe of an explicit interpreter (:func:`_begin_probe`).

    With ``os.posix_spawn`` and the environment module alone: importing ``subprocess`` and the
    runtime first (~10 ms) would start it that much later, and it is on a cold build's critical
    path. Where posix_spawn is missing, nothing is started."""
    if not hasattr(os, "posix_spawn"):
        return
    _begin_uv(argv)
    _begin_probe(argv)


def _begin_probe(argv: Sequence[str]) -> None:
    """The probe of ``IGNITE_PYTHON`` (packager.pyprobe), for a build of the commonest shape
    (:func:`packager.buildargs.parameters`) with the default profile, unless an earlier build
    noted that this interpreter passed. PendingPython takes it, or it is stopped at exit."""
    from packager.buildargs import parameters

    p = parameters(argv, os.environ)
    if p is None or not p["python"] or p["profile"] is not None:
        return
    from packager.cachedir import HOST_NOTES
    from packager.pyprobe import start_early

    twin = _default_twin()
    try:
        version = str(twin["document"]["python"]["version"]) if twin is not None else None
    except (KeyError, TypeError):
        version = None
    root = p["cache_dir"] or _default_root(os.environ)
    if version:
        start_early(str(p["python"]), root / HOST_NOTES if root is not None else None, version)


def _begin_uv(argv: Sequence[str]) -> None:
    global _started
    from packager.uvenv import uv_environment

    guess = speculate(argv, os.environ)
    work: Optional[Path] = None
    if guess is not None:
        argv_uv, work = guess
        actions = [(os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0)]
        actions += [(os.POSIX_SPAWN_OPEN, fd, str(work / name), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                    for fd, name in ((1, "stdout"), (2, "stderr"))]
    else:
        found = wanted(argv, os.environ)
        if found is None:
            return
        argv_uv = found
        actions = [(os.POSIX_SPAWN_OPEN, fd, os.devnull, os.O_RDWR, 0) for fd in (0, 1, 2)]
    atexit.register(stop)
    try:  # (noted at once: a signal from here on finds it to stop)
        _started = _Child(os.posix_spawn(argv_uv[0], argv_uv, uv_environment(), file_actions=actions),
                          argv_uv, str(work) if work is not None else None)
    except OSError:
        if work is not None:
            _remove(str(work))


def adopt(argv: Sequence[str], work: Path, cancelled: Callable[[], bool] = lambda: False, timeout: float = 600.0,
          ) -> Optional[tuple[subprocess.CompletedProcess[str], Optional[str]]]:
    """The resolution started here, if it is *argv* run in *work*: its process (once it ended, its
    output as if run there) and the lock it wrote (None if none). Otherwise None, and a resolution
    started here is stopped. While it runs, *cancelled* is asked: a build that is stopping stops it
    and raises packager.runtime.Terminated, as run_child would; after *timeout*, TimeoutExpired."""
    import subprocess

    child = _started
    if child is None or child.work is None:
        return None
    theirs = Path(child.work)
    mine = [a.replace(str(work), child.work) for a in argv]
    if not (mine and os.path.realpath(mine[0]) == os.path.realpath(child.argv[0]) and mine[1:] == child.argv[1:]
            and all(_read(work / n) == _read(theirs / n) for n in _INPUT_FILES)):
        stop()
        return None
    deadline = time.monotonic() + timeout
    while not _ended():
        if cancelled():
            stop()
            from packager.runtime import Terminated

            raise Terminated(signal.SIGTERM)
        if time.monotonic() >= deadline:
            stop()
            raise subprocess.TimeoutExpired(list(argv), timeout)
        time.sleep(0.002)  # (uv's answer is on the critical path: noticed within 2 ms)
    said = [(_read(theirs / name) or b"").decode("utf-8", "replace").replace(child.work, str(work))
            for name in ("stdout", "stderr")]
    lock = _read(theirs / "pylock.toml")
    _remove(child.work)
    code = child.exit_code if child.exit_code is not None else -signal.SIGKILL
    return subprocess.CompletedProcess(list(argv), code, said[0], said[1]), (lock.decode("utf-8") if lock else None)


def _read(path: Path) -> Optional[bytes]:
    try:
        return path.read_bytes()
    except OSError:
        return None


def _remove(path: str) -> None:
    import shutil

    shutil.rmtree(path, ignore_errors=True)


#: Held while the started process is reaped or killed: the early resolution's thread (adopt, settle)
#: and the one stopping the build (atexit, a signal) may both try; a pid is killed only while it is
#: known not to have been reaped (a zombie cannot be reused), and its status is read once.
_lock = allocate_lock()


def _reap(child: _Child, block: bool) -> bool:
    """(Under :data:`_lock`.) Whether *child* has ended; its exit code noted."""
    try:
        pid, status = os.waitpid(child.pid, 0 if block else os.WNOHANG)
    except ChildProcessError:  # (reaped by someone else: no status)
        return True
    if pid == 0:
        return False
    child.exit_code = os.waitstatus_to_exitcode(status)
    return True


def _ended() -> bool:
    """Whether what was started has ended (and is reaped)."""
    global _started
    with _lock:
        if _started is not None and not _reap(_started, block=False):
            return False
        _started = None
        return True


def settle(timeout: float = 5.0) -> None:
    """Before uv runs for the build: let a started look finish (so uv does not look twice), at most
    *timeout* seconds; then it is stopped and uv looks again. (A started resolution was adopted or
    stopped by then: :func:`adopt`.)"""
    deadline = time.monotonic() + timeout
    while not _ended():
        if time.monotonic() >= deadline:
            stop()
            return
        time.sleep(0.002)


def stop() -> None:
    """End what was started if it still runs (the build is over, stopping, or did not want it), and
    remove a resolution's work directory."""
    global _started
    with _lock:
        child, _started = _started, None
        if child is None:
            return
        if not _reap(child, block=False):
            try:
                os.kill(child.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            _reap(child, block=True)
    if child.work is not None:
        _remove(child.work)
