"""Finding the target's interpreter (CPython 3.12, 3.13...) on this host, whether an artifact can
run here, and the environment subprocesses get.

``python3.12`` on PATH may be a pyenv shim that exists but fails, so every
candidate is *run* before it is trusted. An artifact built for another
architecture (an aarch64 build on an x86_64 machine) cannot run here at all: its
vendored extensions would fail deep inside the launcher, so it is refused first.
:func:`clean_env` lives here, below every stage, because the source checks, the
dependency stages and the interpreter probes all start subprocesses with it.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import signal
import sys
import tempfile
import threading
from collections.abc import Callable, Sequence
from functools import cache, wraps
from pathlib import Path

from packager.childenv import PRIVATE_TMP, host_label, private_tmp_prefix, uname
from packager.childenv import clean_env as clean_env  # (where the pipeline imports it from)
from packager.errors import RuntimeNotFound
from packager.pyprobe import PROBE, noted, probe_note, take_early

TYPE_CHECKING = False  # (typing's import is ~3 ms of a build that needs it only for mypy)
if TYPE_CHECKING:  # (subprocess and the selectors it imports: ~2 ms, not needed by a build that starts nothing)
    import subprocess
    from typing import Any, Optional, TypeVar, Union

    F = TypeVar("F", bound=Callable[..., Any])

    #: An interpreter path, or a zero-argument function that finds one only when needed.
    PythonRef = Union[str, None, Callable[[], Optional[str]]]


class Terminated(BaseException):
    """SIGTERM (or SIGHUP) arrived: raised in the main thread, like KeyboardInterrupt for SIGINT, so
    every ``with``/``finally`` on the way out runs (temp dirs, half-written files) and the CLI ends
    with one line and 128 + the signal's number."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


_children: set[subprocess.Popen[str]] = set()
_children_lock = threading.Lock()
_stopping = threading.Event()


def run_child(argv: Sequence[str], *, env: dict[str, str], cwd: Optional[Path] = None,
              timeout: float = 900, tmpdir: Optional[str] = None) -> subprocess.CompletedProcess[str]:
    """``subprocess.run`` (captured text output, no stdin) for the pipeline's tools (pip, uv, build
    backends), remembered while it runs so a stopped build stops it too (:func:`stop_children`).

    Its TMPDIR is this run's private directory, or *tmpdir*: an sdist build keeps its temp files
    inside its own work directory, the one its compiled paths are mapped from (deps.sdistbuild).
    """
    import subprocess

    if _stopping.is_set():
        raise Terminated(signal.SIGTERM)  # the build is stopping: start nothing new
    env = {**env, "TMPDIR": tmpdir or children_tmp()}
    proc = subprocess.Popen(list(argv), stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                            text=True, env=env, cwd=cwd)
    with _children_lock:
        _children.add(proc)
    try:
        out, err = proc.communicate(timeout=timeout)
    except BaseException:
        _stop_tree(proc, grace=0.5)
        raise
    finally:
        with _children_lock:
            _children.discard(proc)
    return subprocess.CompletedProcess(list(argv), proc.returncode, out, err)


@cache
def children_tmp() -> str:
    """The TMPDIR of every tool this process runs: one private directory (``ignite-tmp-<pid>-*``),
    removed at exit, so what a stopped pip or build backend leaves behind goes with it (and what a
    killed build left, when the next command that makes temp files starts: :func:`makes_temp_files`)."""
    import atexit

    path = tempfile.mkdtemp(prefix=private_tmp_prefix())
    atexit.register(shutil.rmtree, path, True)
    return path


#: Set by the console script (:func:`private_tmp_run`); library callers and in-process tests keep
#: tempfile's own directory.
_private_tmp_run: list[bool] = []


def private_tmp_run() -> None:
    """This process is one ``ignite-pack`` run: a command that makes temp files (:func:`makes_temp_files`)
    puts all of them in :func:`children_tmp`."""
    _private_tmp_run.append(True)


@cache
def _enter_private_tmp() -> None:
    sweep_stale_tmp()  # before tempfile is pointed at our own: the platform's TMPDIR is swept
    tempfile.tempdir = children_tmp()


def makes_temp_files(fn: F) -> F:
    """A command whose work makes temp files: in a console run, when its work starts (never for
    ``--help`` or a usage error), what killed runs left in TMPDIR is removed and every temp file
    of this one (ours and its libraries') goes in :func:`children_tmp`."""

    @wraps(fn)
    def run(*args: Any, **kwargs: Any) -> Any:
        if _private_tmp_run:
            _enter_private_tmp()
        return fn(*args, **kwargs)

    return run  # type: ignore[return-value]  # (wraps keeps fn's signature)


