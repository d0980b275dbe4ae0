"""The ``ignite-pack`` command line: the only package that prints or exits.

``main`` is the click group (the console entry point ``packager.cli:main``).
Each module holds one family of commands; :mod:`packager.cli.output` is the
error boundary and :mod:`packager.cli.options` the options they share.
"""

from __future__ import annotations

import click

from packager import __version__
from packager.cli import build, exit_codes, inspect, run
from packager.cli.output import IgniteGroup


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
):
    main.add_command(_command)

__all__ = ["main"]
