"""What the CLI prints: human lines on stderr, one JSON object on stdout, and the error boundary.

One error boundary (:func:`guarded`, which the click group and the quick ``build`` path both
run the command under) turns every :class:`IgniteError` into a one-line message with a hint
and its own exit code, or into a JSON object under ``--json``. Nothing here imports click:
the quick path (packager.cli.quick) prints through it without paying click's import.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from collections.abc import Callable

from packager.errors import (
    INTERNAL_ERROR_EXIT,
    IgniteError,
    io_error,
    redact,
    stopped_by,
)
from packager.runtime import Terminated, stop_children

TYPE_CHECKING = False  # (typing's import is ~3 ms of a build that needs it only for mypy)
if TYPE_CHECKING:
    from typing import Any, TypeVar

    T = TypeVar("T")

ERROR_SCHEMA = "ignite-error/1"


class _Modes:
    """``--json`` / ``--quiet`` of the command being run: one command per process (the group
    resets them for each; their options set them as soon as they are parsed), and the same
    for every thread of it."""

    json = False
    quiet = False


def set_modes(*, json: bool | None = None, quiet: bool | None = None) -> None:
    if json is not None:
        _Modes.json = json
    if quiet is not None:
        _Modes.quiet = quiet


def json_mode() -> bool:
    return _Modes.json


def quiet_mode() -> bool:
    return _Modes.quiet


def _use_color(stream: Any) -> bool:
    return "NO_COLOR" not in os.environ and hasattr(stream, "isatty") and stream.isatty()


#: SGR codes of the colours used (what click.style writes: colour, then bold, then the text and a reset)
_FG = {"red": 31, "green": 32, "yellow": 33, "cyan": 36}


def _style(text: str, stream: Any = None, fg: str | None = None, bold: bool = False) -> str:
    if not _use_color(stream or sys.stderr):
        return text
    codes = (f"\x1b[{_FG[fg]}m" if fg else "") + ("\x1b[1m" if bold else "")
    return f"{codes}{text}\x1b[0m"


def echo(text: str, err: bool = False) -> None:
    """One line on stdout (or stderr), flushed at once, as click.echo writes it."""
    stream = sys.stderr if err else sys.stdout
    if stream is None:  # (no console at all, e.g. pythonw)
        return
    stream.write(text + "\n")
    stream.flush()


def emit_json(obj: dict[str, Any]) -> None:
    echo(redact(json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False)))


def info(message: str) -> None:
    """A human line on stderr (never under --json or --quiet)."""
    if not json_mode() and not quiet_mode():
        echo(redact(message), err=True)


def progress(stage: str, message: str) -> None:
    info(_style(f"[{stage}]", fg="cyan") + f" {message}")


def warn(message: str) -> None:
    if not json_mode():
        echo(_style("warning:", fg="yellow", bold=True) + f" {redact(message)}", err=True)


def human_size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"  # pragma: no cover


def stopped(signum: int, grace: float = 3.0) -> None:
    """A signal stopped the command: stop its children, let its threads clean up (bounded)."""
    stop_children()
    deadline = time.monotonic() + grace
    for thread in threading.enumerate():
        if thread is not threading.main_thread():
            thread.join(max(0.0, deadline - time.monotonic()))


def report_error(exc: IgniteError) -> None:
    if json_mode():
        emit_json({"schema": ERROR_SCHEMA, "ok": False, "error": exc.to_dict()})
        return
    head = _style("error:", fg="red", bold=True)
    echo(f"{head} {exc}", err=True)
    if exc.hint:
        echo(_style("hint:", fg="cyan") + " " + exc.hint, err=True)


def guarded(command: Callable[[], T], passthrough: tuple[type[BaseException], ...] = ()) -> T:
    """Run *command*: the one place where errors become messages and exit codes (``sys.exit``).
    *passthrough*: exceptions of the caller's own (click's usage errors) that it reports itself."""
    try:
        return command()
    except IgniteError as exc:
        report_error(exc)
        sys.exit(exc.exit_code)
    except (KeyboardInterrupt, Terminated) as stop:
        signum = stop.signum if isinstance(stop, Terminated) else signal.SIGINT
        stopped(signum)
        report_error(stopped_by(signum))
        sys.exit(128 + signum)
    except OSError as exc:  # an OSError no stage classified: still the path, the words, the fix
        error = io_error(exc)
        report_error(error)
        sys.exit(error.exit_code)
    except Exception as exc:  # a bug in the packager, not in the input (or the caller's own)
        if isinstance(exc, passthrough):
            raise
        if json_mode():
            emit_json({"schema": ERROR_SCHEMA, "ok": False,
                       "error": {"error": "internal", "message": redact(repr(exc)), "where": None, "hint": None,
                                 "exit_code": INTERNAL_ERROR_EXIT}})
        else:
            import traceback  # (only here: ~2 ms of every command's start otherwise)

            echo(_style("internal error:", fg="red", bold=True) + f" {redact(repr(exc))}", err=True)
            echo(redact(traceback.format_exc()), err=True)
            echo("This is a bug in ignite-packager; please report it with the output above.", err=True)
        sys.exit(INTERNAL_ERROR_EXIT)