def sweep_stale_tmp() -> list[str]:
    """Remove the private temp dirs of this host's builds that were killed (their process is gone)."""
    removed: list[str] = []
    root = tempfile.gettempdir()
    try:
        names = [n for n in os.listdir(root) if n.startswith(PRIVATE_TMP)]
    except OSError:
        return removed
    for name in names:
        pid, host = [*name[len(PRIVATE_TMP):].split("-"), "", ""][:2]
        path = os.path.join(root, name)
        try:
            if not pid.isdigit() or int(pid) == os.getpid() or host != host_label() \
                    or os.stat(path).st_uid != os.geteuid():
                continue
            os.kill(int(pid), 0)
            continue  # still running: its build's
        except ProcessLookupError:
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
        except OSError:
            continue  # another user's process, or gone meanwhile
    return removed


def _descendants(pid: int) -> list[int]:
    """Every process below *pid* (Linux /proc; elsewhere none): a build backend's own pip, say."""
    parents: dict[int, list[int]] = {}
    try:
        names = os.listdir("/proc")
    except OSError:
        return []
    for name in names:
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as fh:
                stat = fh.read().decode("ascii", "replace")
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        parents.setdefault(ppid, []).append(int(name))
    out: list[int] = []
    todo = [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def _stop_tree(proc: subprocess.Popen[str], grace: float) -> None:
    """SIGTERM to *proc* and everything it started, SIGKILL to what is left after *grace* seconds."""
    import subprocess

    if proc.poll() is not None:
        return
    tree = [*_descendants(proc.pid), proc.pid]
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in tree:
            try:
                os.kill(pid, sig)
            except OSError:
                pass
        try:
            proc.wait(grace)
            return
        except subprocess.TimeoutExpired:
            tree = [*_descendants(proc.pid), proc.pid]
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(grace)


def stopping() -> bool:
    """Whether the build is stopping (a signal arrived): start nothing new, stop waiting."""
    return _stopping.is_set()


def stop_children(grace: float = 1.0) -> None:
    """Stop every tool the build runs (its whole process tree) and start no other."""
    _stopping.set()
    with _children_lock:
        procs = list(_children)
    for proc in procs:
        _stop_tree(proc, grace)


def on_stop_signals() -> None:
    """SIGINT raises KeyboardInterrupt and SIGTERM/SIGHUP :class:`Terminated` in the main thread.

    The first signal only: the way out (removing temp files, stopping children, at most a few
    seconds) is not cut short by a second Ctrl-C.
    """
    def stop(signum: int, _frame: Any) -> None:
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.SIG_IGN)
        _stopping.set()
        # At once, from a thread (this handler may have interrupted one holding the children's lock):
        # a thread waiting on a child (the early resolution) is then not waited for long.
        threading.Thread(target=stop_children, name="ignite-stop", daemon=True).start()
        if signum == signal.SIGINT:
            raise KeyboardInterrupt
        raise Terminated(signum)

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, stop)


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


#: ``platform.machine()`` spellings of the same architecture, as manylinux tags name them.
_MACHINES = {"amd64": "x86_64", "x64": "x86_64", "arm64": "aarch64", "armv8": "aarch64"}


def normalize_machine(machine: str) -> str:
    m = machine.lower()
    return _MACHINES.get(m, m)


def host_machine() -> str:
    """This host's architecture, named as the target profiles name theirs (x86_64, aarch64)."""
    return normalize_machine(uname()[1])


def artifact_machine(target: dict[str, Any]) -> str:
    """The architecture an artifact's manifest ``target`` was built for (older manifests: its platform tags)."""
    machine = target.get("machine")
    if isinstance(machine, str) and machine:
        return normalize_machine(machine)
    for tag in target.get("platforms") or ():
        for arch in ("x86_64", "aarch64"):
            if str(tag).endswith(arch):
                return arch
    return "x86_64"


def check_runs_here(target: dict[str, Any], where: str) -> None:
    """Refuse an artifact this host's CPU cannot run (before a launcher starts and crashes on it)."""
    machine, host = artifact_machine(target), host_machine()
    if machine != host:
        raise RuntimeNotFound(
            f"the artifact is built for linux {machine} (target {target.get('profile') or '?'}), "
            f"and this host is {host}: it cannot run here",
            where=where,
            hint=(f"run it on an {machine} machine (or deploy it to the {machine} image); to try the function "
                  f"on this host, build it again for its architecture, {host} (e.g. --profile "
                  f"python{target.get('python') or '3.12'}{'-arm64' if host == 'aarch64' else ''})"),
            details={"artifact_machine": machine, "host_machine": host},
        )


def probe(python: str, version: str) -> bool:
    """True when *python* runs and is CPython *version*."""
    return PendingPython(python, version).ok()


@cache
def optional_python(version: str = "3.12") -> Optional[str]:
    """find_python() that answers None instead of raising; cached for the process."""
    try:
        return find_python(version)
    except RuntimeNotFound:
        return None


def resolve_python(ref: PythonRef) -> Optional[str]:
    return ref() if callable(ref) else ref


