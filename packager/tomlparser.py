"""The TOML parser: tomllib from Python 3.11, tomli (the same parser) before.

Imported where a TOML file is read, never at module import: tomllib is pure Python and its
import (its regular expressions, datetime) was ~3-5 ms of every build, most of which read no
TOML (the built-in profiles have JSON twins, packager.deps.profile).
"""

from __future__ import annotations

import sys

TYPE_CHECKING = False  # (typing's import is ~3 ms of a build that needs it only for mypy)
if TYPE_CHECKING:
    from typing import Any


def parser() -> Any:
    """The ``tomllib`` module (``tomli`` below 3.11): ``loads``, ``TOMLDecodeError`` (a ValueError)."""
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - exercised on 3.9/3.10 hosts
        import tomli as tomllib
    return tomllib
