"""The click group: ``ignite-pack``'s commands, each imported by name when it runs.

Every command runs under the one error boundary (:func:`packager.cli.output.guarded`).
"""

from __future__ import annotations

import importlib
from typing import Any, Optional

import click

from packager import __version__
from packager.cli.output import guarded, set_modes

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


class IgniteGroup(click.Group):
    """A group whose commands run under the error boundary."""

    def invoke(self, ctx: click.Context) -> Any:
        set_modes(json=False, quiet=False)  # (a command's --json/--quiet set them as they are parsed)
        return guarded(lambda: super(IgniteGroup, self).invoke(ctx),
                       passthrough=(click.exceptions.Exit, click.ClickException, click.Abort))


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
