"""The ``build`` command's parameters for its commonest words, as click would give them, without click.

``ignite-pack build SOURCE`` with only ``-o``/``--output``, ``-q``/``--quiet``, ``--json``,
``--index-url`` and ``--extra-index-url`` is read here: by the quick build path
(:mod:`packager.cli.quick`, which runs it without importing click) and by what a build starts
before anything is imported (:mod:`packager.prestart`). Anything else is None: click reads it.
tests/test_cli_quick.py checks that :func:`parameters` equals click's parameters for the same
words and environment. Imports nothing of the packager.
"""

from __future__ import annotations

from pathlib import Path

#: typing and collections.abc only for the type checker: this module is imported before uv is started
#: (packager.prestart), and typing's import was ~3 ms of that wait.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
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
#: Options taking one value (a later one wins), and the one that may be repeated (its values add up).
_VALUED = {"-o": "output", "--output": "output", "--index-url": "index_url"}
_REPEATED = {"--extra-index-url": "extra_index_urls"}


def parameters(argv: Sequence[str], environ: Mapping[str, str]) -> Optional[dict[str, Any]]:
    """The build's parameters for ``ignite-pack *argv*``, as click would give them, or None when
    the words or the environment are not the ones read here (module docstring)."""
    if not argv or argv[0] != "build" or any(environ.get(k) for k in CLICK_ONLY_ENVIRONMENT):
        return None
    p = dict(DEFAULTS)
    source: Optional[str] = None
    words = list(argv[1:])
    while words:
        word = words.pop(0)
        name, _, attached = word.partition("=") if word.startswith("--") else (word, "", "")
        if word in _FLAGS:
            p[_FLAGS[word]] = True
        elif name in _VALUED or name in _REPEATED:
            if attached:
                value = attached
            elif word != name or not words or words[0].startswith("-") or not words[0]:
                return None  # (``--output=`` empty, or a value click might read as an option)
            else:
                value = words.pop(0)
            if name in _REPEATED:
                p[_REPEATED[name]] = (*p[_REPEATED[name]], value)
            else:
                p[_VALUED[name]] = Path(value) if _VALUED[name] == "output" else value
        elif word.startswith("-") or source is not None or not word:
            return None
        else:
            source = word
    if source is None:
        return None
    for variable, key in ENVIRONMENT.items():
        if environ.get(variable):  # (click ignores an empty variable)
            p[key] = Path(environ[variable]) if key == "cache_dir" else environ[variable]
    p["source"] = Path(source)
    return p
