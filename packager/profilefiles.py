"""Where the built-in target profiles and the files made from them live: names and paths only.

A profile's TOML (``packager/deps/profiles/NAME.toml``) is the source; made from it by
``python -m packager.deps.profiles.generate --twins`` and shipped beside it: its JSON twin
(the document, read instead of parsing TOML) and its metadata stubs (the wheels that stand for
the image's pins in a resolution, :mod:`packager.deps.stubs`), in a directory named by the
TOML's sha256. Kept apart from :mod:`packager.deps.profile` so that what starts before the
command line is imported (:mod:`packager.prestart`) can name them without its imports.
"""

from __future__ import annotations

import json
from pathlib import Path

#: typing and collections.abc only for the type checker: this module is imported before uv is started
#: (packager.prestart), and typing's import was ~3 ms of that wait.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Optional

DEFAULT_PROFILE = "python3.12"

#: Beside each built-in profile: its TOML document as JSON, with the sha256 of the TOML it was
#: made from. tomllib is pure Python: its import (regexes, datetime) and the parse were ~5 ms of
#: every build; the twin is read instead while it matches the TOML byte for byte.
TWIN_SUFFIX = ".json"


def profiles_dir() -> Path:
    """The built-in profiles' directory (package data; importlib.resources would say the same,
    for ~10 ms of import)."""
    return Path(__file__).resolve().parent / "deps" / "profiles"


def shipped_stubs_dir(profile_sha256: str) -> Path:
    """Where the stubs of the profile whose TOML has this sha256 are shipped (if it is built in)."""
    return shipped_stubs_root() / profile_sha256[:16]


def shipped_stubs_root() -> Path:
    return profiles_dir() / "stubs"


def read_twin(path: Path) -> Optional[dict[str, Any]]:
    """The twin of the profile TOML at *path* (``toml_sha256`` and ``document``), unchecked; None
    when it is missing or not a JSON object. Whether it matches the TOML is the caller's to check."""
    try:
        doc = json.loads(path.with_suffix(TWIN_SUFFIX).read_bytes())
    except (OSError, ValueError):
        return None
    if not isinstance(doc, dict) or not isinstance(doc.get("document"), dict):
        return None
    return doc