def _not_that_python(explicit: str, version: str) -> RuntimeNotFound:
    return RuntimeNotFound(
        f"{explicit} is not a working CPython {version} (the target's Python)",
        where="--python",
        hint=f"pass the path of a CPython {version} interpreter; the target profile decides the version",
    )


class PendingPython:
    """An explicit ``--python`` whose probe runs while the build gets going (an interpreter start,
    ~15 ms, that no longer delays the resolver); calling it waits and gives the path, or raises.

    With *notes* (a directory of the local cache), a probe that passed is noted
    (:meth:`note_to_write`, once the build succeeded) for the very executable file (path, size, mtime, inode) and not
    run again: on a 2-core machine the probe made a no-requirements build ~35 ms slower. Only a
    pass is noted; a script is always probed.
    """

    def __init__(self, python: str, version: str, notes: Optional[Path] = None) -> None:
        self.python, self.version = python, version
        self._ok: Optional[bool] = None
        self._proc: Optional[subprocess.Popen[str]] = None
        self._note = probe_note(notes, python, version) if notes is not None else None
        self._early = take_early(python)  # (started at the build's first step: packager.prestart)
        if noted(self._note):
            self._ok = True
            if self._early is not None:  # (noted meanwhile by another build)
                self._early.abandon()
                self._early = None
            return
        if self._early is not None:
            return
        import subprocess

        try:
            self._proc = subprocess.Popen(
                [python, "-I", "-S", "-c", PROBE], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                stdin=subprocess.DEVNULL, text=True)
        except (OSError, ValueError):
            self._ok = False

    def ok(self) -> bool:
        """Whether it runs and is CPython *version* (waits for the probe, at most 20 s)."""
        if self._ok is None:
            ended = self._early.finish(timeout=20) if self._early is not None else self._communicate()
            self._ok = ended is not None and ended[0] == 0 and ended[1].split() == [self.version, "cpython"]
        return self._ok

    def _communicate(self) -> Optional[tuple[int, str]]:
        """The probe this started: its exit code and output, or None past the deadline (killed)."""
        import subprocess

        assert self._proc is not None
        try:
            out, _ = self._proc.communicate(timeout=20)
        except subprocess.SubprocessError:
            self._proc.kill()
            self._proc.wait()
            return None
        return self._proc.returncode, out

    def note_to_write(self) -> Optional[Path]:
        """Where a probe that ran and passed is to be noted (``ok``); None when it failed, did not
        run, or was read from the note. A build that succeeded writes it (a refused one writes
        nothing): packager.build."""
        ran = self._proc is not None or self._early is not None
        return self._note if self._ok is True and ran else None

    def __call__(self) -> str:
        if not self.ok():
            raise _not_that_python(self.python, self.version)
        return self.python

    def __repr__(self) -> str:
        return f"PendingPython({self.python!r}, {self.version!r})"


def find_python(version: str = "3.12", explicit: Optional[str] = None) -> str:
    """Return the path of a working CPython *version*, or raise RuntimeNotFound."""
    if explicit:
        if probe(explicit, version):
            return explicit
        raise _not_that_python(explicit, version)
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


def image_runtime_dir(profile_digest: str, cache_root: Path) -> Path:
    return cache_root / "runtimes" / profile_digest[:16]


def ensure_image_runtime(
    target_interpreter: str,
    pins: dict[str, str],
    profile_digest: str,
    cache_root: Path,
    progress: Callable[[str, str], None] = lambda s, m: None,
) -> str:
    """A local stand-in for the image: a CPython 3.12 venv with the preinstalled pins.

    Made once per profile (keyed by its digest) under the cache, then reused;
    built in a temp dir and renamed into place so a crash leaves nothing half-made.
    """
    import subprocess

    final = image_runtime_dir(profile_digest, cache_root)
    py = final / "bin" / "python"
    if (final / ".complete").is_file() and py.exists():
        return str(py)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".runtime-", dir=final.parent))
    try:
        progress("runtime", f"creating the local image runtime in {final} (once; {len(pins)} pinned packages)")
        subprocess.run([target_interpreter, "-m", "venv", str(tmp)], check=True, capture_output=True, timeout=300)
        reqs = tmp / "pins.txt"
        reqs.write_text("".join(f"{n}=={v}\n" for n, v in sorted(pins.items())), "utf-8")
        proc = subprocess.run(
            [str(tmp / "bin" / "python"), "-m", "pip", "install", "--no-deps", "--only-binary=:all:",
             "-q", "-r", str(reqs)],
            capture_output=True, text=True, timeout=1800, env=clean_env(), check=False,
        )
        if proc.returncode != 0:
            raise RuntimeNotFound(
                "could not install the image's preinstalled packages into the local runtime",
                where=str(final), hint=proc.stderr.strip()[-1500:] or "check the network and the index settings",
            )
        (tmp / ".complete").write_text("ok\n")
        shutil.rmtree(final, ignore_errors=True)
        os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    # venv scripts record the temp path; the interpreter itself is relocatable enough for `-m`.
    return str(py)
