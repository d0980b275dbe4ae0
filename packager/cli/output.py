"""What the CLI prints: human lines on stderr, one JSON object on stdout, and the error boundary.

One error boundary (:class:`IgniteGroup`) turns every :class:`IgniteError`
into a one-line message with a hint and its own exit code, or into a JSON
object under ``--json``.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from typing import Any

import click

from packager.errors import (
    INTERNAL_ERROR_EXIT,
    IgniteError,
    io_error,
    redact,
    stopped_by,
)
from packager.runtime import Terminated, stop_children

JSON_KEY = "ignite.json"


QUIET_KEY = "ignite.quiet"


ERROR_SCHEMA = "ignite-error/1"


def _use_color(stream: Any) -> bool:
    return "NO_COLOR" not in os.environ and hasattr(stream, "isatty") and stream.isatty()


def _style(text: str, stream: Any = None, **kw: Any) -> str:
    return click.style(text, **kw) if _use_color(stream or sys.stderr) else text


def json_mode() -> bool:
    ctx = click.get_current_context(silent=True)
    return bool(ctx and ctx.meta.get(JSON_KEY))


def quiet_mode() -> bool:
    ctx = click.get_current_context(silent=True)
    return bool(ctx and ctx.meta.get(QUIET_KEY))


def emit_json(obj: dict[str, Any]) -> None:
    click.echo(redact(json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False)))


def info(message: str) -> None:
    """A human line on stderr (never under --json or --quiet)."""
    if not json_mode() and not quiet_mode():
        click.echo(redact(message), err=True)


def progress(stage: str, message: str) -> None:
    info(_style(f"[{stage}]", fg="cyan") + f" {message}")


def warn(message: str) -> None:
    if not json_mode():
        click.echo(_style("warning:", fg="yellow", bold=True) + f" {redact(message)}", err=True)


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
    click.echo(f"{head} {exc}", err=True)
    if exc.hint:
        click.echo(_style("hint:", fg="cyan") + " " + exc.hint, err=True)


class IgniteGroup(click.Group):
    """The one place where errors become messages and exit codes."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
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
        except (click.exceptions.Exit, click.ClickException, click.Abort, SystemExit):
            raise
        except Exception as exc:  # a bug in the packager, not in the input
            if json_mode():
                emit_json({"schema": ERROR_SCHEMA, "ok": False,
                           "error": {"error": "internal", "message": redact(repr(exc)), "where": None, "hint": None,
                                     "exit_code": INTERNAL_ERROR_EXIT}})
            else:
                import traceback  # (only here: ~2 ms of every command's start otherwise)

                click.echo(_style("internal error:", fg="red", bold=True) + f" {redact(repr(exc))}", err=True)
                click.echo(redact(traceback.format_exc()), err=True)
                click.echo("This is a bug in ignite-packager; please report it with the output above.", err=True)
            sys.exit(INTERNAL_ERROR_EXIT)
