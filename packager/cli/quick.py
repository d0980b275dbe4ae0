"""``ignite-pack build SOURCE [-o OUT] [-q] [--json]`` without importing click.

click's import (its ``inspect``, ``uuid``/``platform``, ``datetime``, ``gettext``: ~25 ms
here) and the making of the build command's ~35 options are the largest part of what a
build without requirements spends over the interpreter's start, and they come before a
cold build's resolver can start. The commonest invocation, what CI's compile step and the
README run, is recognized here and run with the parameters click would give it:

* the words are ``build``, one SOURCE, and only ``-o``/``--output`` (with a value not
  starting with ``-``), ``-q``/``--quiet`` and ``--json``;
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
from typing import Any, Optional

#: The build command's parameters when no option is given (click's defaults; the test above
#: compares them with the click command's, so an option added there must be added here).
DEFAULTS: dict[str, Any] = {
    "as_json": False, "cache_dir": None, "cache_push": True, "cache_url": None, "compile": False,
    "config_file": None, "convention": "ignite", "entry": None, "extra_index_urls": (), "groups": (),
    "index_url": None, "init": None, "init_params": (), "lambda_payload": None, "level": 4, "lock": None,
    "max_size": None, "no_config": False, "offline": False, "output": Path("artifact.tar.gz"), "profile": None,
    "provenance": None, "python": None, "quiet": False, "refresh": False, "requirements": None,
    "resolver": "auto", "sbom": None, "sbom_format": "cyclonedx-json", "slim": False, "slim_drop": (),
    "slim_keep": (), "strict_requirements": False, "vendor_anyway": (), "wheelhouses": (),
}

#: The build command's environment variables (click's ``envvar=``); the first two are read here.
ENVIRONMENT = {"IGNITE_CACHE_DIR": "cache_dir", "IGNITE_PYTHON": "python"}
#: The others: when one is set, click reads it (its type's conversion) and the quick path steps aside.
CLICK_ONLY_ENVIRONMENT = ("IGNITE_INDEX_URL", "IGNITE_OFFLINE", "IGNITE_CACHE_URL", "IGNITE_CACHE_PUSH",
                          "IGNITE_RESOLVER")

_FLAGS = {"-q": "quiet", "--quiet": "quiet", "--json": "as_json"}


def parameters(argv: Sequence[str], environ: Mapping[str, str]) -> Optional[dict[str, Any]]:
    """The build's parameters for ``ignite-pack *argv*``, as click would give them, or None when
    the words or the environment are not the quick path's (module docstring)."""
    if not argv or argv[0] != "build" or any(environ.get(k) for k in CLICK_ONLY_ENVIRONMENT):
        return None
    p = dict(DEFAULTS)
    source: Optional[str] = None
    words = list(argv[1:])
    while words:
        word = words.pop(0)
        if word in _FLAGS:
            p[_FLAGS[word]] = True
        elif word in ("-o", "--output"):
            if not words or words[0].startswith("-") or not words[0]:
                return None
            p["output"] = Path(words.pop(0))
        elif word.startswith("--output=") and len(word) > len("--output="):
            p["output"] = Path(word.split("=", 1)[1])
        elif word.startswith("-") or source is not None or not word:
            return None
        else:
            source = word
    if source is None:
        return None
    for variable, name in ENVIRONMENT.items():
        if environ.get(variable):  # (click ignores an empty variable)
            p[name] = Path(environ[variable]) if name == "cache_dir" else environ[variable]
    p["source"] = Path(source)
    return p


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
