"""The ``ignite-pack`` command line: the only package that prints or exits.

``main`` is the click group; ``entry`` runs it as the ``ignite-pack`` console script.
Each module holds one family of commands; :mod:`packager.cli.output` is the
error boundary and :mod:`packager.cli.options` the options they share.
"""

from __future__ import annotations

import atexit
import os
import sys
import tempfile
import threading

import click

from packager import __version__
from packager.cli import build, cache, exit_codes, inspect, run
from packager.cli.output import IgniteGroup
from packager.runtime import children_tmp, on_stop_signals, sweep_stale_tmp


@click.group(cls=IgniteGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="ignite-pack")
def main() -> None:
    """Compile a Python function into a deterministic, deployable artifact."""


for _command in (
    build.build,
    build.lock,
    inspect.inspect,
    inspect.verify,
    inspect.diff,
    inspect.sbom,
    exit_codes.exit_codes,
    run.invoke,
    run.serve,
    cache.cache,
):
    main.add_command(_command)



def entry() -> None:
    """The console script (and ``python -m packager``): ``main``, then a quick exit.

    Tearing the interpreter down (freeing every module and object) takes ~20 ms after the
    work is done and the output written: 3-4% of a cold build. With nothing left running,
    the atexit handlers run and the streams are flushed as usual, then the process ends
    without the teardown. Tests call ``main`` itself.
    """
    on_stop_signals()  # SIGINT/SIGTERM end a build with one line and 130/143 (packager.cli.output)
    # Every temp file of this run (ours and pip's) in one private directory, removed at exit;
    # those of runs that were killed (kill -9) are removed now.
    sweep_stale_tmp()
    tempfile.tempdir = children_tmp()
    try:
        main()
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


__all__ = ["entry", "main"]
