"""The ``ignite-pack`` command line: the only package that prints or exits.

``main`` is the click group; ``entry`` runs it as the ``ignite-pack`` console script.
Each module holds one family of commands; :mod:`packager.cli.output` is the
error boundary and :mod:`packager.cli.options` the options they share.
"""

from __future__ import annotations

import atexit
import importlib
import os
import sys
import threading
from typing import Optional

import click

from packager import __version__
from packager.cli.output import IgniteGroup
from packager.runtime import on_stop_signals, private_tmp_run

#: Every command: its name -> (module under packager.cli, attribute), in the order they were
#: registered. A command's module is imported only when that command runs (or --help lists
#: them): ``build`` does not pay for inspect/run/dev/cache's imports (click's LazyGroup pattern).
COMMANDS: dict[str, tuple[str, str]] = {
    "build": ("build", "build"),
    "lock": ("build", "lock"),
    "inspect": ("inspect", "inspect"),
    "verify": ("inspect", "verify"),
    "diff": ("inspect", "diff"),
    "sbom": ("inspect", "sbom"),
    "exit-codes": ("exit_codes", "exit_codes"),
    "invoke": ("run", "invoke"),
    "serve": ("run", "serve"),
    "cache": ("cache", "cache"),
}


class LazyGroup(IgniteGroup):
    """The top-level group: commands are imported by name, on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*COMMANDS, *self.commands})

    def get_command(self, ctx: click.Context, cmd_name: str) -> Optional[click.Command]:
        if cmd_name not in self.commands and cmd_name in COMMANDS:
            module, attr = COMMANDS[cmd_name]
            command = getattr(importlib.import_module(f"packager.cli.{module}"), attr)
            self.add_command(command, cmd_name)
        return self.commands.get(cmd_name)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="ignite-pack")
def main() -> None:
    """Compile a Python function into a deterministic, deployable artifact."""


def entry() -> None:
    """The console script (and ``python -m packager``): ``main``, then a quick exit.

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
