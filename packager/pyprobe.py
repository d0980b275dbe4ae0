"""The probe of an explicit interpreter (``--python`` / ``IGNITE_PYTHON``): does it run, and is it
CPython X.Y. Its note in the cache, and its early start.

The probe is an interpreter start (~15-25 ms on the other core). packager.runtime.PendingPython
starts it while the build gets going and waits for it before the source checks, unless an
earlier build noted that this very executable passed (:func:`probe_note`). In an empty cache
(a CI runner's first build) the quick path started it only after its imports, ~30 ms into the
run, and then waited ~10 ms for the answer; :func:`start_early` starts it at the build's first
step instead (packager.prestart), with ``os.posix_spawn`` and a pipe, and PendingPython takes
that run (:func:`take_early`) when it is for the same interpreter. Imports only the standard
library: it runs before the CLI is imported.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Optional

#: Run with -I -S: the version and implementation need no site-packages (a quarter of the start-up).
PROBE = "import sys; print('%d.%d' % sys.version_info[:2], sys.implementation.name)"


def executable_identity(python: str) -> Optional[str]:
    """The native executable *python* runs, as ``realpath:size:mtime_ns:inode``; None for a
    script (a pyenv shim picks its interpreter at each run), a missing file or an odd one."""
    try:
        if os.sep in python:
            found: Optional[str] = python
        else:
            import shutil

            found = shutil.which(python)
        if not found:
            return None
        real = os.path.realpath(found)
        with open(real, "rb") as f:
            magic = f.read(4)
        if magic not in (b"\x7fELF", b"\xcf\xfa\xed\xfe", b"\xca\xfe\xba\xbe"):  # ELF, Mach-O (64-bit, fat)
            return None
        st = os.stat(real)
    except (OSError, ValueError):
        return None
    return f"{real}:{st.st_size}:{st.st_mtime_ns}:{st.st_ino}"


def probe_note(notes: Path, python: str, version: str) -> Optional[Path]:
    """Where a passed probe of *python* for *version* is noted; None for no native executable."""
    identity = executable_identity(python)
    if identity is None:
        return None
    import hashlib

    return notes / f"python-{hashlib.sha256(f'{identity} {version}'.encode()).hexdigest()[:32]}"


def noted(note: Optional[Path]) -> bool:
    """Whether *note* says an earlier probe passed."""
    if note is None:
        return False
    try:
        return note.read_text("ascii") == "ok"
    except (OSError, ValueError):
        return False


class EarlyProbe:
    """A probe started by :func:`start_early`: its process and the read end of its stdout.

    Every probe started stays in :data:`_live` until it is finished or abandoned, taken or
    not: :func:`stop_early` (at exit, or on a signal during the imports) ends what is left,
    so a build that fails before it asks for the answer leaves no process behind.
    """

    __slots__ = ("fd", "pid", "python")

    def __init__(self, python: str, pid: int, fd: int) -> None:
        self.python, self.pid, self.fd = python, pid, fd

    def finish(self, timeout: float) -> Optional[tuple[int, str]]:
        """Its exit code and output once it ended; None when it ran past *timeout* seconds (killed)."""
        import select
        import time

        deadline = time.monotonic() + timeout
        out = bytearray()
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.fd], [], [], left)[0]:
                self.abandon()
                return None
            chunk = os.read(self.fd, 4096)
            if not chunk:
                break
            out += chunk
        self._close()
        while True:  # (its stdout is closed; a process that lives on after that is still bounded)
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() >= deadline:
                self.abandon()
                return None
            time.sleep(0.001)
        _live.discard(self)
        return os.waitstatus_to_exitcode(status), out.decode("utf-8", "replace")

    def abandon(self) -> None:
        """Stop it if it still runs, reap it, close its pipe (once: the number may be reused)."""
        _live.discard(self)
        try:
            os.kill(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        try:
            os.waitpid(self.pid, 0)
        except ChildProcessError:  # (reaped already)
            pass
        self._close()

    def _close(self) -> None:
        if self.fd >= 0:
            _close(self.fd)
            self.fd = -1


def _close(fd: int) -> None:
    try:
        os.close(fd)
    except OSError:
        pass


_early: Optional[EarlyProbe] = None
#: Probes started and not yet finished or abandoned (see :class:`EarlyProbe`).
_live: set[EarlyProbe] = set()


def start_early(python: str, notes: Optional[Path], version: str) -> None:
    """Start the probe of *python* now, unless *notes* say it passed for *version* (see the module
    docstring). Nothing is started where ``os.posix_spawn`` is missing or the start fails: then
    PendingPython starts it itself."""
    global _early
    if _early is not None or not hasattr(os, "posix_spawn"):
        return
    if notes is not None and noted(probe_note(notes, python, version)):
        return
    import atexit
    import shutil

    found = python if os.sep in python else shutil.which(python)
    if not found:
        return
    read, write = os.pipe()
    actions = [(os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0), (os.POSIX_SPAWN_DUP2, write, 1),
               (os.POSIX_SPAWN_OPEN, 2, os.devnull, os.O_WRONLY, 0)]
    try:
        pid = os.posix_spawn(found, [python, "-I", "-S", "-c", PROBE], dict(os.environ), file_actions=actions)
    except OSError:
        _close(read)
        return
    finally:
        _close(write)
    _early = EarlyProbe(python, pid, read)
    _live.add(_early)
    atexit.register(stop_early)


def take_early(python: str) -> Optional[EarlyProbe]:
    """The probe :func:`start_early` started for *python* (now the caller's to finish), or None."""
    global _early
    if _early is None or _early.python != python:
        return None
    taken, _early = _early, None
    return taken


def stop_early() -> None:
    """Stop every probe started early that is not finished (nobody took it, or the build ended
    before it asked for the answer)."""
    global _early
    _early = None
    for left in list(_live):
        left.abandon()
