"""The ``ignite-pack`` command line: the only package that prints or exits.

``main`` (:mod:`packager.cli.group`) is the click group; ``entry`` runs it as the
``ignite-pack`` console script, after the quick path of the commonest ``build``
(:mod:`packager.cli.quick`) passed. Each module holds one family of commands;
:mod:`packager.cli.output` prints and is the error boundary, :mod:`packager.cli.options`
the options they share. Nothing in this module imports click.
"""

from __future__ import annotations

import atexit
import os
import sys
import threading
from collections.abc import Callable

from packager.runtime import on_stop_signals, private_tmp_run

TYPE_CHECKING = False  # (typing's import is ~3 ms of a build that needs it only for mypy)
if TYPE_CHECKING:
    from typing import Any, NoReturn


def run_console(command: Callable[[], object]) -> NoReturn:
    """Run *command* as the console script: then a quick exit.

    Tearing the interpreter down (freeing every module and object) takes ~20 ms after the
    work is done and the output written: 3-4% of a cold build. With nothing left running,
    the atexit handlers run and the streams are flushed as usual, then the process ends
    without the teardown. Tests call ``main`` itself.
    """
    on_stop_signals()  # SIGINT/SIGTERM end a build with one line and 130/143 (packager.cli.output)
    # Every temp file of this run (ours and pip's) in one private directory, removed at exit, made
    # when a command that makes temp files starts; those of runs that were killed (kill -9) are
    # removed then (packager.runtime.makes_temp_files). --help makes and removes nothing.
    private_tmp_run()
    try:
        command()
        code: str | int | None = 0
    except SystemExit as exc:
        code = exc.code
    if not isinstance(code, int) or threading.active_count() > 1:
        sys.exit(code)  # the usual exit: a message to print, or threads to wait for
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            code = code or 120  # what the interpreter itself returns when the final flush fails
    os._exit(code)


def entry(argv: list[str] | None = None) -> NoReturn:
    """The console script (and ``python -m packager``): the quick build path, else click's ``main``."""
    args = sys.argv[1:] if argv is None else argv
    from packager.cli.quick import quick_build

    run_console(quick_build(args) or (lambda: _click_main(args)))


def _click_main(args: list[str]) -> None:
    from packager.cli.group import main

    main(args)


def __getattr__(name: str) -> Any:
    """``main``, ``COMMANDS``, ``LazyGroup`` from :mod:`packager.cli.group` (click), on first use."""
    if name in ("main", "COMMANDS", "LazyGroup", "IgniteGroup"):
        from packager.cli import group

        return getattr(group, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["entry", "main", "run_console"]
