"""``ignite-pack build SOURCE [-o OUT] [-q] [--json] [--index-url URL]`` without importing click.

click's import (its ``inspect``, ``uuid``/``platform``, ``datetime``, ``gettext``: ~25 ms
here) and the making of the build command's ~35 options are the largest part of what a
build without requirements spends over the interpreter's start, and they come before a
cold build's resolver can start. The commonest invocation, what CI's compile step and the
README run, is recognized here and run with the parameters click would give it:

* the words are ``build``, one SOURCE, and only ``-o``/``--output``, ``--index-url`` and
  ``--extra-index-url`` (each with a value not starting with ``-``), ``-q``/``--quiet`` and
  ``--json`` (:func:`packager.buildargs.parameters` reads them);
* no configuration file applies to SOURCE (packager.config.find_config);
* of the build's environment variables only ``IGNITE_CACHE_DIR`` and ``IGNITE_PYTHON`` are set.

Anything else (another option, ``--help``, ``--``, a configuration file, another variable)
goes to click, which stays the one definition of the command: tests/test_cli_quick.py
checks that :func:`parameters` equals click's parameters for the same words and environment,
and that both paths write the same output.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from packager.buildargs import CLICK_ONLY_ENVIRONMENT, DEFAULTS, ENVIRONMENT, parameters

TYPE_CHECKING = False  # (typing's import is ~3 ms of a build that needs it only for mypy)
if TYPE_CHECKING:
    from typing import Optional

__all__ = ["CLICK_ONLY_ENVIRONMENT", "DEFAULTS", "ENVIRONMENT", "parameters", "quick_build"]

def quick_build(argv: Sequence[str], environ: Optional[Mapping[str, str]] = None) -> Optional[Callable[[], None]]:
    """The build to run for *argv* without click, or None (then click parses *argv*)."""
    p = parameters(argv, os.environ if environ is None else environ)
    if p is None:
        return None
    from packager.config import find_config

    source: Path = p["source"]
    try:
        if find_config(source) is not None:
            return None  # its values apply where no flag was given: click's ParameterSource decides
    except Exception:  # (an unreadable one is reported by click's path, as always)
        return None

    def run() -> None:
        from packager.cli.buildrun import build_command
        from packager.cli.output import guarded, set_modes
        from packager.runtime import makes_temp_files

        set_modes(json=p["as_json"], quiet=p["quiet"])
        guarded(makes_temp_files(lambda: build_command(p, source, None)))

    return run
