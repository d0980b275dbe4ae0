"""Where the build cache lives: one definition for the cache (:mod:`packager.cache`) and for
what starts before the command line is imported (:mod:`packager.prestart`), which must name
the same directory without paying the cache module's imports."""

from __future__ import annotations

import os
from pathlib import Path

#: typing and collections.abc only for the type checker: this module is imported before uv is started
#: (packager.prestart), and typing's import was ~3 ms of that wait.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Optional

#: Notes on this host under the cache, never shared: the deflate probe's verdict per zlib file,
#: the --python probe's per executable (packager.artifact.deflate, packager.pyprobe).
HOST_NOTES = "host"


def default_cache_dir(environ: Optional[Mapping[str, str]] = None) -> Path:
    """``IGNITE_CACHE_DIR``, else ``$XDG_CACHE_HOME/ignite-packager``, else ``~/.cache/ignite-packager``
    (HOME, else the password database). Raises RuntimeError or KeyError without a home directory."""
    env = os.environ if environ is None else environ
    if env.get("IGNITE_CACHE_DIR"):
        return Path(env["IGNITE_CACHE_DIR"])
    base = env.get("XDG_CACHE_HOME") or str((Path(env["HOME"]) if env.get("HOME") else Path.home()) / ".cache")
    return Path(base) / "ignite-packager"
